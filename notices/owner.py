"""What a site owner can do through the signed link: acknowledge, report removal, dispute."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock
from spinneret.notices.errors import LinkTampered, NoticeError, NoticeNotFound
from spinneret.notices.links import OwnerLink
from spinneret.notices.policy import audit
from spinneret.records import notices
from spinneret.records.states import NoticeStatus, OwnerAction, values
from spinneret.records.types import NoticeRecord, OwnerResponseRecord

ACTIONS = values(OwnerAction)
MAX_COMMENT = 4000


class InvalidResponse(NoticeError):
    """An owner's form submission that cannot be accepted (unknown action, missing comment)."""


def check_link(session: Session, link: OwnerLink) -> NoticeRecord:
    """The link's notice; a link for a missing notice or an old nonce counts as tampered."""
    notice = notices.get(session, link.notice_id)
    if notice is None:
        raise NoticeNotFound(link.notice_id)
    if (notice.owner_token_nonce or "") != link.nonce:
        raise LinkTampered()
    return notice


def respond(session: Session, notice: NoticeRecord, action: str, comment: str, *,
            ip: str | None, clock: Clock) -> str:
    """Record the owner's answer; returns a sentence to show them."""
    comment = (comment or "").strip()
    if action not in ACTIONS:
        raise InvalidResponse(f"unknown action {action!r}")
    if len(comment) > MAX_COMMENT:
        raise InvalidResponse(f"the comment is longer than {MAX_COMMENT} characters")
    if action == OwnerAction.DISPUTE and not comment:
        raise InvalidResponse("please say why you dispute this notice")
    now = clock.now()
    notices.add_owner_response(session, notice.id, action, comment, at=now, ip=ip)
    if action == OwnerAction.ACKNOWLEDGE:
        if notice.status in (NoticeStatus.SENT, NoticeStatus.FAILED):
            notices.set_status(session, notice.id, NoticeStatus.ACKNOWLEDGED, now)
        message = "Thank you: the notice is acknowledged."
    elif action == OwnerAction.REMOVED:
        # Check the open items on the next recheck pass instead of waiting for the interval.
        notices.recheck_soon(session, notice.id)
        message = "Thank you: we will check the listed URLs again shortly."
    else:
        notices.set_status(session, notice.id, NoticeStatus.DISPUTED, now)
        message = "Your dispute is recorded; an analyst will review it."
    notices.touch(session, notice.id, now)
    audit(session, now, "owner", f"notice.owner_{action}", f"notice:{notice.id}",
          comment=comment[:200], ip=ip)
    session.flush()
    return message


def responses(session: Session, notice_id: int) -> list[OwnerResponseRecord]:
    return notices.owner_responses(session, notice_id)
