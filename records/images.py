"""Recording what a crawl saw: hashed images (with their matches) and skipped ones.

Recording is idempotent: the same image URL + SHA-256 in the same crawl is recorded once,
even when a task is retried or two processes race. The UNIQUE key of `image_events`
decides (INSERT ... ON CONFLICT DO NOTHING); whoever loses records nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spinneret.records.db import Database
from spinneret.records.errors import InvalidImageRecord
from spinneret.records.image_hashes import insert_hashes
from spinneret.records.models import MATCH_DECISIONS, ImageEvent, Match, SeenImage, Suppression
from spinneret.records.sqltypes import url_key, utcnow
from spinneret.records.states import ImageEventStatus, MatchStatus
from spinneret.records.types import (
    ImageEventRecord,
    MatchRecordInput,
    SeenImageRecord,
    StoredHash,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _insert(session: Session, model: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _check_sha256(sha256: str) -> str:
    value = (sha256 or "").strip().lower()
    if not _SHA256.match(value):
        raise InvalidImageRecord(f"sha256 {sha256!r} is not 64 hexadecimal digits")
    return value


def _check_decisions(matches: Sequence[MatchRecordInput]) -> None:
    for match in matches:
        if match.decision not in MATCH_DECISIONS:
            raise InvalidImageRecord(f"match decision {match.decision!r} is not auto/review")


def _insert_matches(
    session: Session, crawl_id: int | None, site_id: int, image_url: str, key: str,
    page_url: str | None, sha256: str, matches: Sequence[MatchRecordInput],
) -> None:
    """Matches of an image URL + list entry an analyst rejected before are stored as
    "suppressed" so they are never noticed again."""
    now = utcnow()
    suppressed = {
        tuple(row) for row in session.execute(
            select(Suppression.list_name, Suppression.algorithm, Suppression.entry_hash)
            .where(Suppression.image_url_key == key)
        )
    }
    rows = [
        dict(
            crawl_id=crawl_id, site_id=site_id, image_url=image_url,
            image_url_key=key, page_url=page_url, sha256=sha256,
            list_name=m.list_name, list_kind=m.list_kind, category=m.category,
            source=m.source, algorithm=m.algorithm, entry_hash=m.entry_hash,
            query_hash=m.query_hash, distance=m.distance, label=m.label,
            source_id=m.source_id, decision=m.decision,
            status=(MatchStatus.SUPPRESSED if (m.list_name, m.algorithm, m.entry_hash)
                    in suppressed else MatchStatus.NEW).value,
            created_at=now, updated_at=now,
        )
        for m in matches
    ]
    session.execute(_insert(session, Match).values(rows).on_conflict_do_nothing())


class ImageRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record_image(
        self, crawl_id: int, site_id: int, page_url: str | None, image_url: str, sha256: str,
        width: int | None = None, height: int | None = None, format: str | None = None,
        matches: Sequence[MatchRecordInput] = (),
        hashes: Sequence[StoredHash] = (),
    ) -> bool:
        """Record a hashed image, its sighting, its hashes (kept per content for
        retro-match) and its matches in one transaction.

        Returns False (and changes nothing) if this crawl already recorded this URL + hash.
        Matches of an image URL + list entry an analyst rejected before are stored as
        "suppressed" so they are never noticed again.
        """
        sha256 = _check_sha256(sha256)
        _check_decisions(matches)
        key = url_key(image_url)
        with self._db.session() as session:
            if not self._claim(session, crawl_id, site_id, key, image_url, sha256, page_url,
                               ImageEventStatus.HASHED.value, None):
                return False
            now = utcnow()
            upsert = _insert(session, SeenImage).values(
                url=image_url, url_key=key, sha256=sha256, site_id=site_id, first_seen=now,
                last_seen=now, last_crawl_id=crawl_id, page_url=page_url, width=width,
                height=height, format=format,
            )
            session.execute(upsert.on_conflict_do_update(
                index_elements=["url_key", "sha256"],
                set_={
                    "last_seen": upsert.excluded.last_seen,
                    "last_crawl_id": upsert.excluded.last_crawl_id,
                    "page_url": upsert.excluded.page_url, "site_id": upsert.excluded.site_id,
                    "width": upsert.excluded.width, "height": upsert.excluded.height,
                    "format": upsert.excluded.format,
                },
            ))
            insert_hashes(session, sha256, hashes)
            if matches:
                _insert_matches(session, crawl_id, site_id, image_url, key, page_url, sha256,
                                matches)
        return True

    def record_retro_matches(
        self, site_id: int, page_url: str | None, image_url: str, sha256: str,
        matches: Sequence[MatchRecordInput],
    ) -> int:
        """Record matches found for an image seen before (retro-match: no crawl, so
        `crawl_id` is NULL), through the same path as a crawl's: `auto` ones become notices,
        `review` ones review items, rejected ones stay suppressed. An image + list entry
        with a match already (from a crawl or an earlier retro-match) is skipped; returns
        how many were recorded."""
        sha256 = _check_sha256(sha256)
        _check_decisions(matches)
        key = url_key(image_url)
        with self._db.session() as session:
            known = {
                tuple(row) for row in session.execute(
                    select(Match.list_name, Match.algorithm, Match.entry_hash)
                    .where(Match.image_url_key == key, Match.sha256 == sha256))
            }
            fresh = [m for m in matches
                     if (m.list_name, m.algorithm, m.entry_hash) not in known]
            if fresh:
                _insert_matches(session, None, site_id, image_url, key, page_url, sha256,
                                fresh)
        return len(fresh)

    def record_skipped(
        self, crawl_id: int, site_id: int, page_url: str | None, image_url: str, reason: str,
        sha256: str = "",
    ) -> bool:
        """Record why an image was not hashed. False if this crawl already recorded it."""
        if not reason or not reason.strip():
            raise InvalidImageRecord("a skipped image needs a reason")
        sha256 = _check_sha256(sha256) if sha256 else ""
        with self._db.session() as session:
            return self._claim(session, crawl_id, site_id, url_key(image_url), image_url,
                               sha256, page_url, ImageEventStatus.SKIPPED.value,
                               reason.strip())

    def _claim(
        self, session: Session, crawl_id: int, site_id: int, key: str, url: str, sha256: str,
        page_url: str | None, status: str, reason: str | None,
    ) -> bool:
        statement = (
            _insert(session, ImageEvent)
            .values(crawl_id=crawl_id, site_id=site_id, url=url, url_key=key, sha256=sha256,
                    page_url=page_url, status=status, skip_reason=reason, recorded_at=utcnow())
            .on_conflict_do_nothing(index_elements=["crawl_id", "url_key", "sha256"])
            .returning(ImageEvent.id)
        )
        try:
            return session.execute(statement).scalar_one_or_none() is not None
        except IntegrityError as exc:
            # Not the duplicate case (that is DO NOTHING): a missing crawl or site.
            raise InvalidImageRecord(
                f"cannot record image for crawl {crawl_id} / site {site_id}: "
                f"{str(exc.orig).splitlines()[0]}"
            ) from None

    def seen(self, image_url: str, sha256: str) -> SeenImageRecord | None:
        with self._db.session(readonly=True) as session:
            row = session.scalars(select(SeenImage).where(
                SeenImage.url_key == url_key(image_url), SeenImage.sha256 == sha256.lower()
            )).one_or_none()
            if row is None:
                return None
            return SeenImageRecord(
                id=row.id, url=row.url, sha256=row.sha256, site_id=row.site_id,
                first_seen=row.first_seen, last_seen=row.last_seen,
                last_crawl_id=row.last_crawl_id, page_url=row.page_url, width=row.width,
                height=row.height, format=row.format,
            )

    def recorded_among(self, crawl_id: int, urls: Iterable[str]) -> set[str]:
        """Which of `urls` this crawl has a record for (hashed or skipped).

        Asked by URL, not by "ids after the last one seen": on PostgreSQL, concurrent
        writers commit ids out of order, so an id watermark would skip records.
        """
        by_key = {url_key(url): url for url in urls}
        found: set[str] = set()
        keys = list(by_key)
        with self._db.session(readonly=True) as session:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                rows = session.execute(
                    select(ImageEvent.url_key)
                    .where(ImageEvent.crawl_id == crawl_id, ImageEvent.url_key.in_(chunk))
                )
                found.update(by_key[key] for (key,) in rows)
        return found

    def events(self, crawl_id: int) -> list[ImageEventRecord]:
        with self._db.session(readonly=True) as session:
            rows = session.scalars(
                select(ImageEvent).where(ImageEvent.crawl_id == crawl_id).order_by(ImageEvent.id)
            )
            return [
                ImageEventRecord(
                    id=r.id, crawl_id=r.crawl_id, site_id=r.site_id, url=r.url, sha256=r.sha256,
                    page_url=r.page_url, status=r.status, skip_reason=r.skip_reason,
                    recorded_at=r.recorded_at,
                )
                for r in rows
            ]
