"""Review decisions and entry feedback in the database: the rows `notices.review` decides
over, handed out as dataclasses (the policy of who may decide what lives in notices).

One analyst's decision about an image is one `reviews` row per pending match it covered;
a list entry rejected as a false positive is one `entry_feedback` row per rejecting analyst.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, aliased

from spinneret.records.db import Database
from spinneret.records.matched_images import same_image, status_label
from spinneret.records.models import EntryFeedback, Match, Review, SeenImage, Suppression
from spinneret.records.types import ImageReview


@dataclass(frozen=True)
class PendingMatch:
    """A match of the image that waits for a decision (decision review, status new)."""

    id: int
    image_url: str
    image_url_key: str
    list_name: str
    algorithm: str
    entry_hash: str
    label: str
    source_id: str


@dataclass(frozen=True)
class ReviewState:
    """An image's review matches: the pending ones and the decisions already taken about
    them (one per analyst, oldest first). `last_status` is the label of the newest review
    match (what to say when nothing is pending); None when the image has no review match."""

    image_id: int
    pending: tuple[PendingMatch, ...]
    decisions: tuple[ImageReview, ...]
    last_status: str | None

    def by(self, decision: str) -> list[str]:
        return [d.by for d in self.decisions if d.decision == decision]


@dataclass(frozen=True)
class FeedbackRecord:
    """A list entry an analyst rejected as a false positive."""

    id: int
    list_name: str
    algorithm: str
    entry_hash: str
    source_id: str
    label: str
    image_url: str
    match_id: int | None
    by: str
    note: str
    at: datetime


FEEDBACK_FIELDS = ("list_name", "algorithm", "entry_hash", "source_id", "label", "image_url",
                   "by", "note", "at")


def _auto_match_of_same_image() -> ColumnElement[bool]:
    """The image also has an automatic match on a block list that is (or will be) in a
    notice: it goes out anyway, so there is nothing to decide."""
    other = aliased(Match)
    return exists().where(
        other.image_url_key == Match.image_url_key, other.sha256 == Match.sha256,
        other.decision == "auto", other.list_kind == "block",
        other.status.in_(("new", "in_notice")))


def waiting_conditions(excluding: Iterable[ColumnElement[bool]] = ()
                       ) -> tuple[ColumnElement[bool], ...]:
    """Matches waiting for a decision (review, new, no automatic match of the same image),
    less those `excluding` names (the notices' coverage rules: suppressed, covered)."""
    return (Match.decision == "review", Match.status == "new",
            *(~clause for clause in excluding), ~_auto_match_of_same_image())


def of_site(site_id: int | None) -> tuple[ColumnElement[bool], ...]:
    return () if site_id is None else (Match.site_id == site_id,)


def _pending(row: Match) -> PendingMatch:
    return PendingMatch(id=row.id, image_url=row.image_url, image_url_key=row.image_url_key,
                        list_name=row.list_name, algorithm=row.algorithm,
                        entry_hash=row.entry_hash, label=row.label, source_id=row.source_id)


def _decisions(rows: Iterable[Review]) -> tuple[ImageReview, ...]:
    """One decision per analyst (a decision is recorded once per match it covered)."""
    seen: dict[str, ImageReview] = {}
    for row in rows:
        seen.setdefault(row.by, ImageReview(decision=row.decision, note=row.note, by=row.by,
                                            at=row.at))
    return tuple(seen.values())


class ReviewRecords:
    """Review work inside the caller's transaction (a notices operation's session)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def state(self, image_id: int) -> ReviewState:
        rows = list(self._session.scalars(
            select(Match).join(SeenImage, same_image())
            .where(SeenImage.id == image_id, Match.decision == "review").order_by(Match.id)))
        pending = [row for row in rows if row.status == "new"]
        return ReviewState(
            image_id=image_id, pending=tuple(_pending(r) for r in pending),
            decisions=self._decided([r.id for r in pending]),
            last_status=status_label(rows[-1].status, "review") if rows else None)

    def decisions_of(self, pending_by_image: dict[int, Sequence[int]]
                     ) -> dict[int, tuple[ImageReview, ...]]:
        """For the queue: each image's decisions so far about its pending match ids."""
        image_of = {mid: image for image, ids in pending_by_image.items() for mid in ids}
        if not image_of:
            return {}
        rows: dict[int, list[Review]] = {}
        for row in self._session.scalars(
                select(Review).where(Review.match_id.in_(list(image_of)))
                .order_by(Review.at, Review.id)):
            rows.setdefault(image_of[row.match_id], []).append(row)
        return {image: _decisions(found) for image, found in rows.items()}

    def pending_ids(self, image_ids: Sequence[int]) -> dict[int, list[int]]:
        """Each image's pending review match ids."""
        if not image_ids:
            return {}
        found: dict[int, list[int]] = {}
        for image_id, match_id in self._session.execute(
                select(SeenImage.id, Match.id).join(SeenImage, same_image())
                .where(SeenImage.id.in_(list(image_ids)), Match.decision == "review",
                       Match.status == "new")):
            found.setdefault(image_id, []).append(match_id)
        return found

    def _decided(self, match_ids: Sequence[int]) -> tuple[ImageReview, ...]:
        if not match_ids:
            return ()
        return _decisions(self._session.scalars(
            select(Review).where(Review.match_id.in_(list(match_ids)))
            .order_by(Review.at, Review.id)))

    def record(self, matches: Sequence[PendingMatch], *, decision: str, by: str, note: str,
               at: datetime) -> dict[int, int]:
        """One review row per match; returns review id by match id."""
        rows = {m.id: Review(match_id=m.id, decision=decision, note=note, by=by, at=at)
                for m in matches}
        self._session.add_all(rows.values())
        self._session.flush()
        return {match_id: row.id for match_id, row in rows.items()}

    def set_status(self, statuses: dict[int, str], at: datetime) -> None:
        for match_id, status in statuses.items():
            row = self._session.get(Match, match_id)
            row.status = status
            row.updated_at = at

    def suppress(self, match: PendingMatch, review_id: int, at: datetime) -> None:
        self._session.add(Suppression(
            image_url=match.image_url, image_url_key=match.image_url_key,
            list_name=match.list_name, algorithm=match.algorithm,
            entry_hash=match.entry_hash, review_id=review_id, created_at=at))

    def add_feedback(self, match: PendingMatch, *, by: str, note: str, at: datetime) -> None:
        self._session.add(EntryFeedback(
            list_name=match.list_name, algorithm=match.algorithm,
            entry_hash=match.entry_hash, source_id=match.source_id, label=match.label,
            match_id=match.id, image_url=match.image_url, by=by, note=note, at=at))

    def flush(self) -> None:
        self._session.flush()


def _feedback(row: EntryFeedback) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id, list_name=row.list_name, algorithm=row.algorithm,
        entry_hash=row.entry_hash, source_id=row.source_id, label=row.label,
        image_url=row.image_url, match_id=row.match_id, by=row.by, note=row.note, at=row.at)


class FeedbackRepository:
    """The false positives recorded against a list's entries, for export to its authority."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def for_list(self, list_name: str) -> list[FeedbackRecord]:
        """Oldest first."""
        with self._db.session(readonly=True) as session:
            return [_feedback(row) for row in session.scalars(
                select(EntryFeedback).where(EntryFeedback.list_name == list_name)
                .order_by(EntryFeedback.at, EntryFeedback.id))]


def feedback_json(record: FeedbackRecord) -> dict:
    return {"list_name": record.list_name, "algorithm": record.algorithm,
            "entry_hash": record.entry_hash, "source_id": record.source_id,
            "label": record.label, "image_url": record.image_url, "by": record.by,
            "note": record.note, "at": record.at.isoformat()}
