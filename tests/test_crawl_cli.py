"""`spinneret crawl` with the in-process pipeline (a local process pool): the real CLI in a
subprocess against a loopback site; a crawl killed with SIGKILL resumes without losing or
double-recording any image. A crawl whose start URL was refused says why and fails; a
resumed crawl records the time of all its runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from importlib import resources

import pytest

from spinneret.cli.crawl_cmd import print_summary
from spinneret.demo.site import build_demo_site, serve_on_loopback
from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import Database
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import run_crawl
from tests.sites import REQUEST_LOG, ROUTES, Route, build_site, html


@pytest.fixture
def crawl_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env.update(
        SPINNERET_DATA_DIR=str(settings.data_dir),
        SPINNERET_REDIS_URL=settings.redis_url,
        SPINNERET_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        SPINNERET_DATABASE_URL=settings.effective_database_url,
        SPINNERET_ALLOW_PRIVATE_NETWORKS="true",
        SPINNERET_PIPELINE="inprocess",
        SPINNERET_HASH_PROCESSES="2",
    )
    return env


async def _cli(env: dict[str, str], *args: str, timeout: float = 240) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "spinneret", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, out.decode(), err.decode()



def _demo_list_path() -> str:
    return str(resources.files("spinneret.demo").joinpath("demo_list.csv"))


async def test_crawl_command_hashes_matches_and_records_in_process(crawl_env, settings):
    site = build_demo_site(listed_seeds=range(6), unlisted=24, unlisted_size=(240, 180))
    runner, base_url = await serve_on_loopback(site.app())
    try:
        code, _, err = await _cli(crawl_env, "lists", "import", _demo_list_path(), "--list", "demo")
        assert code == 0, err
        code, _, err = await _cli(crawl_env, "sites", "add", base_url, "--name", "loop",
                                  "--owner-email", "owner@example.invalid", "--rate", "500")
        assert code == 0, err
        code, out, err = await _cli(crawl_env, "crawl", "loop")
        assert code == 0, out + err
        assert "finished" in out and "images hashed" in out
        code, out, _ = await _cli(crawl_env, "crawls", "ls", "--format", "json")
        crawls = json.loads(out)
        crawls = crawls if isinstance(crawls, list) else [crawls]
        assert crawls[0]["images_hashed"] == 30 and crawls[0]["status"] == "finished"
    finally:
        await runner.cleanup()
    db = Database.from_settings(settings)
    matches = MatchRepository(db).list(limit=10_000)
    flagged = {m.image_url.split("/img/", 1)[1] for m in matches}
    assert flagged == {image.path.split("/img/", 1)[1] for image in site.listed}


async def test_killed_crawl_resumes_and_records_every_image_once(crawl_env, settings):
    site = build_demo_site(listed_seeds=range(0), unlisted=60, unlisted_size=(200, 150))
    runner, base_url = await serve_on_loopback(site.app())
    try:
        code, _, err = await _cli(crawl_env, "sites", "add", base_url, "--name", "slow",
                                  "--owner-email", "owner@example.invalid", "--rate", "12")
        assert code == 0, err
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "spinneret", "crawl", "slow", env=crawl_env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        while sum(1 for path in site.requests if path.startswith("/img/")) < 12:
            await asyncio.sleep(0.05)
            assert process.returncode is None, "the crawl ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        fetched_before = len(site.requests)

        code, out, err = await _cli(crawl_env, "crawl", "slow")
        assert code == 0, out + err
        assert "(resumed)" in out
    finally:
        await runner.cleanup()
    db = Database.from_settings(settings)
    events = ImageRecorder(db).events(1)
    urls = [event.url for event in events]
    assert len(urls) == len(set(urls)) == 60, "every image recorded, and only once"
    image_requests = [path for path in site.requests if path.startswith("/img/")]
    # Nothing fetched twice beyond what was in flight when the crawl was killed.
    repeats = len(image_requests) - len(set(image_requests))
    assert repeats <= 32, repeats
    assert len(site.requests) > fetched_before


# --- a start URL that was not fetched; the duration of a resumed crawl ------------------------

ROBOTS_SHUT = Route(body="User-agent: *\nDisallow: /\n", content_type="text/plain")
ROBOTS_REASON = "start URL not fetched: robots (robots.txt disallows it)"


@pytest.fixture
def context(settings) -> Iterator[AppContext]:
    ctx = AppContext(settings)
    yield ctx
    ctx.close()


def _add_site(context: AppContext, name: str, base_url: str) -> None:
    SiteRepository(context.db).add(NewSite(base_url=base_url, name=name,
                                           owner_email="owner@example.invalid", rate_per_s=1000))


async def test_crawl_whose_start_url_is_refused_fails_and_says_why(crawl_env):
    app = build_site({"/robots.txt": ROBOTS_SHUT, "/": Route(body=html('<a href="/a">a</a>'))})
    runner, base_url = await serve_on_loopback(app)
    try:
        code, _, err = await _cli(crawl_env, "sites", "add", base_url, "--name", "shut",
                                  "--owner-email", "owner@example.invalid")
        assert code == 0, err
        code, out, err = await _cli(crawl_env, "crawl", "shut")
        assert code == 1, out + err
        assert ": failed" in out and "not followed: robots" in out
        assert f"error: crawl 1 of shut failed: {ROBOTS_REASON}" in err
        _, out, _ = await _cli(crawl_env, "crawls", "show", "1", "--format", "json")
        crawl = json.loads(out)
        assert (crawl["status"], crawl["pages_fetched"]) == ("failed", 0)
        assert crawl["urls_skipped"] == {"robots": 1} and crawl["failure_reason"] == ROBOTS_REASON
        _, out, _ = await _cli({**crawl_env, "COLUMNS": "200"}, "crawls", "show", "1")
        assert "robots 1" in out and "robots.txt disallows it" in out
    finally:
        await runner.cleanup()
    assert [r.path for r in app[REQUEST_LOG]] == ["/robots.txt"]


async def test_start_url_blocked_by_the_ssrf_guard_fails_the_crawl(settings):
    app = build_site({"/": Route(body=html("internal"))})
    runner, base_url = await serve_on_loopback(app)  # 127.0.0.1: private
    strict = AppContext(settings.model_copy(update={"allow_private_networks": False}))
    try:
        _add_site(strict, "private", base_url)
        summary = await run_crawl(strict, "private")
    finally:
        strict.close()
        await runner.cleanup()
    assert app[REQUEST_LOG] == []
    crawl = summary.crawl
    assert (crawl.status, crawl.pages_fetched, crawl.urls_skipped) == (
        "failed", 0, {"ssrf_blocked": 1})
    assert crawl.failure_reason == summary.start_problem == (
        "start URL not fetched: ssrf_blocked (its address is private or reserved (SSRF guard; "
        "allow it with SPINNERET_ALLOWED_NETWORKS=<CIDR,...> or "
        "SPINNERET_ALLOW_PRIVATE_NETWORKS=true))")


async def test_refused_start_url_with_pages_found_elsewhere_finishes_with_a_warning(
        context, capsys):
    app = build_site()
    runner, base_url = await serve_on_loopback(app)
    app[ROUTES].update({
        # Only the start page is disallowed; the sitemap leads to a page that is not.
        "/robots.txt": Route(body=f"User-agent: *\nDisallow: /$\nSitemap: {base_url}map.xml\n",
                             content_type="text/plain"),
        "/": Route(body=html('<a href="/other.html">other</a>')),
        "/map.xml": Route(body=f"<urlset><url><loc>{base_url}from-map.html</loc></url></urlset>",
                          content_type="application/xml"),
        "/from-map.html": Route(body=html("<p>listed in the sitemap</p>")),
    })
    try:
        _add_site(context, "half", base_url)
        summary = await run_crawl(context, "half")
    finally:
        await runner.cleanup()
    crawl = summary.crawl
    assert (crawl.status, crawl.pages_fetched, crawl.failure_reason) == ("finished", 1, None)
    assert crawl.urls_skipped == {"robots": 1} and summary.start_problem == ROBOTS_REASON
    capsys.readouterr()
    print_summary(summary)
    out, err = capsys.readouterr()
    assert "not followed: robots" in out
    assert err.strip() == f"warning: {ROBOTS_REASON}"


async def test_resumed_crawl_records_the_time_of_every_run(context):
    # A chain of pages, each answered after PAGE_DELAY_S: however fast the machine, the crawl
    # takes at least N_PAGES * PAGE_DELAY_S of crawling, split between the two runs.
    n_pages, page_delay_s = 8, 0.4
    app = build_site({
        ("/" if i == 0 else f"/p/{i}"): Route(body=html(f'<a href="/p/{i + 1}">next</a>'),
                                              delay_s=page_delay_s)
        for i in range(n_pages)
    })
    runner, base_url = await serve_on_loopback(app)

    def pages_requested() -> int:
        return sum(1 for r in app[REQUEST_LOG] if r.path != "/robots.txt")

    try:
        _add_site(context, "chain", base_url)
        first = asyncio.create_task(run_crawl(context, "chain"))
        while pages_requested() < n_pages // 2 + 1:  # half the pages are fetched
            assert not first.done(), "the crawl ended before it was stopped"
            await asyncio.sleep(0.02)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert CrawlRepository(context.db).get(1).status == "running"

        summary = await run_crawl(context, "chain")
    finally:
        await runner.cleanup()
    crawl = summary.crawl
    assert summary.resumed and crawl.status == "finished"
    assert crawl.pages_fetched == n_pages
    # Before, only the second run's time was recorded (about half of this).
    assert crawl.duration_s >= 0.95 * n_pages * page_delay_s, crawl.duration_s
