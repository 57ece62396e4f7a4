"""`spinneret crawl` with the in-process pipeline (a local process pool): the real CLI in a
subprocess against a loopback site; a crawl killed with SIGKILL resumes without losing or
double-recording any image."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from importlib import resources

import pytest

from records.db import Database
from records.images import ImageRecorder
from records.matches import MatchRepository
from spinneret.demo.site import build_demo_site, serve_on_loopback


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
