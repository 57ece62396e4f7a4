"""Fixtures for the notices tests: a migrated SQLite database in the test's data dir, a
manual clock, and helpers that register sites and record matches through `records`."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from spinneret.config.netpolicy import NetworkPolicy
from spinneret.notices.clock import ManualClock
from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import Database
from spinneret.records.images import ImageRecorder
from spinneret.records.matched_images import same_image
from spinneret.records.models import Match, SeenImage
from spinneret.records.sites import SiteRepository
from spinneret.records.types import MatchRecordInput, NewSite, SiteRecord

_counter = itertools.count(1)


def image_of(db: Database, match_id: int) -> int:
    """The id of a match's image (its review item)."""
    with db.session(readonly=True) as session:
        return session.scalar(select(SeenImage.id).join(Match, same_image())
                              .where(Match.id == match_id))


def sending_now(settings, smtp):
    """`settings`, made to send notices at once (no batch window) to the test's SMTP server."""
    settings.notice_batch_window_s = 0
    settings.smtp_port = smtp.port
    settings.smtp_timeout_s = 5
    return settings


@pytest.fixture
def db(settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    # Near the wall clock: records stamps matches with the real time when they are found.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def make_site(db: Database, settings) -> Callable[..., SiteRecord]:
    def make(name: str = "example", *, owner_email: str = "owner@example.org",
             abuse_email: str | None = None, webhook_url: str | None = None,
             base_url: str = "http://127.0.0.1:9/") -> SiteRecord:
        # The settings' network policy: the tests' webhook receivers listen on loopback.
        return SiteRepository(db, network_policy=NetworkPolicy.from_settings(settings)).add(NewSite(
            base_url=base_url, name=name, owner_email=owner_email, abuse_email=abuse_email,
            webhook_url=webhook_url,
        ))
    return make


@pytest.fixture
def record_match(db: Database) -> Callable[..., None]:
    """Record one image with one match, as the pipeline would."""
    crawls: dict[int, int] = {}

    def record(site: SiteRecord, image_url: str, *, page_url: str | None = None,
               algorithm: str = "pdq", distance: int = 8, decision: str = "auto",
               list_name: str = "demo-list", category: str = "illegal",
               source: str = "test-authority", label: str = "synthetic-1",
               query_hash: str | None = None, entry_hash: str | None = None,
               sha256: str | None = None, found_at: datetime | None = None) -> None:
        if site.id not in crawls:
            crawls[site.id] = CrawlRepository(db).create(site.id).id
        n = next(_counter)
        sha256 = sha256 or hashlib.sha256(f"{image_url}-{n}".encode()).hexdigest()
        width = 64 if algorithm == "pdq" else 16
        query_hash = query_hash or hashlib.sha256(f"q{n}".encode()).hexdigest()[:width]
        entry_hash = entry_hash or hashlib.sha256(f"e{n}".encode()).hexdigest()[:width]
        match = MatchRecordInput(
            list_name=list_name, algorithm=algorithm, entry_hash=entry_hash,
            query_hash=query_hash, distance=distance, decision=decision,
            category=category, source=source, label=label,
        )
        ImageRecorder(db).record_image(
            crawls[site.id], site.id, page_url or f"{site.base_url}page.html", image_url,
            sha256, matches=[match],
        )
        if found_at is not None:
            # The recorder stamps the wall clock; a test on a manual clock says when instead.
            with db.session() as session:
                session.execute(update(Match).where(
                    Match.crawl_id == crawls[site.id], Match.sha256 == sha256,
                ).values(created_at=found_at))
    return record
