"""Crawl runs of a site: queued -> running -> finished / failed / stopped."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from spinneret.records.db import Database
from spinneret.records.errors import CrawlNotFound, InvalidCrawlState, SiteNotFound
from spinneret.records.models import CRAWL_STATUSES, Crawl, ImageEvent, Report, Site
from spinneret.records.sqltypes import utcnow
from spinneret.records.states import CrawlStatus, ImageEventStatus
from spinneret.records.types import CrawlFinish, CrawlRecord

END_STATUSES = (CrawlStatus.FINISHED.value, CrawlStatus.FAILED.value, CrawlStatus.STOPPED.value)


def _to_record(row: Crawl, site_name: str) -> CrawlRecord:
    return CrawlRecord(
        id=row.id, site_id=row.site_id, site_name=site_name, status=row.status,
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at,
        pages_fetched=row.pages_fetched, images_found=row.images_found,
        images_hashed=row.images_hashed, images_skipped=row.images_skipped,
        skipped_reasons=dict(row.skipped_reasons or {}), errors=dict(row.errors or {}),
        duration_s=row.duration_s, urls_skipped=dict(row.urls_skipped or {}),
        failure_reason=row.failure_reason,
    )


def _load(session: Session, crawl_id: int) -> tuple[Crawl, str]:
    found = session.execute(
        select(Crawl, Site.name).join(Site, Site.id == Crawl.site_id).where(Crawl.id == crawl_id)
    ).one_or_none()
    if found is None:
        raise CrawlNotFound(crawl_id)
    return found[0], found[1]


def image_counts(session: Session, crawl_id: int) -> tuple[int, int, dict[str, int]]:
    """(hashed, skipped, skipped by reason) from the images recorded for a crawl."""
    rows = session.execute(
        select(ImageEvent.status, ImageEvent.skip_reason, func.count())
        .where(ImageEvent.crawl_id == crawl_id)
        .group_by(ImageEvent.status, ImageEvent.skip_reason)
    ).all()
    hashed = sum(n for status, _, n in rows if status == ImageEventStatus.HASHED)
    reasons: dict[str, int] = {}
    for status, reason, n in rows:
        if status == ImageEventStatus.SKIPPED:
            reasons[reason or "unknown"] = reasons.get(reason or "unknown", 0) + n
    return hashed, sum(reasons.values()), reasons


class CrawlRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, site_id: int) -> CrawlRecord:
        """A new queued crawl of a site."""
        with self._db.session() as session:
            site = session.get(Site, site_id)
            if site is None:
                raise SiteNotFound(site_id)
            row = Crawl(site_id=site_id, status=CrawlStatus.QUEUED.value, skipped_reasons={}, errors={},
                        urls_skipped={})
            session.add(row)
            session.flush()
            return _to_record(row, site.name)

    def start(self, crawl_id: int) -> CrawlRecord:
        """Mark running (again, when a killed crawl resumes)."""
        with self._db.session() as session:
            row, site_name = _load(session, crawl_id)
            if row.status in END_STATUSES:
                raise InvalidCrawlState(f"crawl {crawl_id} is already {row.status}")
            row.status = CrawlStatus.RUNNING.value
            if row.started_at is None:
                row.started_at = utcnow()
            session.flush()
            return _to_record(row, site_name)

    def finish(self, crawl_id: int, stats: CrawlFinish | None = None) -> CrawlRecord:
        """Store the final counters. Hashed/skipped counts left None come from recorded
        images; skip reasons the crawler reports are added to the recorded ones."""
        stats = stats or CrawlFinish()
        if stats.status not in END_STATUSES:
            raise InvalidCrawlState(
                f"a crawl ends as one of {', '.join(END_STATUSES)}, not {stats.status!r}"
            )
        with self._db.session() as session:
            row, site_name = _load(session, crawl_id)
            if row.status in END_STATUSES:
                raise InvalidCrawlState(f"crawl {crawl_id} is already {row.status}")
            hashed, skipped, reasons = image_counts(session, crawl_id)
            for reason, n in stats.skipped_reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
            now = utcnow()
            row.status = stats.status
            row.finished_at = now
            row.pages_fetched = stats.pages_fetched
            row.images_found = stats.images_found
            row.images_hashed = hashed if stats.images_hashed is None else stats.images_hashed
            row.images_skipped = (
                skipped + sum(stats.skipped_reasons.values())
                if stats.images_skipped is None else stats.images_skipped
            )
            row.skipped_reasons = reasons
            row.errors = dict(stats.errors)
            row.urls_skipped = dict(stats.urls_skipped)
            row.failure_reason = stats.failure_reason
            if stats.duration_s is not None:
                row.duration_s = stats.duration_s
            elif row.started_at is not None:
                row.duration_s = (now - row.started_at).total_seconds()
            session.flush()
            return _to_record(row, site_name)

    def get(self, crawl_id: int) -> CrawlRecord:
        with self._db.session(readonly=True) as session:
            row, site_name = _load(session, crawl_id)
            return _to_record(row, site_name)

    def list(
        self, *, site_id: int | None = None, status: str | None = None, limit: int = 100,
        reports: bool = True,
    ) -> list[CrawlRecord]:
        """Newest first. `reports=False` leaves out the one-page crawls of reported URLs
        (records.reports), which are never resumed or scheduled like a site's crawls."""
        if status is not None and status not in CRAWL_STATUSES:
            raise InvalidCrawlState(
                f"unknown crawl status {status!r} (one of {', '.join(CRAWL_STATUSES)})"
            )
        query = (
            select(Crawl, Site.name).join(Site, Site.id == Crawl.site_id)
            .order_by(Crawl.id.desc()).limit(limit)
        )
        if site_id is not None:
            query = query.where(Crawl.site_id == site_id)
        if status is not None:
            query = query.where(Crawl.status == status)
        if not reports:
            query = query.where(~exists().where(Report.crawl_id == Crawl.id))
        with self._db.session(readonly=True) as session:
            return [_to_record(row, name) for row, name in session.execute(query)]
