"""`spinneret demo`: the whole loop on one machine, nothing pre-installed.

Embedded Redis + SQLite, one Celery worker process, a generated benign demo site on
loopback, the shipped demo hash list, a crawl with a progress bar and a summary.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiohttp import web

from spinneret.demo.site import DemoSite, serve_on_loopback
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.store import ListEntry
from spinneret.notices.outbox import OutboxResult
from spinneret.notices.recheck import RecheckResult
from spinneret.records.errors import SiteNotFound
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import CrawlSummary, child_env
from spinneret.runtime.recheck import notice_service

DEMO_LIST = "demo-authority"
#: Imported after the crawl: hashes of photos the crawl saw but no list named then.
RETRO_LIST = "demo-authority-2"
RETRO_IMAGES = 3
RETRO_TIMEOUT_S = 60.0
DEMO_SITE = "demo"
DEMO_OWNER = "owner@demo-site.invalid"
WORKER_START_TIMEOUT_S = 60.0
DEMO_RATE = 500.0  # requests/s: the demo site is our own loopback server


def demo_list_entries() -> list[ListEntry]:
    text = resources.files("spinneret.demo").joinpath("demo_list.csv").read_text()
    return [
        ListEntry(row["algorithm"], row["hash"], row.get("label", ""), row.get("source_id", ""))
        for row in csv.DictReader(text.splitlines())
    ]


def import_demo_list(context: AppContext):
    return context.store.replace_list(
        DEMO_LIST,
        demo_list_entries(),
        kind="block",
        source="Spinneret demo authority (synthetic images)",
        category="demo (benign synthetic images)",
        description="Hashes of 20 synthetic demo images; nothing real.",
        by="spinneret demo",
    )


def register_demo_site(context: AppContext, base_url: str, owner_email: str) -> None:
    """(Re)point the demo site at this run's loopback port."""
    sites = SiteRepository(context.db)
    try:
        sites.get(DEMO_SITE)
        sites.update(DEMO_SITE, base_url=base_url, hosts=("127.0.0.1",), rate_per_s=DEMO_RATE)
    except SiteNotFound:
        sites.add(
            NewSite(
                name=DEMO_SITE,
                base_url=base_url,
                owner_email=owner_email,
                hosts=("127.0.0.1",),
                rate_per_s=DEMO_RATE,
            )
        )


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, context: AppContext, concurrency: int = 1) -> WorkerProcess:
        log_path = context.settings.data_dir / "demo-worker.log"
        env = {**os.environ, **child_env(context), "SPINNERET_PIPELINE": "celery"}
        if context.settings.allow_private_networks:  # its retro-match rechecks loopback
            env["SPINNERET_ALLOW_PRIVATE_NETWORKS"] = "true"
        env["SPINNERET_LIST_FLOOD_SHARE"] = str(context.settings.list_flood_share)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "spinneret", "worker", f"--concurrency={concurrency}",
                 "--loglevel=INFO"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return cls(process, log_path)

    def wait_ready(self, celery_app, timeout_s: float = WORKER_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited early; see {self.log_path}")
            if celery_app.control.ping(timeout=0.5):
                return
        raise RuntimeError(f"the worker did not start in {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown: finish current task
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


async def serve_site(site: DemoSite) -> tuple[web.AppRunner, str]:
    return await serve_on_loopback(site.app())


def demo_context(base: AppContext, smtp_port: int | None = None) -> AppContext:
    """The demo crawls loopback, hands images to a worker process and mails its notices
    at once to the local sink."""
    # The demo site is built so that 20 of its few dozen images are listed: the flood guard
    # would rightly take that for a bad import and hold its notices for review.
    update: dict = {"allow_private_networks": True, "pipeline": "celery",
                    "list_flood_share": 0.0}
    if smtp_port is not None:
        update.update(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_starttls=False,
            notice_batch_window_s=0.0,
            mail_from="Spinneret demo <notices@spinneret-demo.invalid>",
            # Demo values, stated as such: every message says it is a demo.
            notice_demo=True,
            notice_sender_organisation="Spinneret demo (not a real hotline)",
            notice_contact_email="notices@spinneret-demo.invalid",
            notice_legal_basis="none: a demonstration on a generated site with benign images",
        )
    return AppContext(base.settings.model_copy(update=update))


@dataclass
class DemoOutcome:
    crawl: CrawlSummary
    sent: OutboxResult | None = None
    removed_by_owner: list[str] = field(default_factory=list)
    recheck: RecheckResult | None = None
    #: The second list's retro-match (runtime.retro_match), and the photo taken down first.
    retro: object | None = None
    retro_removed: str | None = None


async def run_demo_loop(
    context: AppContext, site: DemoSite, on_progress, *, notices: bool = True
) -> DemoOutcome:
    """Serve the site, crawl it, send the notices, let the owner remove half, recheck."""
    from spinneret.runtime.crawling import run_crawl

    runner, base_url = await serve_site(site)
    try:
        register_demo_site(context, base_url, DEMO_OWNER)
        outcome = DemoOutcome(await run_crawl(context, DEMO_SITE, on_progress=on_progress))
        if not notices:
            await _retro_match(context, site, outcome)
            return outcome
        service = notice_service(context.db, context.settings)
        outcome.sent = await service.send_once()
        # The owner takes down every other listed image; the recheck should notice.
        for image in site.listed[::2]:
            site.remove(image.path)
            outcome.removed_by_owner.append(image.path)
        outcome.recheck, _ = await service.recheck_once()
        await _retro_match(context, site, outcome)
        return outcome
    finally:
        await runner.cleanup()


async def _retro_match(context: AppContext, site: DemoSite, outcome: DemoOutcome) -> None:
    """After the crawl, an authority sends a second list naming photos the crawl already
    saw (one of them taken down since): retro-match finds the others without a new crawl."""
    from spinneret.runtime.retro_match import RetroResults, start_retro_match

    photos = site.unlisted[:RETRO_IMAGES]
    entries = []
    for image in photos:
        pdq = hash_image(image.data, HashOptions(("pdq",))).get("pdq")
        entries.append(ListEntry("pdq", pdq.hex, f"demo photo {image.seed}",
                                 f"photo-{image.seed:04d}"))
    site.remove(photos[0].path)
    outcome.retro_removed = photos[0].path
    imported = await asyncio.to_thread(
        context.store.replace_list, RETRO_LIST, entries, kind="block",
        source="Spinneret demo authority, second list (synthetic images)",
        category="demo (benign synthetic images)", by="spinneret demo")
    result = await asyncio.to_thread(start_retro_match, context, RETRO_LIST, imported.version)
    results = RetroResults(context.store)
    deadline = time.monotonic() + RETRO_TIMEOUT_S
    while result.status in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # the worker runs it (Celery pipeline)
        result = await asyncio.to_thread(results.get, RETRO_LIST, imported.version) or result
    outcome.retro = result


def run_demo(context: AppContext, site: DemoSite, on_progress, **kwargs) -> DemoOutcome:
    return asyncio.run(run_demo_loop(context, site, on_progress, **kwargs))
