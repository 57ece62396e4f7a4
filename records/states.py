"""The closed vocabularies of stored states, one `StrEnum` each.

A member compares equal to its string (`NoticeStatus.SENT == "sent"`), so stored data and
JSON output are unchanged; the models' check constraints (migration 0004) are built from
these classes, so a typo cannot be stored. Every layer that may import `records` uses them.
"""

from __future__ import annotations

from enum import StrEnum


class CrawlStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"


class ImageEventStatus(StrEnum):
    HASHED = "hashed"
    SKIPPED = "skipped"


class MatchDecision(StrEnum):
    AUTO = "auto"
    REVIEW = "review"


class MatchStatus(StrEnum):
    NEW = "new"
    IN_NOTICE = "in_notice"
    REVIEWED_CONFIRMED = "reviewed_confirmed"
    REVIEWED_REJECTED = "reviewed_rejected"
    SUPPRESSED = "suppressed"
    REMOVED = "removed"


class ReviewDecision(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"


class NoticeStatus(StrEnum):
    OPEN = "open"  # its window still collects matches
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REMOVED = "removed"
    DISPUTED = "disputed"
    CLOSED = "closed"  # its window ended with no item: nothing sent
    FAILED = "failed"  # no delivery could be made


class NoticeItemStatus(StrEnum):
    OPEN = "open"
    REMOVED = "removed"
    REAPPEARED = "reappeared"


class DeliveryChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryKind(StrEnum):
    INITIAL = "initial"
    REMINDER = "reminder"
    ESCALATION = "escalation"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed; next_attempt_at holds the lease expiry
    SENT = "sent"
    FAILED = "failed"


class OwnerAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REMOVED = "removed"
    DISPUTE = "dispute"


def values(states: type[StrEnum]) -> tuple[str, ...]:
    """The plain strings of one vocabulary, in declaration order."""
    return tuple(state.value for state in states)


def check_sql(column: str, states: type[StrEnum]) -> str:
    """The SQL of a check constraint that admits only `states` in `column`."""
    return f"{column} IN ({', '.join(repr(v) for v in values(states))})"
