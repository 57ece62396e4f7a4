"""Image tasks that cannot finish still end with a record, through a real worker process:
the soft time limit, a worker killed under a task by the hard limit, a transient database
outage (retried, recorded once), and the image-bytes key deleted after use."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from spinneret.records.images import ImageRecorder
from spinneret.runtime.celery_app import configure
from spinneret.runtime.ledger import TaskLedger
from spinneret.runtime.sink import build_payload, send_image_task
from spinneret.worker.tasks import hash_and_match
from tests.sites import Route, build_site, html, png_bytes
from tests.worker_helpers import (
    WorkerProcess,
    crawl_on_loopback,
    found_image,
    new_crawl,
    pipeline_context,
    pool_children,
    slow_png,
)


@pytest.fixture
def context(settings):
    ctx = pipeline_context(settings)
    yield ctx
    ctx.close()


def _start_worker(context, tmp_path, **env: str) -> WorkerProcess:
    worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=1, **env)
    worker.wait_ready(configure(context.settings, context.redis_url))
    return worker


def _bytes_keys(context) -> list[bytes]:
    return list(context.transit_redis.scan_iter(match=f"{context.settings.redis_key_prefix}:imgbytes:*"))


def _wait_for_events(context, crawl_id: int, count: int, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        events = ImageRecorder(context.db).events(crawl_id)
        if len(events) >= count:
            return events
        assert time.monotonic() < deadline, f"{len(events)} of {count} images recorded"
        time.sleep(0.2)


def test_image_over_the_soft_time_limit_is_recorded_as_skipped_and_the_crawl_finishes(
    context, tmp_path
):
    worker = _start_worker(context, tmp_path, SPINNERET_TASK_SOFT_TIME_LIMIT_S="1",
                           SPINNERET_TASK_TIME_LIMIT_S="60")
    tags = "".join(f'<img src="/small-{n}.png">' for n in range(3)) + '<img src="/slow.png">'
    routes = {"/": Route(html(tags)), "/slow.png": Route(slow_png(), "image/png")}
    routes.update({f"/small-{n}.png": Route(png_bytes(n), "image/png") for n in range(3)})
    try:
        summary = crawl_on_loopback(context, build_site(routes))
    finally:
        worker.stop()

    assert summary.crawl.status == "finished"
    events = {e.url.rsplit("/", 1)[1]: e for e in ImageRecorder(context.db).events(
        summary.crawl.id)}
    assert set(events) == {"slow.png", "small-0.png", "small-1.png", "small-2.png"}
    assert events["slow.png"].status == "skipped"
    assert events["slow.png"].skip_reason == "hashing exceeded 1 s time limit"
    assert all(events[f"small-{n}.png"].status == "hashed" for n in range(3))
    assert not _bytes_keys(context), "the slow image's bytes key was deleted"
    assert TaskLedger(context.transit_redis, context.settings.redis_key_prefix).pending() == 0


def test_task_whose_worker_is_killed_under_it_is_skipped_after_max_attempts(
    context, tmp_path
):
    # A worker child killed mid-task (hard time limit, out of memory, a crash) never ends
    # the task: it is delivered again (by the broker, or re-sent from the ledger) and would
    # kill the next child too. Its starts are counted; past the bound it is recorded.
    worker = _start_worker(context, tmp_path, SPINNERET_TASK_MAX_ATTEMPTS="2",
                           SPINNERET_REDELIVER_AFTER_S="600")
    crawl = new_crawl(context)
    ledger = TaskLedger(context.transit_redis, context.settings.redis_key_prefix)
    try:
        payload = build_payload(found_image(crawl, "slow.png", slow_png()),
                                context.settings, context.transit_redis)
        task_id = send_image_task(payload, ledger)
        for start in (1, 2):
            deadline = time.monotonic() + 60
            while int(context.transit_redis.hget(ledger.starts_key, task_id) or 0) < start:
                assert time.monotonic() < deadline, f"start {start} never came"
                time.sleep(0.05)
            time.sleep(0.5)  # well inside the ~4 s the slow image takes to hash
            for pid in pool_children(worker.process.pid):
                os.kill(pid, signal.SIGKILL)
        [event] = _wait_for_events(context, crawl.id, 1, timeout_s=60)
    finally:
        worker.stop()
    assert event.status == "skipped"
    assert event.skip_reason.startswith("hashing did not finish in 2 attempts (its worker was "
                                        "killed")
    assert worker.log_path.read_text().count("WorkerLostError") >= 2
    assert ledger.pending() == 0, "crossed off: never delivered again"
    assert not context.transit_redis.exists(payload["data_key"])
    assert context.transit_redis.hget(ledger.starts_key, task_id) is None


def test_image_bytes_key_is_deleted_once_the_image_is_recorded(settings, tmp_path):
    context = pipeline_context(settings, inline_bytes_max=1)  # every image goes via a key
    worker = _start_worker(context, tmp_path)
    try:
        crawl = new_crawl(context)
        payload = build_payload(found_image(crawl, "a.png", png_bytes(7, (32, 32))),
                                context.settings, context.transit_redis)
        assert "data" not in payload and context.transit_redis.exists(payload["data_key"])
        result = hash_and_match.apply_async(args=[payload], ignore_result=False).get(timeout=60)
    finally:
        worker.stop()
        context.close()
    assert result["status"] == "hashed" and result["recorded"]
    assert not context.transit_redis.exists(payload["data_key"])
    assert [e.status for e in ImageRecorder(context.db).events(crawl.id)] == ["hashed"]


@pytest.fixture
def outage_database(postgres_database_url):
    """A PostgreSQL database of this test's own, and a switch that makes the server refuse
    connections to it (and drop the open ones), as during a database restart."""
    import psycopg

    from tests.records_fixtures import _admin_url

    admin = _admin_url()[0].replace("postgresql+psycopg://", "postgresql://")
    name = f"spinneret_outage_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def refuse(refused: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not refused).lower()}')
            if refused:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s", (name,))

    yield postgres_database_url.rsplit("/", 1)[0] + "/" + name, refuse
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_transient_database_outage_is_retried_and_the_image_recorded_once(
    settings, outage_database, tmp_path
):
    database_url, refuse = outage_database
    context = pipeline_context(settings, database_url=database_url)
    # No re-send from the ledger meanwhile: the retry alone must bring the record.
    worker = _start_worker(context, tmp_path, SPINNERET_REDELIVER_AFTER_S="600")
    try:
        crawl = new_crawl(context)
        payload = build_payload(found_image(crawl, "b.png", png_bytes(9, (32, 32))),
                                context.settings, context.transit_redis)
        refuse(True)
        try:
            async_result = hash_and_match.apply_async(args=[payload], ignore_result=False)
            deadline = time.monotonic() + 60
            while f"{async_result.id}] retry: Retry in" not in worker.log_path.read_text():
                assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
                time.sleep(0.1)
        finally:
            refuse(False)
        result = async_result.get(timeout=120)
    finally:
        worker.stop()
    log = worker.log_path.read_text()
    assert "OperationalError" in log
    assert result["status"] == "hashed" and result["retries"] >= 1
    events = ImageRecorder(context.db).events(crawl.id)
    assert [(e.url.rsplit("/", 1)[1], e.status) for e in events] == [("b.png", "hashed")]
    context.close()
