"""The review queue: matches with decision `review` wait for an analyst, who confirms them
(they go into the site's next notice) or rejects them (the URL + hash is suppressed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notices.clock import Clock
from notices.coverage import (
    covered_clause,
    in_live_item_clause,
    match_ids_where,
    removed_since_found_clause,
    suppressed_clause,
)
from notices.errors import ReviewAlreadyDecided, ReviewNotFound
from notices.policy import audit
from records.models import Match, Review, Site, Suppression


@dataclass(frozen=True)
class ReviewEntry:
    match_id: int
    site_id: int
    site_name: str
    image_url: str
    page_url: str | None
    list_name: str
    category: str
    algorithm: str
    distance: int
    label: str
    created_at: datetime


# What a confirmation led to (the match's new status), and how to say it to the analyst.
QUEUED, ALREADY_NOTIFIED, ALREADY_REMOVED = "reviewed_confirmed", "in_notice", "removed"
CONFIRM_OUTCOMES = {
    QUEUED: "it goes into the site's next notice",
    ALREADY_NOTIFIED: "its URL is already in a live notice, so nothing new is sent",
    ALREADY_REMOVED: "the image was removed after it was found, so nothing is sent",
}


def _waiting_for_review():
    """Matches with decision `review` waiting for an analyst.

    Suppressed ones are left out, and so are covered ones (see `notices.coverage`): a URL
    already in a live notice item, or one whose item was removed after this match was
    found, needs no decision."""
    return (Match.decision == "review", Match.status == "new", ~suppressed_clause(),
            ~covered_clause())


def review_queue_depth(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Match)
                          .where(*_waiting_for_review())) or 0


def review_queue(session: Session, *, site_id: int | None = None,
                 limit: int = 1000) -> list[ReviewEntry]:
    """The review queue, oldest first (see `_waiting_for_review`)."""
    query = (
        select(Match, Site.name).join(Site, Site.id == Match.site_id)
        .where(*_waiting_for_review())
        .order_by(Match.id).limit(limit)
    )
    if site_id is not None:
        query = query.where(Match.site_id == site_id)
    return [
        ReviewEntry(
            match_id=m.id, site_id=m.site_id, site_name=name, image_url=m.image_url,
            page_url=m.page_url, list_name=m.list_name, category=m.category,
            algorithm=m.algorithm, distance=m.distance, label=m.label, created_at=m.created_at,
        )
        for m, name in session.execute(query)
    ]


def _pending_review(session: Session, match_id: int) -> Match:
    match = session.get(Match, match_id)
    if match is None or match.decision != "review":
        raise ReviewNotFound(match_id)
    if match.status != "new":
        raise ReviewAlreadyDecided(match_id, match.status)
    return match


def confirm_review(session: Session, match_id: int, *, by: str, note: str = "",
                   clock: Clock) -> str:
    """The analyst confirms: the match goes into its site's next notice.

    Unless it is covered: its URL is already in a live notice (ALREADY_NOTIFIED) or was
    removed after the match was found (ALREADY_REMOVED). The decision is recorded either way;
    the return value says which of QUEUED / ALREADY_NOTIFIED / ALREADY_REMOVED happened."""
    now = clock.now()
    match = _pending_review(session, match_id)
    session.add(Review(match_id=match.id, decision="confirm", note=note, by=by, at=now))
    if match_ids_where(session, [match.id], in_live_item_clause()):
        match.status = ALREADY_NOTIFIED
    elif match_ids_where(session, [match.id], removed_since_found_clause()):
        match.status = ALREADY_REMOVED
    else:
        match.status = QUEUED
    match.updated_at = now
    audit(session, now, by, "review.confirm", f"match:{match.id}", note=note,
          outcome=match.status)
    session.flush()
    return match.status


def reject_review(session: Session, match_id: int, *, by: str, note: str = "",
                  clock: Clock) -> None:
    """The analyst rejects: the reason is recorded and this URL + hash is suppressed."""
    now = clock.now()
    match = _pending_review(session, match_id)
    review = Review(match_id=match.id, decision="reject", note=note, by=by, at=now)
    session.add(review)
    session.flush()
    if not match_ids_where(session, [match.id], suppressed_clause()):
        session.add(Suppression(
            image_url=match.image_url, image_url_key=match.image_url_key,
            list_name=match.list_name, algorithm=match.algorithm,
            entry_hash=match.entry_hash, review_id=review.id, created_at=now,
        ))
    match.status = "reviewed_rejected"
    match.updated_at = now
    audit(session, now, by, "review.reject", f"match:{match.id}", note=note)
    session.flush()
