"""`spinneret` command line. Each command group lives in its own module and registers itself.

Commands only parse arguments and present results; the work is in the domain packages.
"""

from __future__ import annotations

import sys

import typer

from spinneret.cli.common import USER_ERRORS, err_console

app = typer.Typer(
    name="spinneret",
    help="Find known images on registered websites and get them taken down.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    # Imported here so each module can `from spinneret.cli import app` style-free:
    # every module exposes `register(app)`.
    from spinneret.cli import (
        config_cmd,
        crawl_cmd,
        crawler_cmd,
        crawls_cmd,
        db_cmd,
        demo_cmd,
        hash_cmd,
        lists_cmd,
        match_cmd,
        matches_cmd,
        notices_cmd,
        redis_cmd,
        review_cmd,
        serve_cmd,
        sites_cmd,
        stats_cmd,
        tokens_cmd,
        worker_cmd,
    )

    for module in (hash_cmd, config_cmd, redis_cmd, lists_cmd, sites_cmd, crawls_cmd,
                   notices_cmd, review_cmd, stats_cmd, serve_cmd, crawl_cmd, worker_cmd,
                   demo_cmd, match_cmd, matches_cmd, tokens_cmd, db_cmd,
                   crawler_cmd):
        module.register(app)


_register_commands()


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit status 2.

    Usage errors, `typer.Exit` and Ctrl-C are handled by click's standalone mode.
    """
    try:
        app()
    except USER_ERRORS as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except Exception as exc:
        # Redis unreachable (after the client's retries): one line, not a traceback. Looked
        # up in sys.modules so that commands which never touch Redis do not import it.
        redis_module = sys.modules.get("redis")
        if redis_module is None or not isinstance(exc, redis_module.ConnectionError):
            raise
        err_console.print(f"error: Redis unreachable: {exc}", markup=False)
        sys.exit(2)
