"""The audit log: who did what to which target, append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinneret.records.db import Database
from spinneret.records.models import AuditEvent
from spinneret.records.types import AuditRecord


def write_event(
    session: Session, actor: str, action: str, target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event inside the caller's transaction (commits with the change it describes)."""
    event = AuditEvent(actor=actor, action=action, target=target, details=dict(details or {}))
    session.add(event)
    session.flush()
    return event


def to_record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(
        id=row.id, at=row.at, actor=row.actor, action=row.action, target=row.target,
        details=dict(row.details or {}),
    )


def of_target(session: Session, target: str) -> list[AuditRecord]:
    """Every event about `target`, oldest first, inside the caller's session."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.target == target)
                           .order_by(AuditEvent.id))
    return [to_record(row) for row in rows]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def write(
        self, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
    ) -> AuditRecord:
        with self._db.session() as session:
            return to_record(write_event(session, actor, action, target, details))

    def list(
        self, *, target: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """Newest first."""
        query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if target is not None:
            query = query.where(AuditEvent.target == target)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        with self._db.session(readonly=True) as session:
            return [to_record(row) for row in session.scalars(query.limit(limit))]
