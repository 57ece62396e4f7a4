"""Database fixtures for records tests: every test runs on SQLite and on PostgreSQL.

PostgreSQL: a fresh database `spinneret_test_<random>` per test session on
`SPINNERET_TEST_POSTGRES_URL` (default: postgres@127.0.0.1:5432, then root@), one schema per
test (via `search_path`), all dropped afterwards. Skipped with the reason if no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from spinneret.records.db import Database

PG_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)


def _admin_url() -> tuple[str | None, str]:
    import psycopg

    explicit = os.environ.get("SPINNERET_TEST_POSTGRES_URL")
    candidates = (explicit,) if explicit else PG_CANDIDATES
    reasons = []
    for url in candidates:
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        try:
            with psycopg.connect(plain, connect_timeout=2):
                return url, ""
        except psycopg.Error as exc:
            reasons.append(f"{plain}: {str(exc).strip().splitlines()[0]}")
    return None, "; ".join(reasons)


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """URL of a database created for this test session (dropped at the end)."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg (pip install 'psycopg[binary]')")
    admin, reason = _admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    name = f"spinneret_test_{uuid.uuid4().hex[:12]}"
    plain = admin.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_schema_url(database_url: str) -> Iterator[str]:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{database_url}?options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, never migrated database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records' / 'test.db'}"
        return
    database_url = request.getfixturevalue("postgres_database_url")
    yield from _pg_schema_url(database_url)


@pytest.fixture
def db(empty_db_url: str) -> Iterator[Database]:
    """A migrated database of each backend."""
    database = Database(empty_db_url)
    database.upgrade()
    yield database
    database.dispose()
