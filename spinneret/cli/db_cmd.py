"""`spinneret db upgrade|current`: the records database schema (Alembic migrations)."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from spinneret.cli.common import console
from spinneret.config import get_settings
from spinneret.records.db import Database
from spinneret.records.errors import DatabaseUnavailable


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The records database schema (migrations).", no_args_is_help=True)

    @group.command("upgrade")
    def upgrade(
        revision: str = typer.Argument("head", help="Target revision (default: the latest)."),
    ) -> None:
        """Apply migrations up to REVISION (safe to run from several processes at once)."""
        database = Database.from_settings(get_settings())
        try:
            database.upgrade(revision)
            console.print(f"database at revision {database.current_revision() or 'base'}")
        finally:
            database.dispose()

    @group.command("current")
    def current() -> None:
        """Show the schema revision of the database and the latest one this version ships."""
        database = Database.from_settings(get_settings())
        try:
            now = database.current_revision()
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseUnavailable(
                f"cannot read database {database.url.render_as_string()}: {reason}") from None
        finally:
            database.dispose()
        head = Database.head_revision()
        state = "up to date" if now == head else "needs `spinneret db upgrade`"
        console.print(f"current {now or 'base'}, head {head} ({state})")
        if now != head:
            raise typer.Exit(1)

    app.add_typer(group, name="db")
