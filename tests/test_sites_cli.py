"""`spinneret sites ...` and `spinneret crawls ...` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator

import pytest

from spinneret.config import Settings, reset_settings_cache
from spinneret.records.audit import AuditLog
from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import Database
from spinneret.records.types import CrawlFinish
from tests.conftest import run_cli

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def database_env(request: pytest.FixtureRequest, cli_env: dict[str, str],
                 monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[dict[str, str]]:
    """cli_env plus the database: the default SQLite file, or a PostgreSQL schema."""
    env = dict(cli_env)
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        url = request.getfixturevalue("empty_db_url_pg")
        env["SPINNERET_DATABASE_URL"] = url
        monkeypatch.setenv("SPINNERET_DATABASE_URL", url)
    else:
        monkeypatch.delenv("SPINNERET_DATABASE_URL", raising=False)
    reset_settings_cache()
    yield env
    reset_settings_cache()


@pytest.fixture
def empty_db_url_pg(postgres_database_url: str) -> Iterator[str]:
    from tests.records_fixtures import _pg_schema_url

    yield from _pg_schema_url(postgres_database_url)


@pytest.fixture
def cli(database_env: dict[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `spinneret ARGS` in-process through its real entry point; (exit code, out, err)."""
    from spinneret.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["spinneret", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def db(database_env: dict[str, str], settings: Settings) -> Iterator[Database]:
    url = database_env.get("SPINNERET_DATABASE_URL") or settings.effective_database_url
    database = Database(url)
    yield database
    database.dispose()


ADD = ("sites", "add", "https://example.org", "--name", "example",
       "--owner-email", "abuse@example.org")

backends = pytest.mark.parametrize("database_env", ["sqlite", "postgresql"], indirect=True)


@backends
def test_add_ls_show_rm(cli: Cli, db: Database) -> None:
    code, out, err = cli(*ADD, "--webhook", "https://hooks.example.org/in", "--max-pages", "20",
                         "--max-depth", "2", "--rate", "1.5", "--abuse-email", "noc@host.example",
                         "--include", "/gallery/", "--include", "/blog/", "--exclude", "/tmp/")
    assert code == 0, err
    assert "added site example (id 1): https://example.org" in out
    assert "webhook secret" in out

    code, out, _ = cli("sites", "ls", "--format", "json")
    sites = json.loads(out)
    assert [s["name"] for s in sites] == ["example"]
    assert "webhook_secret" not in sites[0]

    code, out, _ = cli("sites", "show", "example", "--format", "json")
    site = json.loads(out)
    assert code == 0
    assert site["base_url"] == "https://example.org" and site["hosts"] == ["example.org"]
    assert (site["max_pages"], site["max_depth"], site["rate_per_s"]) == (20, 2, 1.5)
    assert site["include_patterns"] == ["/gallery/", "/blog/"]
    assert site["exclude_patterns"] == ["/tmp/"]
    assert site["abuse_email"] == "noc@host.example" and site["ignore_robots"] is False
    assert site["webhook_url"] == "https://hooks.example.org/in" and site["webhook_secret"]

    code, out, _ = cli("sites", "ls")
    assert code == 0 and "example" in out and "Sites" in out
    code, out, _ = cli("sites", "show", "example")
    assert code == 0 and "obeyed" in out and "/gallery/" in out

    code, out, _ = cli("sites", "rm", "example")
    assert (code, out.strip()) == (0, "removed site example")
    code, out, _ = cli("sites", "ls", "--format", "json")
    assert json.loads(out) == []
    assert [e.action for e in AuditLog(db).list(target="site:example")] == [
        "site.remove", "site.add",
    ]


@backends
def test_duplicate_name_is_one_line_error(cli: Cli) -> None:
    assert cli(*ADD)[0] == 0
    code, out, err = cli("sites", "add", "https://other.example", "--name", "example",
                         "--owner-email", "x@other.example")
    assert code == 2
    assert err.strip() == "error: a site named 'example' already exists"
    _, out, _ = cli("sites", "show", "example", "--format", "json")
    assert json.loads(out)["base_url"] == "https://example.org"  # nothing changed


@pytest.mark.parametrize("url", ["example.org", "ftp://example.org/", "https://", "http://a b/"])
def test_bad_url_is_one_line_error(cli: Cli, url: str) -> None:
    code, out, err = cli("sites", "add", url, "--name", "bad", "--owner-email", "a@b.example")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: site URL")
    assert "Traceback" not in err
    assert json.loads(cli("sites", "ls", "--format", "json")[1]) == []


def test_bad_fields_are_one_line_errors(cli: Cli) -> None:
    for args, message in [
        (("--owner-email", "nobody"), "owner e-mail 'nobody' is not an e-mail address"),
        (("--owner-email", "a@b.example", "--webhook", "hooks.example"), "webhook URL"),
        (("--owner-email", "a@b.example", "--rate", "0"), "rate must be positive"),
    ]:
        code, _, err = cli("sites", "add", "https://example.org", "--name", "x", *args)
        assert code == 2, err
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_extra_hosts_are_added_to_the_urls_own(cli: Cli) -> None:
    code, _, err = cli(*ADD, "--host", "cdn.example.net", "--host", "*.Img.Example.org",
                       "--host", "example.org")
    assert code == 0, err
    site = json.loads(cli("sites", "show", "example", "--format", "json")[1])
    assert site["hosts"] == ["example.org", "cdn.example.net", "*.img.example.org"]
    _, out, _ = cli("sites", "show", "example")
    assert "cdn.example.net" in out

    for bad in ("https://cdn.example.net", "cdn.example.net/img", " "):
        code, _, err = cli("sites", "add", "https://other.example", "--name", "other",
                           "--owner-email", "a@b.example", "--host", bad)
        assert code == 2 and err.startswith("error: host") and len(err.strip().splitlines()) == 1
    assert [s["name"] for s in json.loads(cli("sites", "ls", "--format", "json")[1])] == [
        "example"]


def test_show_and_rm_unknown_site(cli: Cli) -> None:
    for args in (("sites", "show", "nope"), ("sites", "rm", "nope")):
        code, _, err = cli(*args)
        assert (code, err.strip()) == (2, "error: no site named 'nope'")


def test_ignore_robots_is_audited_and_warned(cli: Cli, db: Database) -> None:
    code, _, err = cli(*ADD, "--ignore-robots")
    assert code == 0
    assert "robots.txt will be ignored for example" in err
    events = AuditLog(db).list(action="site.ignore_robots")
    assert len(events) == 1 and events[0].target == "site:example"
    assert events[0].actor.startswith("cli")
    _, out, _ = cli("sites", "show", "example", "--format", "json")
    assert json.loads(out)["ignore_robots"] is True


@backends
def test_crawls_ls_and_show(cli: Cli, db: Database) -> None:
    assert cli(*ADD)[0] == 0
    repo = CrawlRepository(db)
    site_id = json.loads(cli("sites", "show", "example", "--format", "json")[1])["id"]
    first = repo.create(site_id)
    repo.start(first.id)
    repo.finish(first.id, CrawlFinish(pages_fetched=3, images_found=4,
                                      skipped_reasons={"too_large": 1}, duration_s=2.0))
    second = repo.create(site_id)

    code, out, _ = cli("crawls", "ls", "--format", "json")
    crawls = json.loads(out)
    assert [c["id"] for c in crawls] == [second.id, first.id]
    assert crawls[1]["status"] == "finished" and crawls[1]["skipped_reasons"] == {"too_large": 1}
    code, out, _ = cli("crawls", "ls", "--site", "example", "--status", "queued",
                       "--format", "json")
    assert [c["id"] for c in json.loads(out)] == [second.id]
    code, out, _ = cli("crawls", "show", str(first.id))
    assert code == 0 and "too_large 1" in out and "finished" in out
    code, out, _ = cli("crawls", "ls")
    assert code == 0 and "example" in out

    code, _, err = cli("crawls", "show", "999")
    assert (code, err.strip()) == (2, "error: no crawl with id 999")
    code, _, err = cli("crawls", "ls", "--status", "bogus")
    assert code == 2 and err.startswith("error: unknown crawl status 'bogus'")


def test_real_entry_point_subprocess(cli: Cli, database_env: dict[str, str]) -> None:
    assert cli(*ADD)[0] == 0
    done = run_cli(*ADD, env=database_env)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: a site named 'example' already exists"
    done = run_cli("sites", "add", "not a url", "--name", "x", "--owner-email", "a@b.example",
                   env=database_env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
