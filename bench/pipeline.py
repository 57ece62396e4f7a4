"""Crawl-to-recorded-decision throughput through real Celery workers, side by side with a
naive in-process loop over the same images.

    python bench/pipeline.py [--images 300] [--workers 2] [--runs 3] [--quick]

A loopback site (aiohttp, separate process) serves web-sized synthetic JPEGs (~1024x768,
distinct bytes each). Ours: `run_crawl` with the Celery pipeline, `spinneret worker
--concurrency N` processes hashing, matching against a loaded list and recording in SQLite;
timed from the start of the crawl until every image has its SQL record. Baseline: the same
image bytes hashed one after another in one process, naively (Pillow open -> imagehash pHash,
dHash, pdqhash on the full image, hashlib), with no crawling, matching or recording at all.
Prints a table and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import redis  # noqa: E402
from PIL import Image  # noqa: E402

from bench.baselines import naive  # noqa: E402
from bench.crawl import free_port, wait_for  # noqa: E402
from spinneret.config import Settings  # noqa: E402
from spinneret.demo.images import generate  # noqa: E402

RESULTS = REPO / "bench" / "results" / "pipeline.json"


def make_images(count: int) -> list[bytes]:
    """Distinct photo-like 1024x768 JPEGs (a few scenes, each with its own noise)."""
    bases = [generate(seed, (512, 384)).resize((1024, 768), Image.Resampling.BICUBIC)
             for seed in range(8)]
    rng = np.random.default_rng(7)
    out = []
    for n in range(count):
        pixels = np.asarray(bases[n % len(bases)]).astype(np.int16)
        pixels = pixels + rng.integers(-3, 4, pixels.shape, dtype=np.int16)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def serve(port: int, images: list[bytes], ready) -> None:
    from aiohttp import web

    per_page = 10
    pages = (len(images) + per_page - 1) // per_page

    async def index(_):
        links = "".join(f'<a href="/p{n}.html">{n}</a>' for n in range(pages))
        return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")

    async def page(request):
        n = int(request.match_info["n"])
        tags = "".join(f'<img src="/i{k}.jpg">'
                       for k in range(n * per_page, min(len(images), (n + 1) * per_page)))
        return web.Response(text=f"<html><body>{tags}</body></html>", content_type="text/html")

    async def image(request):
        return web.Response(body=images[int(request.match_info["k"])], content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/p{n:\\d+}.html", page)
    app.router.add_get("/i{k:\\d+}.jpg", image)
    ready.set()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def naive_loop(images: list[bytes]) -> float:
    start = time.perf_counter()
    for data in images:
        naive(data)
    return time.perf_counter() - start


def redis_url() -> tuple[str, object | None]:
    url = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return url, None
    except redis.RedisError:
        from spinneret.runtime.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
        return embedded.ensure_running(), embedded


def run_ours(base_url: str, images: list[bytes], workers: int, url: str) -> dict:
    from spinneret.matcher.hashing import hash_image
    from spinneret.matcher.store import ListEntry
    from spinneret.records.sites import SiteRepository
    from spinneret.records.types import NewSite
    from spinneret.runtime.celery_app import configure
    from spinneret.runtime.context import AppContext
    from spinneret.runtime.crawling import run_crawl
    from tests.worker_helpers import WorkerProcess

    data_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=data_dir, redis_url=url, redis_key_prefix=prefix,
                        allow_private_networks=True, pipeline="celery", queue_max_depth=200)
    context = AppContext(settings)
    _ = context.db
    # A list to match against: hashes of a few of the served images, and 10,000 random PDQs.
    entries = [ListEntry(v.algorithm, v.hex, "listed") for data in images[:5]
               for v in hash_image(data).values]
    rng = np.random.default_rng(1)
    entries += [ListEntry("pdq", rng.bytes(32).hex()) for _ in range(10_000)]
    context.store.replace_list("bench", entries)
    SiteRepository(context.db).add(NewSite(base_url=base_url, name="bench",
                                           owner_email="o@example.invalid", rate_per_s=10_000))
    celery_app = configure(settings, url)
    worker = WorkerProcess.start(settings, data_dir / "worker.log", concurrency=workers)
    try:
        worker.wait_ready(celery_app)
        start = time.perf_counter()
        summary = asyncio.run(run_crawl(context, "bench"))
        elapsed = time.perf_counter() - start
    finally:
        worker.stop()
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    return {"seconds": elapsed, "recorded": summary.crawl.images_hashed,
            "matches": sum(summary.matches_by_list.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="40 images, one run")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.runs = 40, 1

    images = make_images(args.images)
    port = free_port()
    ready = multiprocessing.get_context("spawn").Event()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(port, images, ready), daemon=True)
    server.start()
    ready.wait(30)
    wait_for(port)
    url, embedded = redis_url()
    try:
        naive_times = [naive_loop(images) for _ in range(args.runs)]
        ours = [run_ours(f"http://127.0.0.1:{port}/", images, args.workers, url)
                for _ in range(args.runs)]
    finally:
        server.terminate()
        if embedded is not None:
            embedded.stop()
    naive_s = statistics.median(naive_times)
    ours_s = statistics.median(run["seconds"] for run in ours)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "images": args.images, "workers": args.workers, "runs": args.runs,
        "naive_in_process_images_per_s": args.images / naive_s,
        "pipeline_images_per_s": args.images / ours_s,
        "ratio": naive_s / ours_s,
        "recorded": [run["recorded"] for run in ours],
        "matches": [run["matches"] for run in ours],
    }
    print(f"{'path':<44}{'images/s':>10}")
    print(f"{'naive in-process loop (hash only, 1 proc)':<44}"
          f"{result['naive_in_process_images_per_s']:>10.1f}")
    print(f"{f'crawl -> {args.workers} workers -> SQL record':<44}"
          f"{result['pipeline_images_per_s']:>10.1f}")
    print(f"ratio (ours / naive): {result['ratio']:.2f}x   "
          f"recorded {result['recorded']} of {args.images}; load {result['load_average']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    return 0 if all(r == args.images for r in result["recorded"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
