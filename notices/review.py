"""The review queue: one item per crawled image whose matches wait for an analyst (decision
`review`). The analyst confirms it (its matches go into the site's next notice) or rejects
it, with a note saying why (each URL + list entry is suppressed). The item's id is the
image's (`records.matched_images`), and the item carries every list entry it matched.

One rule for notes everywhere (CLI, API, UI): a rejection needs a note, a confirmation may
have one."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from spinneret.notices.clock import Clock
from spinneret.notices.coverage import (
    covered_clause,
    in_live_item_clause,
    match_ids_where,
    removed_since_found_clause,
    suppressed_clause,
)
from spinneret.notices.errors import ReviewAlreadyDecided, ReviewNoteRequired, ReviewNotFound
from spinneret.notices.policy import audit
from spinneret.records.matched_images import (
    count_images,
    load_images,
    matched_image_ids,
    same_image,
    status_label,
)
from spinneret.records.models import Match, Review, SeenImage, Suppression
from spinneret.records.types import MatchedImage

# A review item is a matched image (see `records.types.MatchedImage`).
ReviewItem = MatchedImage

# What a confirmation led to (the matches' new status), and how to say it to the analyst.
QUEUED, ALREADY_NOTIFIED, ALREADY_REMOVED = "reviewed_confirmed", "in_notice", "removed"
CONFIRM_OUTCOMES = {
    QUEUED: "it goes into the site's next notice",
    ALREADY_NOTIFIED: "its URL is already in a live notice, so nothing new is sent",
    ALREADY_REMOVED: "the image was removed after it was found, so nothing is sent",
}


def _auto_match_of_same_image():
    """The image also has an automatic match on a block list that is (or will be) in a
    notice: it goes out anyway, so there is nothing to decide."""
    other = aliased(Match)
    return exists().where(
        other.image_url_key == Match.image_url_key, other.sha256 == Match.sha256,
        other.decision == "auto", other.list_kind == "block",
        other.status.in_(("new", "in_notice")))


def _waiting_for_review():
    """Matches with decision `review` waiting for an analyst.

    Suppressed ones are left out, and so are covered ones (see `notices.coverage`): a URL
    already in a live notice item, or one whose item was removed after this match was
    found, needs no decision; nor does an image that also matched automatically."""
    return (Match.decision == "review", Match.status == "new", ~suppressed_clause(),
            ~covered_clause(), ~_auto_match_of_same_image())


def review_queue_depth(session: Session) -> int:
    """How many images wait for a decision."""
    return count_images(session, _waiting_for_review())[0]


def review_queue(session: Session, *, site_id: int | None = None,
                 limit: int = 1000) -> list[ReviewItem]:
    """The review queue, one item per image, the oldest first (see `_waiting_for_review`)."""
    conditions = [*_waiting_for_review()]
    if site_id is not None:
        conditions.append(Match.site_id == site_id)
    _, ids = matched_image_ids(session, conditions)
    return load_images(session, list(reversed(ids))[:limit])


def _pending_matches(session: Session, image_id: int) -> list[Match]:
    """The image's matches waiting for a decision; ReviewNotFound / ReviewAlreadyDecided
    when there are none."""
    rows = list(session.scalars(
        select(Match).join(SeenImage, same_image())
        .where(SeenImage.id == image_id, Match.decision == "review").order_by(Match.id)))
    if not rows:
        raise ReviewNotFound(image_id)
    pending = [m for m in rows if m.status == "new"]
    if not pending:
        raise ReviewAlreadyDecided(image_id, status_label(rows[-1].status, "review"))
    return pending


def confirm_review(session: Session, image_id: int, *, by: str, note: str = "",
                   clock: Clock) -> str:
    """The analyst confirms the image: its matches go into its site's next notice.

    Unless it is covered: its URL is already in a live notice (ALREADY_NOTIFIED) or was
    removed after the matches were found (ALREADY_REMOVED). The decision is recorded either
    way; the return value says which of QUEUED / ALREADY_NOTIFIED / ALREADY_REMOVED
    happened (QUEUED when any match is queued)."""
    now = clock.now()
    note = note.strip()
    matches = _pending_matches(session, image_id)
    ids = [m.id for m in matches]
    live = match_ids_where(session, ids, in_live_item_clause())
    gone = match_ids_where(session, ids, removed_since_found_clause())
    for match in matches:
        session.add(Review(match_id=match.id, decision="confirm", note=note, by=by, at=now))
        match.status = (ALREADY_NOTIFIED if match.id in live
                        else ALREADY_REMOVED if match.id in gone else QUEUED)
        match.updated_at = now
    statuses = {m.status for m in matches}
    outcome = next(s for s in (QUEUED, ALREADY_NOTIFIED, ALREADY_REMOVED) if s in statuses)
    audit(session, now, by, "review.confirm", f"image:{image_id}", note=note,
          outcome=outcome, matches=ids)
    session.flush()
    return outcome


def reject_review(session: Session, image_id: int, *, by: str, note: str,
                  clock: Clock) -> None:
    """The analyst rejects the image, saying why: the note is recorded and each of its
    URL + list entry pairs is suppressed."""
    now = clock.now()
    matches = _pending_matches(session, image_id)
    note = (note or "").strip()
    if not note:
        raise ReviewNoteRequired()
    already = match_ids_where(session, [m.id for m in matches], suppressed_clause())
    suppressing: set[tuple[str, str, str]] = set()
    for match in matches:
        review = Review(match_id=match.id, decision="reject", note=note, by=by, at=now)
        session.add(review)
        session.flush()
        key = (match.list_name, match.algorithm, match.entry_hash)
        if match.id not in already and key not in suppressing:
            suppressing.add(key)
            session.add(Suppression(
                image_url=match.image_url, image_url_key=match.image_url_key,
                list_name=match.list_name, algorithm=match.algorithm,
                entry_hash=match.entry_hash, review_id=review.id, created_at=now,
            ))
        match.status = "reviewed_rejected"
        match.updated_at = now
    audit(session, now, by, "review.reject", f"image:{image_id}", note=note,
          matches=[m.id for m in matches])
    session.flush()

