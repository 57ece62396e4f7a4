"""The Typer application of the `spinneret` command, built from the command table."""

from __future__ import annotations

import typer

from spinneret.cli.lazy import LazyCommand, lazy_group


def build_app(name: str, help: str, commands: dict[str, LazyCommand]) -> typer.Typer:
    app = typer.Typer(
        name=name,
        help=help,
        cls=lazy_group(commands),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root() -> None:
        # A callback makes `app` a group even though its commands are only named so far.
        pass

    return app
