"""Matches read per crawled image: one `MatchedImage` per image (URL + content SHA-256, the
`images_seen` row, whose id names it) with every list entry it matched as its evidence.

A crawl records one `matches` row per image x list entry x algorithm, and every re-crawl
records them again; an analyst decides about an image, so the UI, the CLI and the review
queue count and show images. Rows of the same list entry and algorithm found by several
crawls are one piece of evidence (the closest, then the latest, is kept).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from spinneret.records.db import Database
from spinneret.records.errors import ImageNotFound, RecordsError
from spinneret.records.models import (
    MATCH_DECISIONS,
    Match,
    Notice,
    NoticeItem,
    Review,
    SeenImage,
    Site,
)
from spinneret.records.types import Evidence, ImageNoticeItem, ImageReview, MatchedImage

# What each match status means, in the words the UI and the CLI show.
STATUS_LABELS = {
    "new": "new",
    "in_notice": "in a notice",
    "reviewed_confirmed": "confirmed, goes into the next notice",
    "reviewed_rejected": "rejected in review",
    "suppressed": "suppressed (rejected before)",
    "removed": "already removed",
}


def same_image():
    """The join condition of a match and the `images_seen` row of its image."""
    return and_(SeenImage.url_key == Match.image_url_key, SeenImage.sha256 == Match.sha256)


def status_label(status: str, decision: str) -> str:
    if status == "new":
        return "goes into the next notice" if decision == "auto" else "waiting for review"
    return STATUS_LABELS.get(status, status)


def image_state(evidence: Sequence[Evidence]) -> str:
    """One line for an image: what happened to it, judged from its evidence (the furthest
    along first: a notice, then a pending step, then a closing decision)."""
    order = [("in_notice", None), ("reviewed_confirmed", None), ("new", "auto"),
             ("new", "review"), ("removed", None), ("reviewed_rejected", None),
             ("suppressed", None)]
    seen = {(e.status, e.decision) for e in evidence} | {(e.status, None) for e in evidence}
    for status, decision in order:
        if (status, decision) in seen:
            return status_label(status, decision or "")
    return ""


def parse_day(name: str, value: str | None) -> date | None:
    """A `YYYY-MM-DD` filter value (None or "" = no filter); RecordsError if it is not one."""
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise RecordsError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


@dataclass(frozen=True)
class ImageFilter:
    """Which images to list. An image is listed when one of its matches passes the match
    filters (site, crawl, list, found between since and until); `decision` is the image's own
    (`auto` when any list entry decided auto, else `review`)."""

    site_id: int | None = None
    crawl_id: int | None = None
    list_name: str | None = None
    decision: str | None = None
    since: date | None = None  # found on or after this day (UTC)
    until: date | None = None  # found on or before this day (UTC)

    def match_conditions(self) -> list[ColumnElement[bool]]:
        if self.decision is not None and self.decision not in MATCH_DECISIONS:
            raise RecordsError(f"unknown decision {self.decision!r} (auto or review)")
        if self.since and self.until and self.since > self.until:
            raise RecordsError(f"the date range is empty: {self.since} is after {self.until}")
        conditions: list[ColumnElement[bool]] = []
        if self.site_id is not None:
            conditions.append(Match.site_id == self.site_id)
        if self.crawl_id is not None:
            conditions.append(Match.crawl_id == self.crawl_id)
        if self.list_name:
            conditions.append(Match.list_name == self.list_name)
        if self.since is not None:
            conditions.append(Match.created_at >= day_start(self.since))
        if self.until is not None:
            conditions.append(Match.created_at < day_start(self.until + timedelta(days=1)))
        return conditions


def _has_auto():
    return func.max(case((Match.decision == "auto", 1), else_=0))


def matched_image_ids(session: Session, conditions: Iterable[ColumnElement[bool]] = (),
                      *, decision: str | None = None, limit: int | None = None,
                      offset: int = 0) -> tuple[int, list[int]]:
    """(how many images, the ids of one page of them), the most recently found first."""
    grouped = (select(SeenImage.id.label("image_id"), func.max(Match.id).label("last"))
               .join(SeenImage, same_image()).where(*conditions).group_by(SeenImage.id))
    if decision is not None:
        grouped = grouped.having(_has_auto() == (1 if decision == "auto" else 0))
    images = grouped.subquery()
    total = session.scalar(select(func.count()).select_from(images)) or 0
    page = select(images.c.image_id).order_by(images.c.last.desc(), images.c.image_id.desc())
    if limit is not None:
        page = page.limit(limit).offset(offset)
    return total, list(session.scalars(page))


def _evidence(rows: Iterable[Match]) -> tuple[Evidence, ...]:
    """One piece per list entry + algorithm: the closest, then the latest, sighting."""
    best: dict[tuple[str, str, str], tuple[Match, int]] = {}
    for row in rows:
        key = (row.list_name, row.algorithm, row.entry_hash)
        kept = best.get(key)
        if kept is None:
            best[key] = (row, 1)
        elif (row.distance, -row.id) < (kept[0].distance, -kept[0].id):
            best[key] = (row, kept[1] + 1)
        else:
            best[key] = (kept[0], kept[1] + 1)
    pieces = [
        Evidence(
            match_id=m.id, list_name=m.list_name, list_kind=m.list_kind, category=m.category,
            source=m.source, algorithm=m.algorithm, entry_hash=m.entry_hash,
            image_hash=m.query_hash, distance=m.distance, label=m.label,
            source_id=m.source_id, decision=m.decision, status=m.status,
            status_label=status_label(m.status, m.decision), found_at=m.created_at,
            crawl_id=m.crawl_id, sightings=count,
        )
        for m, count in best.values()
    ]
    return tuple(sorted(pieces, key=lambda e: (e.decision != "auto", e.distance, e.list_name,
                                               e.algorithm)))


def load_images(session: Session, image_ids: Sequence[int], *,
                with_notice_items: bool = False) -> list[MatchedImage]:
    """The images with these ids, in this order, with all their evidence."""
    if not image_ids:
        return []
    rows = session.execute(
        select(SeenImage.id, Match, Site.name).join(SeenImage, same_image())
        .join(Site, Site.id == Match.site_id)
        .where(SeenImage.id.in_(image_ids)).order_by(Match.id))
    by_image: dict[int, list[Match]] = {}
    site_names: dict[int, str] = {}
    for image_id, match, site_name in rows:
        by_image.setdefault(image_id, []).append(match)
        site_names[image_id] = site_name
    items = _notice_items(session, by_image) if with_notice_items else {}
    reviews = _reviews(session, by_image) if with_notice_items else {}
    out = []
    for image_id in image_ids:
        matches = by_image.get(image_id)
        if not matches:
            continue
        latest = matches[-1]
        evidence = _evidence(matches)
        out.append(MatchedImage(
            id=image_id, site_id=latest.site_id, site_name=site_names[image_id],
            image_url=latest.image_url, page_url=latest.page_url, sha256=latest.sha256,
            first_found=min(m.created_at for m in matches),
            last_found=max(m.created_at for m in matches),
            decision="auto" if any(e.decision == "auto" for e in evidence) else "review",
            state=image_state(evidence), evidence=evidence,
            crawls=len({m.crawl_id for m in matches}),
            notice_items=items.get(image_id, ()), reviews=reviews.get(image_id, ()),
        ))
    return out


def _notice_items(session: Session, by_image: dict[int, list[Match]]
                  ) -> dict[int, tuple[ImageNoticeItem, ...]]:
    """The notice items that name each image's URL on its site."""
    out: dict[int, tuple[ImageNoticeItem, ...]] = {}
    for image_id, matches in by_image.items():
        rows = session.execute(
            select(NoticeItem, Notice.reference).join(Notice, Notice.id == NoticeItem.notice_id)
            .where(Notice.site_id == matches[-1].site_id,
                   NoticeItem.image_url == matches[-1].image_url)
            .order_by(NoticeItem.id))
        out[image_id] = tuple(
            ImageNoticeItem(notice_id=item.notice_id, notice_reference=reference,
                            reference=item.reference_id, status=item.status,
                            removed_at=item.removed_at, list_name=item.list_name)
            for item, reference in rows)
    return out


def _reviews(session: Session, by_image: dict[int, list[Match]]
             ) -> dict[int, tuple[ImageReview, ...]]:
    """Each image's review decisions, once each (one is recorded per match it covered)."""
    image_of = {m.id: image_id for image_id, matches in by_image.items() for m in matches}
    found: dict[int, dict[tuple, ImageReview]] = {}
    rows = session.scalars(select(Review).where(Review.match_id.in_(list(image_of)))
                           .order_by(Review.at, Review.id))
    for row in rows:
        review = ImageReview(decision=row.decision, note=row.note, by=row.by, at=row.at)
        found.setdefault(image_of[row.match_id], {})[
            (review.decision, review.note, review.by, review.at)] = review
    return {image_id: tuple(decisions.values()) for image_id, decisions in found.items()}


@dataclass(frozen=True)
class ImagePage:
    total: int
    limit: int
    offset: int
    images: list[MatchedImage]


class MatchedImageRepository:
    """Matched images for the matches page, `spinneret matches` and the API."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def list(self, filters: ImageFilter = ImageFilter(), *, limit: int = 50,
             offset: int = 0) -> ImagePage:
        conditions = filters.match_conditions()
        with self._db.session(readonly=True) as session:
            total, ids = matched_image_ids(session, conditions, decision=filters.decision,
                                           limit=limit, offset=offset)
            return ImagePage(total, limit, offset, load_images(session, ids))

    def list_names(self) -> list[str]:
        """Every list name a recorded match carries (for the matches page's filter)."""
        with self._db.session(readonly=True) as session:
            return list(session.scalars(select(Match.list_name).distinct()
                                        .order_by(Match.list_name)))

    def get(self, image_id: int) -> MatchedImage:
        with self._db.session(readonly=True) as session:
            found = load_images(session, [image_id], with_notice_items=True)
        if not found:
            raise ImageNotFound(image_id)
        return found[0]


def count_images(session: Session, conditions: Iterable[ColumnElement[bool]] = ()
                 ) -> tuple[int, int]:
    """(distinct images, distinct image URLs) among the matches meeting `conditions`."""
    row = session.execute(
        select(func.count(func.distinct(SeenImage.id)),
               func.count(func.distinct(Match.image_url_key)))
        .select_from(Match).join(SeenImage, same_image()).where(*conditions)).one()
    return int(row[0] or 0), int(row[1] or 0)


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    return dataclasses.asdict(evidence)


IMAGE_FIELDS = ("id", "site", "site_id", "image_url", "page_url", "sha256", "list", "category",
                "algorithm", "distance", "label", "found_at", "last_found_at", "decision",
                "state", "entries", "crawls", "evidence", "notice_items", "reviews")


def image_json(image: MatchedImage) -> dict[str, Any]:
    """A matched image (or review item) as JSON-ready values. `list`, `category`,
    `algorithm`, `distance` and `label` are its closest piece of evidence (the fields a
    review entry had when it was one match); `evidence` holds every list entry."""
    best = image.best
    return {
        "id": image.id, "site": image.site_name, "site_id": image.site_id,
        "image_url": image.image_url, "page_url": image.page_url, "sha256": image.sha256,
        "list": best.list_name, "category": best.category, "algorithm": best.algorithm,
        "distance": best.distance, "label": best.label, "found_at": image.first_found,
        "last_found_at": image.last_found, "decision": image.decision, "state": image.state,
        "entries": len(image.evidence), "crawls": image.crawls,
        "evidence": [evidence_json(e) for e in image.evidence],
        "notice_items": [dataclasses.asdict(i) for i in image.notice_items],
        "reviews": [dataclasses.asdict(r) for r in image.reviews],
    }
