"""SQL faults: SQLite busy with two processes writing at once (and a third holding the write
lock), and a PostgreSQL connection terminated under the service. Nothing lost, nothing
recorded twice."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import Database
from spinneret.records.images import ImageRecorder, MatchRecordInput
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from tests.conftest import report

IMAGES = 150
SHA = "c" * 64


def _match(n: int) -> MatchRecordInput:
    return MatchRecordInput(
        list_name="demo-block", algorithm="pdq", entry_hash=f"{n:064x}", query_hash="e" * 64,
        distance=3, decision="auto", category="policy", source="test-authority",
        label="synthetic", source_id=f"s-{n}")


def _setup(url: str) -> tuple[int, int]:
    database = Database(url)
    database.upgrade()
    site = SiteRepository(database).add(NewSite(base_url="https://example.org", name="busy",
                                                owner_email="abuse@example.org"))
    crawls = CrawlRepository(database)
    crawl = crawls.create(site.id)
    crawls.start(crawl.id)
    database.dispose()
    return site.id, crawl.id


def _writer(url: str, site_id: int, crawl_id: int, first: int, barrier, results) -> None:
    """Record every image from `first` round (both processes record the same ones: the race
    is the point)."""
    database = Database(url)
    recorder = ImageRecorder(database)
    recorder.events(crawl_id)  # connected and warm before the race starts
    barrier.wait(timeout=120)
    new = 0
    for n in (*range(first, IMAGES), *range(first)):
        new += recorder.record_image(crawl_id, site_id, "https://example.org/",
                                     f"https://example.org/img/{n}.png", SHA,
                                     matches=[_match(n)] if n % 10 == 0 else [])
    database.dispose()
    results.put(new)


def test_two_processes_writing_one_sqlite_file_record_each_image_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    site_id, crawl_id = _setup(url)
    # A third connection holds the write lock for a while as the writers start: they wait
    # (busy timeout) instead of failing with "database is locked".
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(3), spawn.Queue()
    writers = [spawn.Process(target=_writer, args=(url, site_id, crawl_id, first, barrier, results))
               for first in (0, IMAGES // 2)]
    for writer in writers:
        writer.start()
    holder.execute("BEGIN IMMEDIATE")
    barrier.wait(timeout=120)  # both writers start now, into the held lock
    time.sleep(2.0)
    holder.execute("COMMIT")
    new = [results.get(timeout=240) for _ in writers]
    for writer in writers:
        writer.join(timeout=30)
        assert writer.exitcode == 0
    holder.close()
    check = Database(url)
    events = ImageRecorder(check).events(crawl_id)
    urls = [event.url for event in events]
    assert sum(new) == IMAGES, new  # each image new to exactly one of the two writers
    assert len(urls) == len(set(urls)) == IMAGES
    assert len(MatchRepository(check).list(crawl_id=crawl_id, limit=10_000)) == IMAGES // 10
    check.dispose()
    report(f"sqlite: two processes raced to record {IMAGES} images behind a 2 s write lock: "
           f"{new[0]} + {new[1]} new, each recorded once")


@pytest.fixture
def pg_url(postgres_database_url: str):
    from tests.records_fixtures import _pg_schema_url

    yield from _pg_schema_url(postgres_database_url)


def _terminate(database: Database) -> int:
    """pg_terminate_backend on every connection `database`'s pool holds open."""
    with database.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = Database(str(database.engine.url.render_as_string(hide_password=False)))
    with admin.engine.connect() as conn:
        killed = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()
    return int(bool(killed))


def test_postgresql_connection_terminated_between_writes_is_replaced(pg_url):
    site_id, crawl_id = _setup(pg_url)
    database = Database(pg_url)
    recorder = ImageRecorder(database)
    assert recorder.record_image(crawl_id, site_id, None, "https://example.org/1.png", SHA)
    assert _terminate(database) == 1
    # The pooled connection is dead; the next write gets a fresh one (pre-ping).
    assert recorder.record_image(crawl_id, site_id, None, "https://example.org/2.png", SHA)
    assert not recorder.record_image(crawl_id, site_id, None, "https://example.org/1.png", SHA)
    assert [e.url for e in recorder.events(crawl_id)] == [
        "https://example.org/1.png", "https://example.org/2.png"]
    database.dispose()


def test_postgresql_connection_terminated_mid_transaction_loses_nothing(pg_url):
    """The backend dies while a transaction is open: that transaction is rolled back whole
    (its image and matches absent), the error is the caller's to retry, and the retry records
    it once."""
    site_id, crawl_id = _setup(pg_url)
    database = Database(pg_url)
    killer = Database(pg_url)
    recorder = ImageRecorder(database)
    with database.engine.connect() as conn:
        conn.begin()
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with killer.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as error:
            conn.execute(text("SELECT 1"))
    assert "terminat" in str(error.value).lower()
    url = "https://example.org/retried.png"
    assert recorder.record_image(crawl_id, site_id, None, url, SHA, matches=[_match(1)])
    assert [e.url for e in recorder.events(crawl_id)] == [url]
    assert len(MatchRepository(database).list(crawl_id=crawl_id)) == 1
    killer.dispose()
    database.dispose()
