"""Reported URLs: the repository, and the site a reported URL belongs to.

Stored statuses follow the fetch: queued -> fetched -> matched / no_match, or failed with a
reason. What happens after matching is read from the notices, not copied: a matched report
whose images are items of a notice reads "noticed", and "removed" once the recheck has
closed every one of those items. So the status is right however the notice moved on (beat,
`notices send`, an analyst's review, the recheck) without any of those knowing of reports.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spinneret.records.db import Database
from spinneret.records.errors import InvalidReport, ReportNotFound
from spinneret.records.models import REPORT_STATUSES, Match, Notice, NoticeItem, Report, Site
from spinneret.records.sites import to_record
from spinneret.records.sqltypes import utcnow
from spinneret.records.types import ReportRecord, SiteRecord

MAX_URL_CHARS = 8192
MAX_NOTE_CHARS = 2000
STORED_END_STATUSES = ("matched", "no_match", "failed")
# Match statuses of a report's matches that went into a notice (as an item, or as a
# duplicate of a live item of the same URL), or were found already removed.
NOTIFIED_MATCH_STATUSES = ("in_notice", "removed")


def check_report_url(url: str) -> str:
    """The URL trimmed; `InvalidReport` unless it is an http(s) URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidReport("a report needs a URL")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise InvalidReport(f"the URL is longer than {MAX_URL_CHARS} characters")
    if "\x00" in url or any(c.isspace() for c in url):
        raise InvalidReport(f"{url[:200]!r} is not a URL (it contains spaces or NUL)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidReport(f"{url[:200]!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidReport(f"{url[:200]!r} is not an http(s) URL with a host")
    return url


def _check_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidReport(f"the note is longer than {MAX_NOTE_CHARS} characters")
    if "\x00" in note:
        raise InvalidReport("the note must not contain NUL characters")
    return note


# --- which site a reported URL belongs to ---------------------------------------------------

def _covers(site: Site, host: str) -> bool:
    hosts = list(site.hosts or ())
    base_host = urlsplit(site.base_url).hostname
    if base_host:
        hosts.append(base_host)
    for name in hosts:
        name = name.lower().rstrip(".")
        if name == host or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def _reported_site_name(host: str) -> str:
    return ("reported-" + re.sub(r"[^a-z0-9.-]", "-", host))[:100]


def site_for_url(db: Database, url: str) -> SiteRecord:
    """The registered site whose hosts cover the URL's host; else the site made for reports
    of that host (created on first use, `origin` "reported", no owner e-mail: contacts for
    it are found at notice time)."""
    parts = urlsplit(check_report_url(url))
    host = (parts.hostname or "").lower().rstrip(".")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never keep credentials in a site URL
    try:
        return _find_or_add_site(db, host, parts.scheme.lower(), netloc)
    except IntegrityError:  # another report of the same new host added it first
        return _find_or_add_site(db, host, parts.scheme.lower(), netloc)


def _find_or_add_site(db: Database, host: str, scheme: str, netloc: str) -> SiteRecord:
    with db.session() as session:
        covering = [s for s in session.scalars(select(Site).order_by(Site.id)) if _covers(s, host)]
        registered = [s for s in covering if s.origin != "reported"]
        if covering:
            return to_record((registered or covering)[0])
        name = _reported_site_name(host)
        if session.scalars(select(Site.id).where(Site.name == name)).first() is not None:
            # A registered site already has that name (for another host): keep both.
            name = f"{name[:91]}-{hashlib.sha256(host.encode()).hexdigest()[:8]}"
        row = Site(name=name, base_url=f"{scheme}://{netloc}/", hosts=[host],
                   include_patterns=[], exclude_patterns=[], owner_email="", origin="reported")
        session.add(row)
        session.flush()
        return to_record(row)


# --- the repository -------------------------------------------------------------------------

class ReportRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, url: str, note: str | None, reporter: str) -> ReportRecord:
        url = check_report_url(url)
        note = _check_note(note)
        with self._db.session() as session:
            row = Report(url=url, note=note, reporter=reporter[:255] or "unknown",
                         status="queued", pages_fetched=0, images_found=0, images_hashed=0,
                         images_skipped=0, matches=0, created_at=utcnow())
            session.add(row)
            session.flush()
            return _to_record(session, row)

    def get(self, report_id: int) -> ReportRecord:
        with self._db.session(readonly=True) as session:
            return _to_record(session, _load(session, report_id))

    def list(self, *, status: str | None = None, limit: int = 100) -> list[ReportRecord]:
        """Newest first. `status` filters on the status as read (noticed, removed too)."""
        if status is not None and status not in REPORT_STATUSES:
            raise InvalidReport(
                f"unknown report status {status!r} (one of {', '.join(REPORT_STATUSES)})")
        query = select(Report).order_by(Report.id.desc())
        if status in ("queued", "fetched", "no_match", "failed"):
            query = query.where(Report.status == status).limit(limit)
        elif status is not None:  # matched, noticed, removed: all stored as "matched"
            query = query.where(Report.status == "matched")
        else:
            query = query.limit(limit)
        with self._db.session(readonly=True) as session:
            records = [_to_record(session, row) for row in session.scalars(query)]
        if status is not None:
            records = [r for r in records if r.status == status]
        return records[:limit]

    def start(self, report_id: int) -> ReportRecord | None:
        """Mark the report being fetched; None when it already ended (a task delivered
        twice does the work once). A report whose worker died midway starts again."""
        with self._db.session() as session:
            row = _load(session, report_id)
            if row.status in STORED_END_STATUSES:
                return None
            row.status = "queued"
            row.started_at = row.started_at or utcnow()
            session.flush()
            return _to_record(session, row)

    def attach(self, report_id: int, *, site_id: int, crawl_id: int) -> None:
        """The site the URL resolved to and the crawl record its images are recorded under."""
        with self._db.session() as session:
            row = _load(session, report_id)
            row.site_id, row.crawl_id = site_id, crawl_id

    def fetched(self, report_id: int, *, pages: int, found: int, hashed: int, skipped: int,
                matches: int) -> None:
        with self._db.session() as session:
            row = _load(session, report_id)
            row.status = "fetched"
            row.pages_fetched, row.images_found = pages, found
            row.images_hashed, row.images_skipped, row.matches = hashed, skipped, matches

    def finish(self, report_id: int, status: str, reason: str | None = None) -> ReportRecord:
        """End the report as matched, no_match or failed (with the reason)."""
        if status not in STORED_END_STATUSES:
            raise InvalidReport(f"a report ends as one of {', '.join(STORED_END_STATUSES)}, "
                                f"not {status!r}")
        with self._db.session() as session:
            row = _load(session, report_id)
            row.status = status
            row.reason = reason
            row.finished_at = utcnow()
            session.flush()
            return _to_record(session, row)


def _load(session: Session, report_id: int) -> Report:
    row = session.get(Report, report_id)
    if row is None:
        raise ReportNotFound(report_id)
    return row


def _to_record(session: Session, row: Report) -> ReportRecord:
    site = session.get(Site, row.site_id) if row.site_id is not None else None
    status, notice_ids = _status_as_read(session, row)
    return ReportRecord(
        id=row.id, url=row.url, note=row.note, reporter=row.reporter, status=status,
        reason=row.reason if status == row.status else None, site_id=row.site_id,
        site_name=site.name if site else None, site_origin=site.origin if site else None,
        crawl_id=row.crawl_id, pages_fetched=row.pages_fetched,
        images_found=row.images_found, images_hashed=row.images_hashed,
        images_skipped=row.images_skipped, matches=row.matches, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, notice_ids=notice_ids,
    )


def _status_as_read(session: Session, row: Report) -> tuple[str, tuple[int, ...]]:
    """matched -> noticed (its images are items of a notice that was not a failure) ->
    removed (every such item closed as removed by the recheck)."""
    if row.status != "matched" or row.crawl_id is None or row.site_id is None:
        return row.status, ()
    urls = set(session.scalars(
        select(Match.image_url).where(Match.crawl_id == row.crawl_id,
                                      Match.status.in_(NOTIFIED_MATCH_STATUSES))))
    if not urls:
        return "matched", ()
    items = session.execute(
        select(NoticeItem.notice_id, NoticeItem.status)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(Notice.site_id == row.site_id, Notice.status != "failed",
               NoticeItem.image_url.in_(urls))
    ).all()
    if not items:
        return "matched", ()
    notice_ids = tuple(sorted({notice_id for notice_id, _ in items}))
    if all(status == "removed" for _, status in items):
        return "removed", notice_ids
    return "noticed", notice_ids
