"""What a site owner can do through the signed link: acknowledge, report removal, dispute."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock
from spinneret.notices.errors import LinkTampered, NoticeError, NoticeNotFound
from spinneret.notices.links import OwnerLink
from spinneret.notices.policy import audit
from spinneret.records.models import Notice, NoticeItem, OwnerResponse

ACTIONS = ("acknowledge", "removed", "dispute")
MAX_COMMENT = 4000


class InvalidResponse(NoticeError):
    """An owner's form submission that cannot be accepted (unknown action, missing comment)."""


def check_link(session: Session, link: OwnerLink) -> Notice:
    """The link's notice; a link for a missing notice or an old nonce counts as tampered."""
    notice = session.get(Notice, link.notice_id)
    if notice is None:
        raise NoticeNotFound(link.notice_id)
    if (notice.owner_token_nonce or "") != link.nonce:
        raise LinkTampered()
    return notice


def respond(session: Session, notice: Notice, action: str, comment: str, *, ip: str | None,
            clock: Clock) -> str:
    """Record the owner's answer; returns a sentence to show them."""
    comment = (comment or "").strip()
    if action not in ACTIONS:
        raise InvalidResponse(f"unknown action {action!r}")
    if len(comment) > MAX_COMMENT:
        raise InvalidResponse(f"the comment is longer than {MAX_COMMENT} characters")
    if action == "dispute" and not comment:
        raise InvalidResponse("please say why you dispute this notice")
    now = clock.now()
    session.add(OwnerResponse(notice_id=notice.id, action=action, comment=comment, at=now,
                              ip=ip))
    if action == "acknowledge":
        if notice.status in ("sent", "failed"):
            notice.status = "acknowledged"
        message = "Thank you: the notice is acknowledged."
    elif action == "removed":
        # Check the open items on the next recheck pass instead of waiting for the interval.
        session.execute(
            update(NoticeItem)
            .where(NoticeItem.notice_id == notice.id,
                   NoticeItem.status.in_(("open", "reappeared")))
            .values(last_checked_at=None)
            .execution_options(synchronize_session=False)
        )
        message = "Thank you: we will check the listed URLs again shortly."
    else:
        notice.status = "disputed"
        message = "Your dispute is recorded; an analyst will review it."
    notice.updated_at = now
    audit(session, now, "owner", f"notice.owner_{action}", f"notice:{notice.id}",
          comment=comment[:200], ip=ip)
    session.flush()
    return message


def responses(session: Session, notice_id: int) -> list[OwnerResponse]:
    return list(session.scalars(select(OwnerResponse).where(
        OwnerResponse.notice_id == notice_id).order_by(OwnerResponse.id)))
