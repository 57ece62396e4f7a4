"""A notice's timeline for the UI and the API: what happened to it, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spinneret.notices.owner import responses
from spinneret.notices.types import NoticeView
from spinneret.records.audit import of_target
from spinneret.records.db import Database
from spinneret.records.states import DeliveryStatus
from spinneret.records.types import AuditRecord


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    what: str
    detail: str = ""
    who: str = ""


def notice_timeline(db: Database, view: NoticeView) -> list[TimelineEvent]:
    events = [TimelineEvent(view.created_at, "notice opened",
                            f"{len(view.items)} item(s) for {view.site_name}")]
    for d in view.deliveries:
        to = f"{d.channel} to {d.recipient} (contact: {d.recipient_source})"
        events.append(TimelineEvent(d.created_at, f"{d.purpose} queued", to))
        if d.sent_at:
            events.append(TimelineEvent(d.sent_at, f"{d.purpose} sent", to))
        elif d.status == DeliveryStatus.FAILED:
            events.append(TimelineEvent(d.next_attempt_at or d.created_at,
                                        f"{d.purpose} failed", d.last_error or ""))
    for item in view.items:
        if item.removed_at:
            events.append(TimelineEvent(item.removed_at, "image removed", item.image_url))
    with db.session(readonly=True) as session:
        for r in responses(session, view.id):
            events.append(TimelineEvent(r.at, f"owner: {r.action}", r.comment, "site owner"))
        for e in of_target(session, f"notice:{view.id}"):
            if _shown_above(e) or _request_done(e):
                continue  # the change it made has its own event (notice.send_now, ...)
            events.append(TimelineEvent(e.at, e.action, _details(e.details), e.actor))
    return sorted(events, key=lambda e: e.at)


def _shown_above(event: AuditRecord) -> bool:
    """Told from the notice itself: the owner's responses and the removals."""
    return event.action.startswith("notice.owner_") or event.action == "notice_item.removed"


def _request_done(event: AuditRecord) -> bool:
    """A successful UI/API request's own audit entry (a refused one stays: it says who
    tried what and why it was refused)."""
    return (event.action.startswith(("ui.", "api."))
            and int((event.details or {}).get("status", 500)) < 400)


def _details(details: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in details.items() if k != "at" and v not in ("", None))
