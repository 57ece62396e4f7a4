"""A real Celery worker process for tests, started through `spinneret worker`; pipeline
settings, loopback crawls, and images that are slow to hash."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from spinneret.config import Settings
from tests.conftest import sender_env


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SPINNERET_DATA_DIR": str(settings.data_dir),
        "SPINNERET_REDIS_URL": settings.redis_url or "",
        "SPINNERET_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SPINNERET_DATABASE_URL": settings.effective_database_url,
        "SPINNERET_INDEX_SYNC_INTERVAL_S": "0.2",
        "SPINNERET_BROKER_VISIBILITY_TIMEOUT_S": "4",
        "SPINNERET_REDELIVER_AFTER_S": "5",
        **sender_env(),
    }
    if settings.broker_url:  # e.g. RabbitMQ; else the worker uses the store's Redis
        env["SPINNERET_BROKER_URL"] = settings.broker_url
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, settings: Settings, log_path: Path, concurrency: int = 2,
              **extra_env: str) -> WorkerProcess:
        log = open(log_path, "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "spinneret", "worker", f"--concurrency={concurrency}",
             "--loglevel=INFO"],
            stdout=log, stderr=subprocess.STDOUT, env=worker_env(settings, **extra_env),
            start_new_session=True,
        )
        log.close()
        return cls(process, log_path)

    def wait_ready(self, celery_app=None, timeout_s: float = 60) -> None:
        """Wait for the worker's "ready" line (it logs it once it consumes its queues)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready: {self.log_path.read_text()[-3000:]}")

    def kill_hard(self) -> None:
        """kill -9 of the worker and its pool children."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_hard()
            except ProcessLookupError:
                pass


def pool_children(pid: int) -> list[int]:
    """Process ids of the prefork pool children of the worker whose main process is `pid`."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def new_crawl(context, name: str = "images"):
    """A crawl record of a new site `name` (for tasks sent directly, without a crawl)."""
    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.sites import SiteRepository
    from spinneret.records.types import NewSite

    site = SiteRepository(context.db).add(NewSite(
        base_url="http://images.example.invalid/", name=name, owner_email="owner@example.invalid"))
    return CrawlRepository(context.db).create(site.id)


def found_image(crawl, name: str, data: bytes):
    """An image of `crawl` at http://images.example.invalid/<name>, as the crawler hands it on."""
    from spinneret.crawler.types import FoundImage

    return FoundImage(url=f"http://images.example.invalid/{name}", page_url="http://x.invalid/",
                      data=data, content_type="image/png", site_id=crawl.site_id,
                      crawl_id=crawl.id, via="img")


def crawled(db, settings: Settings, base: str, images: dict[str, bytes], name: str = "site"
            ) -> tuple[int, int]:
    """Register site `name` at `base`, and run each image (path -> bytes) of one crawl of it
    through the crawl's pipeline (hash, match, record); returns (site id, crawl id)."""
    from spinneret.matcher.hashing import HashOptions
    from spinneret.matcher.matching import Matcher, Thresholds
    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.images import ImageRecorder
    from spinneret.records.sites import SiteRepository
    from spinneret.records.types import NewSite
    from spinneret.runtime.pipeline import ImageJob, ImageProcessor

    site_id = SiteRepository(db).add(NewSite(
        base_url=f"{base}/", name=name, owner_email="owner@example.invalid")).id
    crawl_id = CrawlRepository(db).create(site_id).id
    processor = ImageProcessor(Matcher(Thresholds.from_settings(settings)), ImageRecorder(db),
                               HashOptions.from_settings(settings))
    for path, data in images.items():
        processor.process(ImageJob(crawl_id, site_id, f"{base}/", base + path), data)
    return site_id, crawl_id


def pipeline_context(settings: Settings, **overrides):
    """An AppContext for the Celery pipeline on `settings` (database migrated)."""
    from spinneret.runtime.context import AppContext

    context = AppContext(settings.model_copy(update={
        "pipeline": "celery", "allow_private_networks": True, "index_sync_interval_s": 0.2,
        "broker_visibility_timeout_s": 4.0, **overrides,
    }))
    _ = context.db
    return context


def crawl_on_loopback(context, app, name: str = "testsite", rate_per_s: float = 1000,
                      **run_options):
    """Serve `app` on a loopback port, register it as site `name` and crawl it through the
    configured pipeline; returns `run_crawl`'s summary."""
    import asyncio

    from spinneret.demo.site import serve_on_loopback
    from spinneret.records.sites import SiteRepository
    from spinneret.records.types import NewSite
    from spinneret.runtime.crawling import run_crawl

    async def crawl():
        runner, base_url = await serve_on_loopback(app)
        try:
            SiteRepository(context.db).add(NewSite(
                base_url=base_url, name=name, owner_email="owner@example.invalid",
                rate_per_s=rate_per_s))
            return await run_crawl(context, name, **run_options)
        finally:
            await runner.cleanup()

    return asyncio.run(crawl())


def photo_jpeg(seed: int, size: tuple[int, int] = (1280, 960)) -> bytes:
    """A synthetic photo-like JPEG (the demo's image generator), distinct per seed."""
    from spinneret.demo.images import generate

    buffer = io.BytesIO()
    generate(seed, size).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def slow_png(private_chunks: int = 800_000) -> bytes:
    """A valid 64x64 PNG that takes seconds to decode: `private_chunks` empty private
    ancillary chunks (12 bytes each, ~9.6 MB by default, within every size limit), each of
    which Pillow reads in its Python chunk loop (~4 µs a chunk)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 160)).save(buffer, "PNG")
    png = buffer.getvalue()
    chunk = struct.pack(">I", 0) + b"spNr" + struct.pack(">I", zlib.crc32(b"spNr"))
    ihdr_end = 8 + 25  # signature, then the IHDR chunk, which must come first
    return png[:ihdr_end] + chunk * private_chunks + png[ihdr_end:]
