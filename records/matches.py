"""Reading recorded matches (writing happens in `records.images.ImageRecorder`)."""

from __future__ import annotations

from sqlalchemy import select

from spinneret.records.db import Database
from spinneret.records.errors import MatchNotFound, RecordsError
from spinneret.records.models import MATCH_DECISIONS, MATCH_STATUSES, Match
from spinneret.records.types import MatchRecord


def to_record(row: Match) -> MatchRecord:
    return MatchRecord(
        id=row.id, crawl_id=row.crawl_id, site_id=row.site_id, image_url=row.image_url,
        page_url=row.page_url, sha256=row.sha256, list_name=row.list_name,
        list_kind=row.list_kind, category=row.category, source=row.source,
        algorithm=row.algorithm, entry_hash=row.entry_hash, query_hash=row.query_hash,
        distance=row.distance, label=row.label, source_id=row.source_id,
        decision=row.decision, status=row.status, created_at=row.created_at,
        updated_at=row.updated_at,
    )


class MatchRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, match_id: int) -> MatchRecord:
        with self._db.session(readonly=True) as session:
            row = session.get(Match, match_id)
            if row is None:
                raise MatchNotFound(match_id)
            return to_record(row)

    def list(
        self, *, crawl_id: int | None = None, site_id: int | None = None,
        decision: str | None = None, status: str | None = None, limit: int = 1000,
        offset: int = 0,
    ) -> list[MatchRecord]:
        """Oldest first (the order they were found)."""
        if decision is not None and decision not in MATCH_DECISIONS:
            raise RecordsError(f"unknown match decision {decision!r} (auto or review)")
        if status is not None and status not in MATCH_STATUSES:
            raise RecordsError(
                f"unknown match status {status!r} (one of {', '.join(MATCH_STATUSES)})"
            )
        query = select(Match).order_by(Match.id).limit(limit).offset(offset)
        if crawl_id is not None:
            query = query.where(Match.crawl_id == crawl_id)
        if site_id is not None:
            query = query.where(Match.site_id == site_id)
        if decision is not None:
            query = query.where(Match.decision == decision)
        if status is not None:
            query = query.where(Match.status == status)
        with self._db.session(readonly=True) as session:
            return [to_record(row) for row in session.scalars(query)]
