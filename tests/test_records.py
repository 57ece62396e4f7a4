"""Records repositories and migrations, each test on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text

from spinneret.config import Settings
from spinneret.records.audit import AuditLog
from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import Database
from spinneret.records.errors import (
    CrawlNotFound,
    InvalidCrawlState,
    InvalidImageRecord,
    InvalidSite,
    MatchNotFound,
    RecordsError,
    SiteExists,
    SiteNotFound,
)
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.models import Base, Crawl, Match, SeenImage, Suppression
from spinneret.records.sites import SiteRepository, add_site, remove_site
from spinneret.records.sqltypes import url_key
from spinneret.records.types import CrawlFinish, MatchRecordInput, NewSite

SHA_A = "a" * 64
SHA_B = "b" * 64
IMG = "https://example.org/img/cat.png"
PAGE = "https://example.org/gallery"
TABLES = set(Base.metadata.tables)


def _site(db: Database, name: str = "example", **kw) -> int:
    new = NewSite(base_url="https://example.org", name=name, owner_email="abuse@example.org", **kw)
    return SiteRepository(db).add(new).id


def _crawl(db: Database, site_id: int) -> int:
    repo = CrawlRepository(db)
    crawl = repo.create(site_id)
    repo.start(crawl.id)
    return crawl.id


def _match(entry: str = "f" * 64, *, algorithm: str = "pdq", decision: str = "auto",
           list_name: str = "demo-block") -> MatchRecordInput:
    return MatchRecordInput(
        list_name=list_name, algorithm=algorithm, entry_hash=entry, query_hash="e" * 64,
        distance=3, decision=decision, category="policy", source="test-authority",
        label="synthetic", source_id="s-1",
    )


# --- migrations -----------------------------------------------------------------------------


def test_migrations_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    database = Database(empty_db_url)
    try:
        assert database.current_revision() is None
        database.upgrade()
        database.upgrade()  # idempotent
        assert database.current_revision() == Database.head_revision()
        assert TABLES <= set(inspect(database.engine).get_table_names())

        database.downgrade("base")
        assert database.current_revision() is None
        assert not TABLES & set(inspect(database.engine).get_table_names())

        database.upgrade()
        assert TABLES <= set(inspect(database.engine).get_table_names())
        _site(database)  # and the schema works
    finally:
        database.dispose()


def test_crawl_urls_skipped_migration_keeps_existing_crawls(empty_db_url: str) -> None:
    database = Database(empty_db_url)
    try:
        database.upgrade("0001")
        with database.engine.begin() as conn:  # a site and a crawl recorded by 0001's schema
            site_id = conn.execute(text(
                "INSERT INTO sites (name, base_url, hosts, include_patterns, exclude_patterns,"
                " owner_email, ignore_robots, created_at, updated_at) VALUES ('example',"
                " 'https://example.org', '[\"example.org\"]', '[]', '[]', 'abuse@example.org',"
                " false, :now, :now) RETURNING id"),
                {"now": datetime(2026, 1, 1, tzinfo=UTC)}).scalar_one()
            conn.execute(text(
                "INSERT INTO crawls (site_id, status, created_at, pages_fetched, images_found,"
                " images_hashed, images_skipped, skipped_reasons, errors) VALUES (:site,"
                " 'finished', :now, 3, 2, 1, 1, '{\"too_large\": 1}', '{}')"),
                {"site": site_id, "now": datetime(2026, 1, 1, tzinfo=UTC)})
        database.upgrade()
        old = CrawlRepository(database).list()[0]
        assert (old.pages_fetched, old.skipped_reasons) == (3, {"too_large": 1})
        assert old.urls_skipped == {} and old.failure_reason is None

        database.downgrade("0001")
        columns = {c["name"] for c in inspect(database.engine).get_columns("crawls")}
        assert "urls_skipped" not in columns and "failure_reason" not in columns
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT pages_fetched FROM crawls")).scalar_one() == 3
        database.upgrade()
        assert CrawlRepository(database).get(old.id).urls_skipped == {}
    finally:
        database.dispose()


def test_migrations_that_copy_a_table_keep_the_rows_that_point_to_it(empty_db_url: str
                                                                     ) -> None:
    """SQLite alters a table by copy-and-drop; with foreign keys on, dropping `crawls` would
    cascade-delete every match and image event of every crawl. 0002's downgrade is such a
    copy."""
    database = Database(empty_db_url)
    try:
        database.upgrade()
        site_id = _site(database)
        crawl_id = _crawl(database, site_id)
        with database.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO image_events (crawl_id, site_id, url, url_key, sha256, status,"
                " recorded_at) VALUES (:crawl, :site, 'https://example.org/a.jpg', :key, '',"
                " 'hashed', :now)"),
                {"crawl": crawl_id, "site": site_id, "key": "k" * 64,
                 "now": datetime(2026, 1, 1, tzinfo=UTC)})
        database.downgrade("0001")
        database.upgrade()
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM image_events")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM crawls")).scalar_one() == 1
            if conn.dialect.name == "sqlite":  # and the foreign keys are back on afterwards
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        database.dispose()


_UPGRADE_SCRIPT = """
import sys
from spinneret.records.db import Database
db = Database(sys.argv[1])
db.upgrade()
print(db.current_revision())
"""


def test_concurrent_upgrade_from_several_processes(empty_db_url: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _UPGRADE_SCRIPT, empty_db_url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    head = Database.head_revision()
    for out, err, code in results:
        assert code == 0, err
        assert out.strip() == head


def test_sqlite_from_settings_creates_data_dir_with_wal_and_foreign_keys(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "dir")
    database = Database.from_settings(settings)
    try:
        database.upgrade()
        assert (tmp_path / "new" / "dir" / "spinneret.db").is_file()
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        database.dispose()


def test_plain_postgresql_url_uses_psycopg3() -> None:
    database = Database("postgresql://someone@127.0.0.1:1/nothing")
    assert database.url.drivername == "postgresql+psycopg"
    database.dispose()


def test_unreachable_database_is_one_clear_error(tmp_path) -> None:
    database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(RecordsError, match="cannot migrate database"):
        database.upgrade()
    database.dispose()


def test_readers_do_not_wait_for_an_open_writer(db: Database) -> None:
    _site(db, "committed")
    with db.session() as writer:
        writer.add(Crawl(site_id=SiteRepository(db).get("committed").id, status="queued",
                         skipped_reasons={}, errors={}))
        writer.flush()  # the write lock is held until this block ends
        assert [s.name for s in SiteRepository(db).list()] == ["committed"]
        assert CrawlRepository(db).list() == []  # not committed yet
    assert len(CrawlRepository(db).list()) == 1


# --- sites ----------------------------------------------------------------------------------


def test_site_add_get_list_update_remove(db: Database) -> None:
    repo = SiteRepository(db)
    added = repo.add(NewSite(
        base_url="https://Example.org/start", name="example", owner_email="abuse@example.org",
        abuse_email="noc@host.example", webhook_url="https://hooks.example.org/x",
        max_pages=50, max_depth=3, rate_per_s=2.5, include_patterns=("/gallery/",),
        exclude_patterns=("/private/",),
    ))
    assert added.hosts == ("example.org",)
    assert added.webhook_secret and len(added.webhook_secret) >= 32
    assert added.created_at.tzinfo is not None and added.created_at.utcoffset().total_seconds() == 0
    got = repo.get("example")
    assert got == added
    assert repo.get_by_id(added.id) == added
    _site(db, "another")
    assert [s.name for s in repo.list()] == ["another", "example"]

    updated = repo.update("example", max_pages=10, ignore_robots=True,
                          exclude_patterns=["/a", "/b"])
    assert (updated.max_pages, updated.ignore_robots) == (10, True)
    assert updated.exclude_patterns == ("/a", "/b")
    assert updated.webhook_secret == added.webhook_secret
    assert updated.updated_at >= added.updated_at
    with pytest.raises(InvalidSite):
        repo.update("example", base_url="ftp://example.org")
    with pytest.raises(InvalidSite, match="cannot change"):
        repo.update("example", name="renamed")
    assert repo.get("example").base_url == "https://Example.org/start"  # failed update: no change

    repo.remove("example")
    with pytest.raises(SiteNotFound, match="no site named 'example'"):
        repo.get("example")
    with pytest.raises(SiteNotFound):
        repo.remove("example")
    assert [s.name for s in repo.list()] == ["another"]


def test_site_duplicate_name(db: Database) -> None:
    _site(db)
    with pytest.raises(SiteExists, match="'example' already exists"):
        _site(db)
    assert len(SiteRepository(db).list()) == 1


@pytest.mark.parametrize("url", [
    "example.org", "ftp://example.org", "https://", "http:///path", "https://exa mple.org",
    "https://example.org:99999/", "", "javascript:alert(1)",
])
def test_site_bad_url_rejected(db: Database, url: str) -> None:
    with pytest.raises(InvalidSite):
        SiteRepository(db).add(NewSite(base_url=url, name="x", owner_email="a@b.example"))
    assert SiteRepository(db).list() == []


@pytest.mark.parametrize("changes", [
    {"name": "bad name"}, {"owner_email": "not-an-email"}, {"max_pages": 0},
    {"max_depth": -1}, {"rate_per_s": 0}, {"webhook_url": "mailto:x@y"},
    {"include_patterns": ("",)},
])
def test_site_bad_fields_rejected(db: Database, changes: dict) -> None:
    fields = dict(base_url="https://example.org", name="ok", owner_email="a@b.example")
    fields.update(changes)
    with pytest.raises(InvalidSite):
        SiteRepository(db).add(NewSite(**fields))


def test_add_site_audits_ignore_robots(db: Database) -> None:
    site = add_site(db, NewSite(base_url="https://example.org", name="ex",
                                owner_email="a@example.org", ignore_robots=True), actor="cli:tester")
    events = AuditLog(db).list(target="site:ex")
    assert {e.action for e in events} == {"site.add", "site.ignore_robots"}
    assert all(e.actor == "cli:tester" for e in events)
    robots = next(e for e in events if e.action == "site.ignore_robots")
    assert robots.details["id"] == site.id and robots.details["ignore_robots"] is True

    add_site(db, NewSite(base_url="https://b.example", name="polite", owner_email="a@b.example"),
             actor="cli:tester")
    assert [e.action for e in AuditLog(db).list(target="site:polite")] == ["site.add"]
    remove_site(db, "polite", actor="cli:tester")
    assert AuditLog(db).list(action="site.remove")[0].target == "site:polite"


def test_removing_site_cascades(db: Database) -> None:
    site_id = _site(db)
    crawl_id = _crawl(db, site_id)
    ImageRecorder(db).record_image(crawl_id, site_id, PAGE, IMG, SHA_A, matches=[_match()])
    SiteRepository(db).remove("example")
    with db.session() as s:
        assert s.scalar(select(Crawl.id)) is None
        assert s.scalar(select(Match.id)) is None
        assert s.scalar(select(SeenImage.id)) is None


# --- crawls ---------------------------------------------------------------------------------


def test_crawl_lifecycle_and_counts(db: Database) -> None:
    site_id = _site(db)
    repo = CrawlRepository(db)
    crawl = repo.create(site_id)
    assert (crawl.status, crawl.site_name, crawl.started_at) == ("queued", "example", None)
    running = repo.start(crawl.id)
    assert running.status == "running" and running.started_at is not None
    assert repo.start(crawl.id).started_at == running.started_at  # resume keeps the start

    recorder = ImageRecorder(db)
    recorder.record_image(crawl.id, site_id, PAGE, IMG, SHA_A)
    recorder.record_image(crawl.id, site_id, PAGE, IMG + "?2", SHA_B)
    recorder.record_skipped(crawl.id, site_id, PAGE, IMG + "?big", "too_large")
    assert running.urls_skipped == {} and running.failure_reason is None
    done = repo.finish(crawl.id, CrawlFinish(
        pages_fetched=7, images_found=5, skipped_reasons={"robots": 2},
        errors={"timeout": 1}, duration_s=1.5, urls_skipped={"out_of_scope": 4, "robots": 1},
    ))
    assert done.status == "finished" and done.finished_at is not None
    assert (done.pages_fetched, done.images_found, done.images_hashed) == (7, 5, 2)
    assert done.images_skipped == 3
    assert done.skipped_reasons == {"too_large": 1, "robots": 2}
    assert done.errors == {"timeout": 1} and done.duration_s == 1.5
    assert done.urls_skipped == {"out_of_scope": 4, "robots": 1} and done.failure_reason is None
    assert repo.get(crawl.id) == done

    with pytest.raises(InvalidCrawlState, match="already finished"):
        repo.finish(crawl.id)
    with pytest.raises(InvalidCrawlState):
        repo.start(crawl.id)
    with pytest.raises(InvalidCrawlState):
        repo.finish(repo.create(site_id).id, CrawlFinish(status="running"))
    refused = repo.create(site_id)
    repo.start(refused.id)
    failed = repo.finish(refused.id, CrawlFinish(
        status="failed", urls_skipped={"robots": 1}, failure_reason="start URL refused: robots"))
    assert failed.status == "failed" and failed.failure_reason == "start URL refused: robots"
    assert repo.get(refused.id).urls_skipped == {"robots": 1}


def test_crawl_list_and_missing(db: Database) -> None:
    a, b = _site(db, "a"), _site(db, "b")
    ids = [CrawlRepository(db).create(site).id for site in (a, b, a)]
    repo = CrawlRepository(db)
    assert [c.id for c in repo.list()] == ids[::-1]
    assert [c.id for c in repo.list(site_id=a)] == [ids[2], ids[0]]
    repo.start(ids[1])
    assert [c.id for c in repo.list(status="running")] == [ids[1]]
    with pytest.raises(InvalidCrawlState):
        repo.list(status="bogus")
    with pytest.raises(CrawlNotFound, match="no crawl with id 999"):
        repo.get(999)
    with pytest.raises(SiteNotFound):
        repo.create(999)


# --- images and matches ---------------------------------------------------------------------


def test_record_image_is_idempotent(db: Database) -> None:
    site_id = _site(db)
    crawl_id = _crawl(db, site_id)
    recorder = ImageRecorder(db)
    matches = [_match("1" * 64), _match("2" * 64, decision="review")]
    assert recorder.record_image(crawl_id, site_id, PAGE, IMG, SHA_A.upper(), 64, 48, "PNG",
                                 matches) is True
    assert recorder.record_image(crawl_id, site_id, PAGE, IMG, SHA_A, 64, 48, "PNG",
                                 matches) is False
    events = recorder.events(crawl_id)
    assert [(e.url, e.sha256, e.status) for e in events] == [(IMG, SHA_A, "hashed")]
    found = MatchRepository(db).list(crawl_id=crawl_id)
    assert [(m.entry_hash, m.decision, m.status) for m in found] == [
        ("1" * 64, "auto", "new"), ("2" * 64, "review", "new"),
    ]
    assert found[0].category == "policy" and found[0].source == "test-authority"
    seen = recorder.seen(IMG, SHA_A)
    assert seen is not None and (seen.width, seen.height, seen.format) == (64, 48, "PNG")

    # The same URL with other bytes is another image; the same image in a later crawl is new.
    assert recorder.record_image(crawl_id, site_id, PAGE, IMG, SHA_B) is True
    later = _crawl(db, site_id)
    assert recorder.record_image(later, site_id, PAGE + "/2", IMG, SHA_A, matches=matches)
    again = recorder.seen(IMG, SHA_A)
    assert again.first_seen == seen.first_seen and again.last_seen >= seen.last_seen
    assert (again.last_crawl_id, again.page_url) == (later, PAGE + "/2")
    assert len(MatchRepository(db).list(site_id=site_id)) == 4


def test_record_image_concurrent_double_insert(empty_db_url: str) -> None:
    """Separate engines (separate connections) race to record the same image."""
    setup = Database(empty_db_url)
    setup.upgrade()
    site_id = _site(setup)
    crawl_id = _crawl(setup, site_id)
    workers = 6
    databases = [Database(empty_db_url) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    results: list[bool] = []
    failures: list[BaseException] = []

    def record(database: Database) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(ImageRecorder(database).record_image(
                crawl_id, site_id, PAGE, IMG, SHA_A, matches=[_match()]))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=record, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not failures, failures
        assert sorted(results) == [False] * (workers - 1) + [True]
        assert len(ImageRecorder(setup).events(crawl_id)) == 1
        assert len(MatchRepository(setup).list(crawl_id=crawl_id)) == 1
    finally:
        for database in (*databases, setup):
            database.dispose()


def test_record_skipped_is_idempotent_and_validated(db: Database) -> None:
    site_id = _site(db)
    crawl_id = _crawl(db, site_id)
    recorder = ImageRecorder(db)
    assert recorder.record_skipped(crawl_id, site_id, PAGE, IMG, "undecodable") is True
    assert recorder.record_skipped(crawl_id, site_id, PAGE, IMG, "undecodable") is False
    # Hashed later in the same crawl (other key: it has a sha256) is still recorded.
    assert recorder.record_image(crawl_id, site_id, PAGE, IMG, SHA_A) is True
    assert [e.status for e in recorder.events(crawl_id)] == ["skipped", "hashed"]
    with pytest.raises(InvalidImageRecord, match="reason"):
        recorder.record_skipped(crawl_id, site_id, PAGE, IMG + "x", " ")
    with pytest.raises(InvalidImageRecord, match="64 hexadecimal"):
        recorder.record_image(crawl_id, site_id, PAGE, IMG, "abc")
    with pytest.raises(InvalidImageRecord, match="decision"):
        recorder.record_image(crawl_id, site_id, PAGE, IMG + "y", SHA_A,
                              matches=[_match(decision="maybe")])
    with pytest.raises(InvalidImageRecord, match="crawl 999"):
        recorder.record_image(999, site_id, PAGE, IMG + "z", SHA_A)
    assert len(recorder.events(crawl_id)) == 2  # failed calls recorded nothing


def test_long_data_uri_is_recorded(db: Database) -> None:
    site_id = _site(db)
    crawl_id = _crawl(db, site_id)
    uri = "data:image/png;base64," + "QUJD" * 5000
    recorder = ImageRecorder(db)
    assert recorder.record_image(crawl_id, site_id, PAGE, uri, SHA_A, matches=[_match()])
    assert not recorder.record_image(crawl_id, site_id, PAGE, uri, SHA_A, matches=[_match()])
    assert recorder.seen(uri, SHA_A).url == uri


def test_rejected_match_is_suppressed_next_time(db: Database) -> None:
    site_id = _site(db)
    entry = "9" * 64
    with db.session() as session:
        session.add(Suppression(image_url=IMG, image_url_key=url_key(IMG), list_name="demo-block",
                                algorithm="pdq", entry_hash=entry))
    crawl_id = _crawl(db, site_id)
    ImageRecorder(db).record_image(crawl_id, site_id, PAGE, IMG, SHA_A,
                                   matches=[_match(entry), _match("8" * 64)])
    statuses = {m.entry_hash: m.status for m in MatchRepository(db).list(crawl_id=crawl_id)}
    assert statuses == {entry: "suppressed", "8" * 64: "new"}


def test_match_repository_filters(db: Database) -> None:
    site_a, site_b = _site(db, "a"), _site(db, "b")
    crawl_a, crawl_b = _crawl(db, site_a), _crawl(db, site_b)
    recorder = ImageRecorder(db)
    recorder.record_image(crawl_a, site_a, PAGE, IMG, SHA_A,
                          matches=[_match("1" * 64), _match("2" * 64, decision="review")])
    recorder.record_image(crawl_b, site_b, PAGE, IMG, SHA_A, matches=[_match("3" * 64)])
    repo = MatchRepository(db)
    assert len(repo.list()) == 3
    assert [m.entry_hash for m in repo.list(site_id=site_b)] == ["3" * 64]
    assert [m.entry_hash for m in repo.list(decision="review")] == ["2" * 64]
    assert len(repo.list(crawl_id=crawl_a, status="new")) == 2
    assert repo.list(status="in_notice") == []
    first = repo.list()[0]
    assert repo.get(first.id) == first
    with pytest.raises(MatchNotFound):
        repo.get(10_000)
    with pytest.raises(RecordsError):
        repo.list(status="bogus")


# --- audit and time zones -------------------------------------------------------------------


def test_audit_log_write_and_list(db: Database) -> None:
    log = AuditLog(db)
    first = log.write("alice", "list.import", "list:demo", {"added": 3})
    log.write("bob", "site.add", "site:x")
    assert first.details == {"added": 3} and first.at.tzinfo is not None
    assert [e.actor for e in log.list()] == ["bob", "alice"]
    assert [e.action for e in log.list(target="list:demo")] == ["list.import"]
    assert len(log.list(limit=1)) == 1


def test_timestamps_are_utc_and_naive_ones_are_refused(db: Database) -> None:
    site_id = _site(db)
    with db.session() as session:
        crawl = session.get(Crawl, CrawlRepository(db).create(site_id).id)
        assert crawl.created_at.tzinfo == UTC
    with pytest.raises(Exception, match="naive datetime"):
        with db.session() as session:
            crawl = session.get(Crawl, crawl.id)
            crawl.started_at = datetime(2024, 1, 1)
    with db.session() as session:
        assert session.execute(text("SELECT started_at FROM crawls")).scalar() is None
