"""Plain dataclasses the notices package hands across boundaries (CLI, API, templates)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NoticeItemView:
    id: int
    reference: str
    image_url: str
    page_url: str
    first_detected_at: datetime
    list_name: str
    list_source: str
    category: str
    label: str
    algorithm: str
    distance: int
    match_kind: str  # "exact" | "perceptual"
    status: str
    removed_at: datetime | None = None
    time_to_removal_s: float | None = None
    #: Why the recheck closed it ("HTTP 404", "no longer matches ..."), None while open.
    closed_reason: str | None = None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    channel: str  # "email" | "webhook"
    recipient: str
    purpose: str  # "notice" | "reminder" | "escalation"
    status: str
    attempts: int
    idempotency_key: str
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime
    # Where the recipient came from: registered, override, security.txt, rdap.
    recipient_source: str = "registered"


@dataclass(frozen=True)
class NoticeView:
    id: int
    reference: str
    site_id: int
    site_name: str
    site_url: str
    status: str
    created_at: datetime
    window_ends_at: datetime | None
    sent_at: datetime | None
    closed_at: datetime | None
    reminders_sent: int
    escalated_at: datetime | None
    # An open notice: when its window ends and the next outbox pass sends it (under the
    # window setting in force now); None once it is sealed.
    sends_at: datetime | None = None
    items: list[NoticeItemView] = field(default_factory=list)
    deliveries: list[DeliveryView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def match_kind(algorithm: str) -> str:
    """`exact` for cryptographic hashes, `perceptual` otherwise (unknown names: perceptual)."""
    from spinneret.matcher.algorithms import default_registry

    registry = default_registry()
    if algorithm in registry and registry.get(algorithm).exact:
        return "exact"
    return "perceptual"


@dataclass(frozen=True)
class Sender:
    """Who sends a notice and on what basis: every message states it (`notices.readiness`
    refuses to send while the required parts are placeholders)."""

    organisation: str
    contact_email: str
    legal_basis: str
    removal_deadline_s: float
    contact_phone: str = ""
    policy_url: str = ""
    signature: str = ""  # the operator's own lines; empty = organisation and contact
    demo: bool = False

    @classmethod
    def from_settings(cls, settings) -> Sender:
        return cls(
            organisation=settings.notice_sender_organisation.strip(),
            contact_email=settings.notice_contact_email.strip(),
            legal_basis=settings.notice_legal_basis.strip(),
            removal_deadline_s=settings.notice_removal_deadline_s,
            contact_phone=settings.notice_contact_phone.strip(),
            policy_url=settings.notice_policy_url.strip(),
            signature=settings.notice_signature.strip(),
            demo=settings.notice_demo,
        )
