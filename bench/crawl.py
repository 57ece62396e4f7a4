"""Crawler throughput on a generated loopback site, side by side with
`wget --recursive --page-requisites` on the same site.

    python bench/crawl.py [--pages 10000] [--images 30000] [--redis redis://127.0.0.1:6379/15]

The site (served by aiohttp in a separate process) has nested directories, pages linking to
about five others (with cycles) and images reached through <img src>, srcset, <picture>,
lazy-load attributes and inline style. Images are a few tiny synthetic PNGs served under
distinct URLs. Our crawler hands each image to a sink that only counts. Prints a table and
writes bench/results/crawl.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "crawl.json"


# --- the site -------------------------------------------------------------------------------

def page_path(i: int) -> str:
    return f"/s{i // 100}/p{i}.html"


def page_html(i: int, pages: int, images: int) -> str:
    links = {(i + 1) % pages, (2 * i + 1) % pages, (2 * i + 2) % pages, i // 2,
             (i * 7919) % pages}
    first = i * images // pages
    last = (i + 1) * images // pages
    parts = []
    for n, k in enumerate(range(first, last)):
        src = f"/img/{k // 1000}/{k}.png"
        form = n % 4
        if form == 0:
            parts.append(f'<img src="{src}" alt="">')
        elif form == 1:
            parts.append(f'<img src="/img/spacer.png" srcset="{src} 2x">')
        elif form == 2:
            parts.append(f'<picture><source srcset="{src}"><img src="/img/spacer.png"></picture>')
        else:
            parts.append(f'<img data-src="{src}" src="/img/spacer.png">')
    anchors = "".join(f'<li><a href="{page_path(j)}">page {j}</a></li>' for j in sorted(links))
    return (f"<!DOCTYPE html><html><head><title>Page {i}</title></head><body>"
            f"<h1>Page {i}</h1><p>Synthetic benchmark page.</p>{''.join(parts)}"
            f"<ul>{anchors}</ul></body></html>")


def serve_site(port: int, pages: int, images: int, ready) -> None:
    from aiohttp import web
    from PIL import Image

    variants = []
    for seed in range(8):
        out = io.BytesIO()
        Image.new("RGB", (8, 8), (seed * 30, 200 - seed * 20, 90)).save(out, format="PNG")
        variants.append(out.getvalue())
    page_re = re.compile(r"^/s\d+/p(\d+)\.html$")
    img_re = re.compile(r"^/img/\d+/(\d+)\.png$")

    async def handle(request: web.Request) -> web.Response:
        path = request.path
        if path == "/":
            return web.Response(text=page_html(0, pages, images), content_type="text/html")
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow: /nowhere/\n")
        if path == "/img/spacer.png":
            return web.Response(body=variants[0], content_type="image/png")
        m = img_re.match(path)
        if m and int(m.group(1)) < images:
            return web.Response(body=variants[int(m.group(1)) % 8], content_type="image/png")
        m = page_re.match(path)
        if m and int(m.group(1)) < pages:
            return web.Response(text=page_html(int(m.group(1)), pages, images),
                                content_type="text/html")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    ready.set()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("benchmark site did not start")


# --- our crawler -----------------------------------------------------------------------------

class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.urls: set[str] = set()

    async def submit(self, image) -> None:
        self.count += 1
        self.urls.add(image.url)

    def needs_backout(self) -> bool:
        return False


async def run_ours(base: str, redis_url: str, pages: int, concurrency: int) -> dict:
    import redis.asyncio as aioredis

    from spinneret.crawler import Crawler, CrawlSettings, CrawlTarget, RedisFrontier

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = CrawlSettings(
        user_agent="SpinneretBot/0.1 (+https://example.org/spinneret-contact)",
        allow_private_networks=True, default_rate_per_s=1_000_000, per_host_concurrency=concurrency,
        crawl_concurrency=concurrency, default_max_pages=pages + 10, default_max_depth=10_000,
        redis_key_prefix=prefix)
    client = aioredis.Redis.from_url(redis_url)
    frontier = RedisFrontier(client, prefix, 1)
    sink = CountingSink()
    target = CrawlTarget.for_url(base + "/", max_query_variants=1_000_000)
    try:
        started = time.perf_counter()
        stats = await Crawler(target, settings, frontier, sink).run()
        elapsed = time.perf_counter() - started
    finally:
        await frontier.clear()
        await client.aclose()
    return {"seconds": elapsed, "pages": stats.pages_fetched, "images": sink.count,
            "image_urls": sink.urls, "requests": stats.requests,
            "errors": dict(stats.errors)}


# --- wget --------------------------------------------------------------------------------

def run_wget(base: str) -> dict | None:
    wget = shutil.which("wget")
    if wget is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "wget.log"
        started = time.perf_counter()
        subprocess.run(
            [wget, "--recursive", "--level=inf", "--page-requisites", "--no-verbose",
             "--delete-after", "--directory-prefix", tmp, "-o", str(log),
             "--user-agent", "wget-bench", base + "/"],
            check=False)
        elapsed = time.perf_counter() - started
        text = log.read_text(errors="replace")
    urls = set(re.findall(r"URL:\s*(\S+)", text))
    page_urls = {u for u in urls if u.endswith(".html") or u.endswith("/")}
    image_urls = {u for u in urls if u.endswith(".png")}
    return {"seconds": elapsed, "pages": len(page_urls), "images": len(image_urls),
            "image_urls": image_urls}


# --- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redis", default=os.environ.get("SPINNERET_REDIS_URL",
                                                          "redis://127.0.0.1:6379/15"))
    parser.add_argument("--no-wget", action="store_true", help="skip the wget baseline")
    args = parser.parse_args()

    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve_site,
                                     args=(port, args.pages, args.images, ready), daemon=True)
    server.start()
    try:
        ready.wait(30)
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        ours = asyncio.run(run_ours(base, args.redis, args.pages, args.concurrency))
        theirs = None if args.no_wget else run_wget(base)
    finally:
        server.terminate()
        server.join(10)

    expected_images = args.images + 1  # plus the shared spacer
    rows = [("spinneret", ours)] + ([("wget", theirs)] if theirs else [])
    print(f"\nsite: {args.pages} pages, {args.images} images (+1 shared spacer), loopback\n")
    print(f"{'crawler':<12}{'seconds':>10}{'pages':>8}{'images':>8}{'pages/s':>10}"
          f"{'images/s':>10}")
    for name, r in rows:
        print(f"{name:<12}{r['seconds']:>10.2f}{r['pages']:>8}{r['images']:>8}"
              f"{r['pages'] / r['seconds']:>10.0f}{r['images'] / r['seconds']:>10.0f}")
    result = {
        "benchmark": "crawl", "pages": args.pages, "images": args.images,
        "concurrency": args.concurrency, "python": sys.version.split()[0],
        "cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "spinneret": {k: v for k, v in ours.items() if k != "image_urls"}
        | {"pages_per_s": ours["pages"] / ours["seconds"],
           "images_per_s": ours["images"] / ours["seconds"],
           "all_images_found": len(ours["image_urls"]) == expected_images},
    }
    if theirs:
        missed = theirs["image_urls"] - ours["image_urls"]
        result["wget"] = {k: v for k, v in theirs.items() if k != "image_urls"} | {
            "pages_per_s": theirs["pages"] / theirs["seconds"],
            "images_per_s": theirs["images"] / theirs["seconds"]}
        result["speedup_vs_wget"] = theirs["seconds"] / ours["seconds"]
        result["images_wget_found_we_missed"] = len(missed)
        result["images_we_found_wget_missed"] = len(ours["image_urls"] - theirs["image_urls"])
        print(f"\nspeed ratio (wget time / ours): {result['speedup_vs_wget']:.2f}x; "
              f"images wget found that we missed: {len(missed)}; "
              f"we found {result['images_we_found_wget_missed']} wget did not")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
