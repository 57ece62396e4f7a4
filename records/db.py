"""Engine, sessions and migrations.

SQLite (default, a file in the data dir) runs in WAL mode with foreign keys on, a busy timeout,
and `BEGIN IMMEDIATE` transactions: a writer takes the write lock up front and waits for it,
instead of failing with "database is locked" when a read transaction later tries to write.
PostgreSQL is reached through psycopg 3 (`postgresql+psycopg://`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from spinneret.records.errors import DatabaseUnavailable, MissingDatabaseDriver, RecordsError

if TYPE_CHECKING:
    from alembic.config import Config

    from spinneret.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
# Any constant works: it only has to be the same in every process migrating one database.
_PG_MIGRATION_LOCK_ID = 0x5350494E  # "SPIN"
READONLY_OPTION = "spinneret_readonly"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` / `postgres://` use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


# What to install for a database driver that is missing, by backend; else the driver itself.
DRIVER_INSTALL = {"postgresql": "pip install 'spinneret[postgres]'"}


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine configured for Spinneret (SQLite pragmas and transactions; PG pre-ping)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    try:
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    except ImportError as exc:  # SQLAlchemy imports the URL's driver here
        driver = exc.name or parsed.get_driver_name()
        install = DRIVER_INSTALL.get(parsed.get_backend_name(), f"pip install {driver}")
        raise MissingDatabaseDriver(
            f"database {parsed.render_as_string()} needs the {driver} driver, which is not "
            f"installed ({str(exc).splitlines()[0]}): {install}") from None


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Driver-level autocommit so that SQLAlchemy's "begin" below controls transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get(READONLY_OPTION)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def alembic_config() -> Config:
    """Alembic configuration built in code; the migrations ship inside this package."""
    from alembic.config import Config  # imported on use: it is slow to import

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


class Database:
    """One database: an engine, a session factory and its migrations."""

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READONLY_OPTION: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.effective_database_url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        On SQLite a writing session takes the write lock when it begins; `readonly=True`
        sessions do not, so readers never queue behind writers (WAL). A "readonly" session
        that writes anyway may fail with "database is locked" under contention.
        """
        session = (self._read_sessions if readonly else self._sessions)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to `revision`. Idempotent; safe from processes starting together
        (PostgreSQL: an advisory lock; SQLite: the IMMEDIATE transaction's write lock)."""
        from alembic import command

        self._migrate(lambda cfg: command.upgrade(cfg, revision))

    def downgrade(self, revision: str = "base") -> None:
        from alembic import command

        self._migrate(lambda cfg: command.downgrade(cfg, revision))

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    def _migrate(self, run: Any) -> None:
        cfg = alembic_config()
        try:
            with self.engine.connect() as connection:
                sqlite = connection.dialect.name == "sqlite"
                if sqlite:
                    # SQLite rebuilds a table to change its constraints (copy, drop,
                    # rename); with foreign keys on, the drop would cascade into the rows
                    # that point at it. The pragma only takes effect outside a transaction.
                    connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
                try:
                    with connection.begin():
                        if connection.dialect.name == "postgresql":
                            connection.exec_driver_sql(
                                f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_ID})"
                            )
                        cfg.attributes["connection"] = connection
                        run(cfg)
                        if sqlite:
                            _refuse_dangling_references(connection)
                finally:
                    if sqlite:
                        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseUnavailable(
                f"cannot migrate database {self.url.render_as_string()}: {reason}"
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def _refuse_dangling_references(connection: Any) -> None:
    """With foreign keys off nothing checked them during the migration: check now, inside
    its transaction, so a migration that broke a reference is rolled back."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RecordsError(f"migration left rows pointing at nothing: {broken[:5]}")
