"""Celery beat drives notice delivery: `spinneret beat` schedules the send task, a real
`spinneret worker` runs it, a real SMTP server on loopback receives the notice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.sites import SiteRepository
from spinneret.records.types import MatchRecordInput, NewSite
from spinneret.runtime.context import AppContext
from tests.notices.smtp_server import SmtpServer
from tests.worker_helpers import WorkerProcess, worker_env


def test_beat_schedules_delivery_of_a_new_auto_match(settings, tmp_path):
    smtp = SmtpServer().start()
    notice_env = {
        "SPINNERET_SMTP_HOST": "127.0.0.1",
        "SPINNERET_SMTP_PORT": str(smtp.port),
        "SPINNERET_NOTICE_BATCH_WINDOW_S": "0",
        "SPINNERET_NOTICE_SEND_INTERVAL_S": "1",
        "SPINNERET_RECHECK_POLL_INTERVAL_S": "3600",
    }
    context = AppContext(settings)
    site = SiteRepository(context.db).add(NewSite(
        base_url="http://images.example.invalid/", name="beat-site",
        owner_email="owner@example.invalid"))
    crawl = CrawlRepository(context.db).create(site.id)
    sha = "ab" * 32
    ImageRecorder(context.db).record_image(
        crawl.id, site.id, "http://images.example.invalid/", "http://images.example.invalid/a.jpg",
        sha, matches=[MatchRecordInput(list_name="authority", algorithm="sha256", entry_hash=sha,
                                       query_hash=sha, distance=0, decision="auto",
                                       category="illegal", source="Test authority")],
    )
    worker = WorkerProcess.start(settings, tmp_path / "worker.log", concurrency=1, **notice_env)
    beat_log = open(tmp_path / "beat.log", "ab")
    beat = subprocess.Popen(
        [sys.executable, "-m", "spinneret", "beat", "--loglevel=INFO"],
        stdout=beat_log, stderr=subprocess.STDOUT, env=worker_env(settings, **notice_env),
        start_new_session=True,
    )
    try:
        worker.wait_ready()
        deadline = time.monotonic() + 90
        while not smtp.handler.messages and time.monotonic() < deadline:
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()[-2000:]
            time.sleep(0.2)
        assert smtp.handler.messages, (tmp_path / "beat.log").read_text()[-2000:]
        message = smtp.handler.messages[0]
        assert message.rcpt_tos == ["owner@example.invalid"]
        assert "http://images.example.invalid/a.jpg" in message.message.get_body(
            ("plain",)).get_content()
        time.sleep(2.5)  # further beat ticks must not send it again
        assert len(smtp.handler.messages) == 1
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
        beat_log.close()
        worker.stop()
        smtp.stop()
        context.close()
