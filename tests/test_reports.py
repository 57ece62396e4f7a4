"""Reported URLs end to end: a loopback site (tests/sites.py), the real Redis, SQLite or
PostgreSQL, the local SMTP server; the report runs in-process as the CLI runs it."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from spinneret.matcher.store import ListEntry
from spinneret.notices.service import NoticeService
from spinneret.records.crawls import CrawlRepository
from spinneret.records.reports import ReportRepository, site_for_url
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.context import AppContext
from spinneret.runtime.recheck import notice_service
from spinneret.runtime.reports import HourlyLimit, run_report_in_process
from spinneret.runtime.scheduling import due_sites
from tests.sites import REQUEST_LOG, Route, build_site, html
from tests.worker_helpers import photo_jpeg

LISTED = photo_jpeg(11, (320, 240))
UNLISTED = photo_jpeg(12, (320, 240))


class ServedSite:
    """A tests/sites.py app served on loopback from its own thread and event loop, so the
    code under test can run its own `asyncio.run` (as the CLI does)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.app = build_site(routes)
        self.routes = routes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        from spinneret.demo.site import serve_on_loopback

        self._runner, self.base_url = asyncio.run_coroutine_threadsafe(
            serve_on_loopback(self.app), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def page_routes() -> dict[str, Route]:
    return {
        "/": Route(html('<img src="/listed.jpg"><img src="/other.jpg"><a href="/next">n</a>')),
        "/clean": Route(html('<img src="/other.jpg">')),
        "/listed.jpg": Route(LISTED, "image/jpeg"),
        "/other.jpg": Route(UNLISTED, "image/jpeg"),
        "/next": Route(html('<img src="/never.jpg">')),
        "/never.jpg": Route(LISTED, "image/jpeg"),
    }


@pytest.fixture
def site():
    served = ServedSite(page_routes())
    yield served
    served.stop()


@pytest.fixture
def context(settings, smtp):
    settings = settings.model_copy(update={
        "notice_batch_window_s": 0, "smtp_port": smtp.port, "smtp_timeout_s": 5,
        "fetch_timeout_s": 2.0, "max_retries": 0,
    })
    ctx = AppContext(settings)
    ctx.store.replace_list("authority", [ListEntry("sha256", hashlib.sha256(LISTED).hexdigest(),
                                                   "probe")], source="test")
    yield ctx
    ctx.close()


def register(context, site, owner_email="owner@example.org"):
    return SiteRepository(context.db).add(NewSite(
        base_url=site.base_url, name="registered", owner_email=owner_email, rate_per_s=1000))


def report(context, url, note="seen on a forum"):
    created = ReportRepository(context.db).create(url, note, "tester")
    return run_report_in_process(context, created.id)


def test_matching_report_is_noticed_emailed_then_removed(context, site, smtp):
    registered = register(context, site)
    done = report(context, site.base_url)
    assert done.status == "noticed", done.reason
    assert (done.site_id, done.site_origin) == (registered.id, "registered")
    assert (done.pages_fetched, done.images_found, done.images_hashed, done.matches) == (1, 2, 2, 1)
    # One hop: the linked page and its image were never fetched.
    paths = [r.path for r in site.app[REQUEST_LOG]]
    assert "/next" not in paths and "/never.jpg" not in paths
    notices = notice_service(context.db, context.settings)  # with the recheck wired
    sent = asyncio.run(notices.send_once())
    assert len(sent.sent) == 1
    [message] = smtp.messages
    assert message.rcpt_tos == ["owner@example.org"]
    assert f"{site.base_url}listed.jpg" in message.message.get_body(("plain",)).get_content()
    [notice_id] = done.notice_ids
    site.routes["/listed.jpg"] = Route("gone", status=404)
    asyncio.run(notices.recheck_notice(notice_id, actor="test"))
    assert ReportRepository(context.db).get(done.id).status == "removed"


def test_unregistered_host_gets_a_reported_site_and_no_contact_is_recorded(context, site):
    done = report(context, site.base_url)
    assert (done.status, done.reason) == ("matched", "no contact")
    assert done.site_origin == "reported" and done.site_name == "reported-127.0.0.1"
    # Reused by the next report of that host; never crawled on schedule.
    assert site_for_url(context.db, site.base_url + "clean").id == done.site_id
    assert [s.name for s in SiteRepository(context.db).list(origin="registered")] == []
    assert due_sites(context, 3600) == []
    # The beat's grouping later makes a notice that has no channel: still "no contact".
    asyncio.run(NoticeService(context.db, context.settings).send_once())
    again = ReportRepository(context.db).get(done.id)
    assert (again.status, again.reason) == ("matched", "no contact")


def test_report_without_a_listed_image_ends_no_match(context, site):
    register(context, site)
    done = report(context, site.base_url + "clean")
    assert (done.status, done.images_hashed, done.matches) == ("no_match", 1, 0)


def test_reported_image_url_is_matched_itself(context, site):
    register(context, site)
    done = report(context, site.base_url + "listed.jpg")
    assert done.status == "noticed" and done.images_found == 1


def test_private_address_is_refused_by_the_ssrf_guard(context, site):
    strict = AppContext(context.settings.model_copy(update={"allow_private_networks": False}))
    try:
        created = ReportRepository(strict.db).create(site.base_url, "x", "tester")
        done = run_report_in_process(strict, created.id)
    finally:
        strict.close()
    assert done.status == "failed" and done.reason.startswith("ssrf_blocked")
    assert not site.app[REQUEST_LOG]


def test_timeout_fails_clearly_and_keeps_the_report(context, site):
    site.routes["/slow"] = Route(html("<img src='/listed.jpg'>"), delay_s=5)
    done = report(context, site.base_url + "slow", note="keep me")
    assert done.status == "failed" and done.reason.startswith("timeout")
    assert (done.url, done.note, done.reporter) == (site.base_url + "slow", "keep me", "tester")
    assert CrawlRepository(context.db).get(done.crawl_id).status == "failed"


@pytest.mark.parametrize(("route", "kind"), [
    (Route(b"\x00\x01garbage\xff" * 50, "application/octet-stream"), "not_html"),
    (Route(b"not gzip at all", "text/html", headers={"Content-Encoding": "gzip"}), None),
    (Route("nothing here", status=404), "http_404"),
])
def test_unreadable_page_fails_with_the_reason(context, site, route, kind):
    site.routes["/bad"] = route
    done = report(context, site.base_url + "bad")
    assert done.status == "failed" and done.reason
    if kind:
        assert done.reason.startswith(kind)


def test_report_crawls_are_not_resumed_or_scheduled_as_site_crawls(context, site):
    registered = register(context, site)
    done = report(context, site.base_url + "clean")
    crawls = CrawlRepository(context.db)
    assert [c.id for c in crawls.list(site_id=registered.id)] == [done.crawl_id]
    assert crawls.list(site_id=registered.id, reports=False) == []
    assert due_sites(context, 3600) == ["registered"]  # as if never crawled


def test_a_report_ended_is_not_run_again(context, site):
    register(context, site)
    done = report(context, site.base_url + "clean")
    before = len(site.app[REQUEST_LOG])
    assert run_report_in_process(context, done.id).status == "no_match"
    assert len(site.app[REQUEST_LOG]) == before


def test_bad_urls_are_refused_with_a_clear_error(context):
    from spinneret.records.errors import InvalidReport

    for url in ("", "ftp://x.example/", "http:///nohost", "http://x.example/a b"):
        with pytest.raises(InvalidReport):
            ReportRepository(context.db).create(url, "", "tester")
    assert ReportRepository(context.db).list() == []


def test_hourly_limit_counts_per_caller_in_redis(context):
    limit = HourlyLimit(context.redis, context.settings.redis_key_prefix, 2)
    now = 7200.0 + 600
    assert limit.take("a", now) is None and limit.take("a", now) is None
    assert limit.take("a", now) == 3000  # until the next clock hour
    assert limit.take("b", now) is None
    assert limit.take("a", now + 3000) is None  # a new hour


def test_cli_report_prints_id_and_status_and_lists_it(cli, cli_env, site, settings):
    context = AppContext(settings)
    context.store.replace_list("authority", [ListEntry(
        "sha256", hashlib.sha256(LISTED).hexdigest(), "probe")], source="test")
    context.close()
    code, out, err = cli("report", site.base_url, "--note", "from the hotline form")
    assert code == 0, err
    assert "report 1: queued" in out and "report 1: matched (no contact)" in out
    code, out, _ = cli("reports", "ls")
    assert code == 0 and "no contact" in out and "127.0.0.1" in out
    code, out, _ = cli("reports", "show", "1", "--format", "json")
    assert code == 0 and '"note": "from the hotline form"' in out
    code, _, err = cli("report", "ftp://x.example/")
    assert code == 2 and "not an http(s) URL" in err
    code, _, err = cli("reports", "show", "99")
    assert code == 2 and "no report with id 99" in err


def test_migration_0006_keeps_every_site_and_its_crawls_both_ways(empty_db_url):
    from datetime import UTC, datetime

    from sqlalchemy import inspect, text

    from spinneret.records.db import Database

    database = Database(empty_db_url)
    try:
        database.upgrade("0003")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with database.engine.begin() as conn:  # a site and its crawl from before reports
            site_id = conn.execute(text(
                "INSERT INTO sites (name, base_url, hosts, include_patterns, exclude_patterns,"
                " owner_email, ignore_robots, created_at, updated_at) VALUES ('old',"
                " 'https://old.example', '[]', '[]', '[]', 'o@old.example', false, :now, :now)"
                " RETURNING id"), {"now": now}).scalar_one()
            conn.execute(text(
                "INSERT INTO crawls (site_id, status, created_at, pages_fetched, images_found,"
                " images_hashed, images_skipped, skipped_reasons, errors, urls_skipped) VALUES"
                " (:site, 'finished', :now, 3, 0, 0, 0, '{}', '{}', '{}')"),
                {"site": site_id, "now": now})
        database.upgrade()
        [old] = SiteRepository(database).list()
        assert old.origin == "registered"
        assert [c.pages_fetched for c in CrawlRepository(database).list()] == [3]
        database.downgrade("0003")
        assert "reports" not in inspect(database.engine).get_table_names()
        assert "origin" not in {c["name"] for c in inspect(database.engine).get_columns("sites")}
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM crawls")).scalar_one() == 1
        database.upgrade()
    finally:
        database.dispose()


def test_cli_report_runs_on_a_celery_worker(cli, cli_env, site, settings, tmp_path, monkeypatch):
    """Pipeline "celery": the CLI sends the task by name and waits; a real `spinneret worker`
    fetches, matches and records the report."""
    from spinneret.config import reset_settings_cache
    from tests.worker_helpers import WorkerProcess

    context = AppContext(settings)
    context.store.replace_list("authority", [ListEntry(
        "sha256", hashlib.sha256(LISTED).hexdigest(), "probe")], source="test")
    register(context, site)
    context.close()
    monkeypatch.setenv("SPINNERET_PIPELINE", "celery")
    reset_settings_cache()
    worker = WorkerProcess.start(settings, tmp_path / "worker.log", concurrency=1,
                                 SPINNERET_ALLOW_PRIVATE_NETWORKS="true")
    try:
        worker.wait_ready()
        code, out, err = cli("report", site.base_url, "--wait", "120")
    finally:
        worker.stop()
    assert code == 0, err + (tmp_path / "worker.log").read_text()[-3000:]
    assert "report 1: noticed" in out
    paths = [r.path for r in site.app[REQUEST_LOG]]
    assert paths.count("/") == 1 and "/next" not in paths
