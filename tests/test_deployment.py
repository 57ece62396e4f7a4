"""The deployment files hold together: docker-compose.yml (and its RabbitMQ override) and the
Dockerfile name real `spinneret` commands, real settings, and matching ports/healthchecks.

No Docker engine is needed: the files are parsed and checked against the Typer app and the
Settings model; the API healthcheck command is run against a real `spinneret serve`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
import typer.main
import yaml

from spinneret.cli import app
from spinneret.config import Settings
from spinneret.records.crawls import CrawlRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import CrawlFinish, NewSite
from spinneret.runtime.context import AppContext
from spinneret.runtime.embedded_redis import free_loopback_port
from spinneret.runtime.scheduling import due_sites
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
RABBIT_OVERRIDE = ROOT / "docker-compose.rabbitmq.yml"
DOCKERFILE = ROOT / "Dockerfile"
SPINNERET_SERVICES = {"migrate", "api", "worker", "beat", "crawler"}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _merged(*paths: Path) -> dict[str, dict]:
    """Services of compose files layered as `docker compose -f a -f b` does (mappings merged,
    other values replaced) - enough for these files."""
    services: dict[str, dict] = {}
    for path in paths:
        for name, spec in _load(path)["services"].items():
            base = services.setdefault(name, {})
            for key, value in spec.items():
                if isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
    return services


def _substitute(value: str) -> str:
    """${VAR:-default} -> default; ${VAR:?message} -> a placeholder (required at run time)."""
    def one(match: re.Match) -> str:
        op = match.group(2) or ""
        if "-" in op:
            return match.group(3)
        return "x" * 32 if "?" in op else ""
    return _VAR.sub(one, value)


def _environment(spec: dict) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: _substitute(str(value)) for key, value in env.items()}


def _settings_for(env: dict[str, str]) -> Settings:
    fields = {key.removeprefix("SPINNERET_").lower(): value for key, value in env.items()}
    return Settings(**fields)


def _resolve(argv: list[str]) -> click.Command:
    """The click command `argv` names in the real Typer app; its options are parsed (so an
    unknown option or bad value fails here), nothing is run."""
    assert argv and argv[0] == "spinneret", f"not a spinneret command: {argv}"
    command: click.Command = typer.main.get_command(app)
    args = argv[1:]
    while isinstance(command, click.Group):
        assert args, f"{argv}: a command group needs a subcommand"
        ctx = click.Context(command)
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"{argv}: no command {args[0]!r}"
        command, args = sub, args[1:]
    command.make_context(" ".join(argv), list(args))
    return command


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return _merged(COMPOSE)


def test_compose_has_every_service(services):
    assert set(services) >= {"redis", "postgres", *SPINNERET_SERVICES}


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, RABBIT_OVERRIDE)],
                         ids=["redis-broker", "rabbitmq-broker"])
def test_every_service_runs_a_real_command_with_real_settings(files):
    services = _merged(*files)
    for name in SPINNERET_SERVICES:
        spec = services[name]
        command = spec["command"]
        assert isinstance(command, list), f"{name}: command must be an exec-form list"
        _resolve(command)
        env = _environment(spec)
        unknown = [k for k in env if k.startswith("SPINNERET_")
                   and k.removeprefix("SPINNERET_").lower() not in Settings.model_fields]
        assert not unknown, f"{name}: not settings: {unknown}"
        assert all(k.startswith("SPINNERET_") for k in env), f"{name}: {sorted(env)}"
        settings = _settings_for(env)  # every value parses and validates
        assert settings.database_url and settings.database_url.startswith("postgresql://")
        assert settings.redis_url and settings.broker_url
        assert settings.broker_url != settings.redis_url, "broker apart from the store's db"
        assert settings.pipeline == "celery"
        if RABBIT_OVERRIDE in files and name != "migrate":  # migrate sends no tasks
            assert settings.broker_url.startswith("amqp://")
    if RABBIT_OVERRIDE in files:
        assert "rabbitmq" in services and services["rabbitmq"]["healthcheck"]["test"]


def test_service_roles(services):
    assert services["migrate"]["command"][:3] == ["spinneret", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["command"][:2] == ["spinneret", "serve"]
    assert services["worker"]["command"][:2] == ["spinneret", "worker"]
    assert services["beat"]["command"][:2] == ["spinneret", "beat"]
    assert services["crawler"]["command"][:2] == ["spinneret", "crawler"]
    for name in ("worker", "crawler"):  # `--scale` needs neither fixed names nor host ports
        assert "container_name" not in services[name] and "ports" not in services[name]


def test_depends_on_with_conditions(services):
    for name in SPINNERET_SERVICES:
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert depends["postgres"]["condition"] == "service_healthy"
        if name != "migrate":
            assert depends["redis"]["condition"] == "service_healthy"
            assert depends["migrate"]["condition"] == "service_completed_successfully"
    for name, spec in services.items():
        for target, condition in (spec.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), \
                    f"{name} waits for {target} to be healthy; {target} has no healthcheck"


def test_data_lives_in_volumes(services):
    compose = _load(COMPOSE)
    named = set(compose["volumes"])
    for name, mount in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data")):
        volumes = [v.split(":") for v in services[name]["volumes"]]
        assert any(src in named and dst == mount for src, dst, *_ in volumes), name
    for name in SPINNERET_SERVICES:
        data_dir = _settings_for(_environment(services[name])).data_dir
        mounts = {v.split(":")[1] for v in services[name]["volumes"]}
        assert str(data_dir) in mounts, f"{name}: data dir {data_dir} not on a volume"


def _dockerfile() -> tuple[list[str], dict[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip()
             and not line.strip().startswith("#")]
    env: dict[str, str] = {}
    for line in lines:
        if line.startswith("ENV "):
            for part in shlex.split(line[4:]):
                key, _, value = part.partition("=")
                env[key] = value
    return lines, env


def test_dockerfile_base_user_package_and_healthcheck():
    lines, env = _dockerfile()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert all(line.split()[1] == "python:3.11-slim" for line in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image runs as a non-root user"
    assert any("pip install" in line and "spinneret" in line for line in lines)
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert any(line.startswith("HEALTHCHECK ") for line in final_stage)
    unknown = [k for k in env if k.startswith("SPINNERET_")
               and k.removeprefix("SPINNERET_").lower() not in Settings.model_fields]
    assert not unknown


def test_ports_and_healthchecks_line_up(services):
    lines, env = _dockerfile()
    image_settings = _settings_for({k: v for k, v in env.items() if k.startswith("SPINNERET_")})
    api_env = {**{k: v for k, v in env.items() if k.startswith("SPINNERET_")},
               **_environment(services["api"])}
    api_port = _settings_for(api_env).api_port
    assert image_settings.api_port == api_port
    assert image_settings.api_host == "0.0.0.0"
    exposed = [int(p) for line in lines if line.startswith("EXPOSE ") for p in line.split()[1:]]
    assert exposed == [api_port]
    image_check = next(line for line in lines if line.startswith("HEALTHCHECK "))
    assert f"127.0.0.1:{api_port}/healthz" in image_check
    published = [str(p).rsplit(":", 1)[1] for p in services["api"]["ports"]]
    assert published == [str(api_port)]
    check = services["api"]["healthcheck"]["test"]
    assert f"127.0.0.1:{api_port}/healthz" in " ".join(check)


def test_the_api_healthcheck_passes_against_a_real_server(cli_env, services):
    port = free_loopback_port()
    env = {**cli_env, "SPINNERET_API_PORT": str(port), "SPINNERET_API_HOST": "127.0.0.1"}
    server = subprocess.Popen([sys.executable, "-m", "spinneret", "serve"],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    check = [part.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
             for part in services["api"]["healthcheck"]["test"][1:]]
    check[0] = sys.executable if check[0] == "python" else check[0]
    try:
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(check, capture_output=True, timeout=10)
            if result.returncode == 0:
                break
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "API never became healthy"
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=20)
    down = subprocess.run(check, capture_output=True, timeout=10)
    assert down.returncode != 0, "the healthcheck fails when nothing answers"


def test_models_and_migrations_agree(db):
    """What `spinneret db upgrade` builds is what the models describe, on each backend:
    Alembic's autogenerate, run against the migrated database, finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from spinneret.records.models import Base

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_db_upgrade_and_current(cli_env):
    before = run_cli("db", "current", env=cli_env)
    assert before.returncode == 1 and "needs `spinneret db upgrade`" in before.stdout
    upgraded = run_cli("db", "upgrade", env=cli_env)
    assert upgraded.returncode == 0, upgraded.stderr
    after = run_cli("db", "current", env=cli_env)
    assert after.returncode == 0 and "up to date" in after.stdout
    again = run_cli("db", "upgrade", env=cli_env)
    assert again.returncode == 0


def test_db_upgrade_unreachable_database_is_one_line(cli_env):
    env = {**cli_env, "SPINNERET_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    for args in (("db", "upgrade"), ("db", "current")):
        result = run_cli(*args, env=env)
        assert result.returncode == 2
        assert result.stderr.startswith("error: cannot") and result.stderr.count("\n") == 1


def test_crawler_schedule(settings):
    context = AppContext(settings)
    try:
        site = SiteRepository(context.db).add(NewSite(
            base_url="http://127.0.0.1:9/", name="sched", owner_email="o@example.invalid"))
        assert due_sites(context, 3600) == ["sched"], "never crawled"
        crawls = CrawlRepository(context.db)
        crawl = crawls.create(site.id)
        crawls.start(crawl.id)
        assert due_sites(context, 3600) == ["sched"], "unfinished: resume it"
        crawls.finish(crawl.id, CrawlFinish(status="finished"))
        assert due_sites(context, 3600) == []
        later = datetime.now(UTC) + timedelta(hours=2)
        assert due_sites(context, 3600, now=later) == ["sched"]
    finally:
        context.close()


def test_crawler_once_with_nothing_due_exits_cleanly(cli_env):
    result = run_cli("crawler", "--once", env=cli_env)
    assert result.returncode == 0, result.stderr
