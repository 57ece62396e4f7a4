"""The review queue: one item per crawled image whose matches wait for an analyst (decision
`review`). The analyst confirms it (its matches go into the site's next notice) or rejects
it, with a note saying why (each URL + list entry is suppressed). The item's id is the
image's (`records.matched_images`), and the item carries every list entry it matched.

One rule for notes everywhere (CLI, API, UI): a rejection needs a note, a confirmation may
have one.

Consensus (`review_consensus`, N, default 1): an item is confirmed once N distinct analysts
confirmed it, and rejected (suppressed) once N distinct analysts rejected it; until one side
reaches N it stays in the queue with who decided what. An analyst decides an item once
(`ReviewDuplicateDecision`). Confirmations and rejections of the same item side by side make
it *disputed*: shown in the queue and audited (`review.dispute`); the first side to reach N
decides, and the other side's decisions stay on record (the final event names them). With
N = 1 the first decision decides, as it always did. A final rejection records each rejected
list entry as a false positive against its list (`records.reviews`, `lists feedback`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock
from spinneret.notices.coverage import (
    covered_clause,
    in_live_item_clause,
    match_ids_where,
    removed_since_found_clause,
    suppressed_clause,
)
from spinneret.notices.errors import (
    ReviewAlreadyDecided,
    ReviewDuplicateDecision,
    ReviewNoteRequired,
    ReviewNotFound,
)
from spinneret.notices.policy import audit
from spinneret.records.matched_images import count_images, load_images, matched_image_ids
from spinneret.records.reviews import ReviewRecords, ReviewState, of_site, waiting_conditions
from spinneret.records.types import ImageReview, MatchedImage

# A review item is a matched image (see `records.types.MatchedImage`).
ReviewItem = MatchedImage

# What a confirmation led to (the matches' new status), and how to say it to the analyst.
QUEUED, ALREADY_NOTIFIED, ALREADY_REMOVED = "reviewed_confirmed", "in_notice", "removed"
# Consensus not reached yet: the decision is recorded, the item stays in the queue.
PENDING = "pending"
REJECTED = "reviewed_rejected"
CONFIRM_OUTCOMES = {
    QUEUED: "it goes into the site's next notice",
    ALREADY_NOTIFIED: "its URL is already in a live notice, so nothing new is sent",
    ALREADY_REMOVED: "the image was removed after it was found, so nothing is sent",
    PENDING: "it waits for more analysts (consensus review)",
}
REJECT_OUTCOMES = {
    REJECTED: "URL + hash suppressed",
    PENDING: "it waits for more analysts (consensus review)",
}


def _waiting_for_review():
    """Matches with decision `review` waiting for an analyst (`records.reviews`).

    Suppressed ones are left out, and so are covered ones (see `notices.coverage`): a URL
    already in a live notice item, or one whose item was removed after this match was
    found, needs no decision; nor does an image that also matched automatically."""
    return waiting_conditions(excluding=(suppressed_clause(), covered_clause()))


def review_queue_depth(session: Session) -> int:
    """How many images wait for a decision."""
    return count_images(session, _waiting_for_review())[0]


def review_queue(session: Session, *, site_id: int | None = None,
                 limit: int = 1000) -> list[ReviewItem]:
    """The review queue, one item per image, the oldest first (see `_waiting_for_review`)."""
    conditions = [*_waiting_for_review(), *of_site(site_id)]
    _, ids = matched_image_ids(session, conditions)
    items = load_images(session, list(reversed(ids))[:limit])
    records = ReviewRecords(session)
    # The decisions taken so far (consensus review): shown in the queue with who took them.
    decided = records.decisions_of(records.pending_ids([i.id for i in items]))
    return [replace(i, reviews=decided.get(i.id, ())) for i in items]


@dataclass(frozen=True)
class Consensus:
    """Where an item stands: who confirmed, who rejected, how many are needed."""

    needed: int
    confirmed_by: tuple[str, ...]
    rejected_by: tuple[str, ...]

    @property
    def disputed(self) -> bool:
        return bool(self.confirmed_by and self.rejected_by)

    def to_json(self) -> dict:
        return {"needed": self.needed, "confirmed_by": list(self.confirmed_by),
                "rejected_by": list(self.rejected_by), "disputed": self.disputed}

    def summary(self) -> str:
        """One line for the queue: "1/2 confirmed (alice); rejected by bob: disputed"."""
        parts = []
        if self.confirmed_by:
            parts.append(f"{len(self.confirmed_by)}/{self.needed} confirmed "
                         f"({', '.join(self.confirmed_by)})")
        if self.rejected_by:
            parts.append(f"{len(self.rejected_by)}/{self.needed} rejected "
                         f"({', '.join(self.rejected_by)})")
        text = "; ".join(parts)
        return f"{text}: disputed" if self.disputed else text


def consensus_of(decisions: tuple[ImageReview, ...], needed: int) -> Consensus:
    return Consensus(needed, tuple(d.by for d in decisions if d.decision == "confirm"),
                     tuple(d.by for d in decisions if d.decision == "reject"))


def _pending_state(records: ReviewRecords, image_id: int, by: str) -> ReviewState:
    """The image's pending matches and decisions; ReviewNotFound / ReviewAlreadyDecided when
    nothing is pending, ReviewDuplicateDecision when `by` decided this item already."""
    state = records.state(image_id)
    if state.last_status is None:
        raise ReviewNotFound(image_id)
    if not state.pending:
        raise ReviewAlreadyDecided(image_id, state.last_status)
    earlier = next((d for d in state.decisions if d.by == by), None)
    if earlier is not None:
        raise ReviewDuplicateDecision(image_id, by, earlier.decision)
    return state


def _audit_pending(session: Session, now, by: str, image_id: int, decision: str, note: str,
                   consensus: Consensus, ids: list[int]) -> None:
    """A decision that did not decide yet; a disagreement is audited as such."""
    audit(session, now, by, f"review.{decision}", f"image:{image_id}", note=note,
          outcome=PENDING, matches=ids, **consensus.to_json())
    if consensus.disputed:
        audit(session, now, by, "review.dispute", f"image:{image_id}", note=note,
              decision=decision, **consensus.to_json())


def confirm_review(session: Session, image_id: int, *, by: str, note: str = "",
                   clock: Clock, consensus: int = 1) -> str:
    """The analyst confirms the image. Once `consensus` analysts have, its matches go into
    its site's next notice (until then: PENDING).

    Unless it is covered: its URL is already in a live notice (ALREADY_NOTIFIED) or was
    removed after the matches were found (ALREADY_REMOVED). The decision is recorded either
    way; the return value says which of QUEUED / ALREADY_NOTIFIED / ALREADY_REMOVED /
    PENDING happened (QUEUED when any match is queued)."""
    now = clock.now()
    note = note.strip()
    records = ReviewRecords(session)
    state = _pending_state(records, image_id, by)
    ids = [m.id for m in state.pending]
    records.record(state.pending, decision="confirm", by=by, note=note, at=now)
    standing = consensus_of((*state.decisions, ImageReview("confirm", note, by, now)),
                            consensus)
    if len(standing.confirmed_by) < consensus:
        _audit_pending(session, now, by, image_id, "confirm", note, standing, ids)
        records.flush()
        return PENDING
    live = match_ids_where(session, ids, in_live_item_clause())
    gone = match_ids_where(session, ids, removed_since_found_clause())
    statuses = {i: (ALREADY_NOTIFIED if i in live else ALREADY_REMOVED if i in gone
                    else QUEUED) for i in ids}
    records.set_status(statuses, now)
    outcome = next(s for s in (QUEUED, ALREADY_NOTIFIED, ALREADY_REMOVED)
                   if s in statuses.values())
    extra = standing.to_json() if consensus > 1 or standing.rejected_by else {}
    audit(session, now, by, "review.confirm", f"image:{image_id}", note=note,
          outcome=outcome, matches=ids, **extra)
    records.flush()
    return outcome


def reject_review(session: Session, image_id: int, *, by: str, note: str,
                  clock: Clock, consensus: int = 1) -> str:
    """The analyst rejects the image, saying why. Once `consensus` analysts have, each of
    its URL + list entry pairs is suppressed and each list entry is recorded as a false
    positive of its list, once per rejecting analyst with that analyst's note (REJECTED);
    until then PENDING."""
    now = clock.now()
    note = (note or "").strip()
    records = ReviewRecords(session)
    state = _pending_state(records, image_id, by)
    if not note:
        raise ReviewNoteRequired()
    ids = [m.id for m in state.pending]
    review_ids = records.record(state.pending, decision="reject", by=by, note=note, at=now)
    mine = ImageReview("reject", note, by, now)
    standing = consensus_of((*state.decisions, mine), consensus)
    if len(standing.rejected_by) < consensus:
        _audit_pending(session, now, by, image_id, "reject", note, standing, ids)
        records.flush()
        return PENDING
    already = match_ids_where(session, ids, suppressed_clause())
    suppressing: set[tuple[str, str, str]] = set()
    for match in state.pending:
        key = (match.list_name, match.algorithm, match.entry_hash)
        if match.id not in already and key not in suppressing:
            suppressing.add(key)
            records.suppress(match, review_ids[match.id], now)
    rejections = [d for d in (*state.decisions, mine) if d.decision == "reject"]
    entries: dict[tuple[str, str, str, str], object] = {}
    for match in state.pending:
        entries.setdefault((match.list_name, match.algorithm, match.entry_hash,
                            match.source_id), match)
    for match in entries.values():
        for decision in rejections:
            records.add_feedback(match, by=decision.by, note=decision.note, at=now)
    records.set_status({i: REJECTED for i in ids}, now)
    extra = standing.to_json() if consensus > 1 or standing.confirmed_by else {}
    audit(session, now, by, "review.reject", f"image:{image_id}", note=note, matches=ids,
          **extra)
    records.flush()
    return REJECTED
