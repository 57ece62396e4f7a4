"""`spinneret` command line. Each command group lives in its own module, imported only when one
of its commands runs: `spinneret --help` loads none of them (nor Typer: `help_page`),
`spinneret hash` only hash_cmd.

Commands only parse arguments and present results; the work is in the domain packages.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from spinneret.cli.table import LazyCommand, lazy_commands

if TYPE_CHECKING:
    import typer

PROGRAM = "spinneret"
SUMMARY = "Find known images on registered websites and get them taken down."

# One line per command: its name, the module (in spinneret.cli) whose `register(app)` defines
# it, and the line `spinneret --help` shows for it.
COMMANDS: dict[str, LazyCommand] = lazy_commands(
    __name__,
    ("hash", "hash_cmd", "Print sha256, md5, phash, dhash, pdq (+quality) and cropdct (+quality) of each file."),
    ("config", "config_cmd", "Show the effective configuration."),
    ("redis", "redis_cmd", "The embedded Redis servers (used when SPINNERET_REDIS_URL is unset)."),
    ("lists", "lists_cmd", "Hash lists in the fingerprint store."),
    ("sites", "sites_cmd", "Register and list the websites to crawl."),
    ("crawls", "crawls_cmd", "Crawls: status and counters."),
    ("report", "report_cmd", "Report a URL: fetch the page and its images once, match them, notify its site."),
    ("reports", "report_cmd", "Reported URLs and what became of them."),
    ("notices", "notices_cmd", "Takedown notices: list, inspect, resend, send, recheck."),
    ("contacts", "contacts_cmd", "Who notices about a host go to: show, set or clear a manual override."),
    ("review", "review_cmd", "Review borderline matches before any notice goes out."),
    ("stats", "stats_cmd", "Per site: images open, removed, disputed; median and p90 time-to-removal."),
    ("serve", "serve_cmd", "Serve the JSON API (/api/v1), the web UI, owner pages and /metrics."),
    ("crawl", "crawl_cmd", "Crawl a registered site (or all) and hash, match and record every image found."),
    ("worker", "worker_cmd", "Start a worker that hashes, matches and records queued images (and sends notices)."),
    ("beat", "worker_cmd", "Start the scheduler (notice delivery, rechecks, reminders)."),
    ("demo", "demo_cmd", "Generate a demo site, import the demo hash list, crawl it, send the notices to a local mail sink, recheck."),
    ("match", "match_cmd", "Match image files against every loaded hash list (block and allow lists)."),
    ("matches", "matches_cmd", "Recorded matches, one entry per crawled image."),
    ("tokens", "tokens_cmd", "API tokens (admin, analyst, viewer)."),
    ("db", "db_cmd", "The records database schema (migrations)."),
    ("crawler", "crawler_cmd", "Crawl every registered site on a schedule, resuming unfinished crawls (a service)."),
)

#: Commands that hold no servers, connections, children or open files once they are done:
#: `run` ends their process with `os._exit` after flushing, skipping the interpreter's
#: teardown (~50 ms for `hash`). Never a command that starts servers or embedded Redis.
ENDS_AT_ONCE = frozenset({"hash"})


def _app() -> typer.Typer:
    app = globals().get("app")
    if app is None:
        from spinneret.cli.typer_app import build_app

        app = globals()["app"] = build_app(PROGRAM, SUMMARY, COMMANDS)
    return app


def __getattr__(name: str) -> object:
    # `from spinneret.cli import app` builds the Typer app on first use.
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit status 2.

    Usage errors, `typer.Exit` and Ctrl-C are handled by click's standalone mode.
    """
    if sys.argv[1:] == ["--help"]:
        from spinneret.cli.help_page import root_help, terminal_width

        page = root_help(_program_name(), SUMMARY, COMMANDS, terminal_width())
        if page is not None:
            sys.stdout.write(page)
            return
    try:
        _app()()
    except Exception as exc:
        from spinneret.cli.common import err_console, is_user_error

        if is_user_error(exc):
            err_console.print(f"error: {exc}", markup=False)
            sys.exit(2)
        # Redis unreachable (after the client's retries): one line, not a traceback. Looked
        # up in sys.modules so that commands which never touch Redis do not import it.
        redis_module = sys.modules.get("redis")
        if redis_module is None or not isinstance(exc, redis_module.ConnectionError):
            raise
        err_console.print(f"error: Redis unreachable: {exc}", markup=False)
        sys.exit(2)


def _program_name() -> str:
    """The name usage lines show, as click finds it: `python -m spinneret` when run so."""
    import os

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name in ("spinneret", "spinneret.__main__"):
        return "python -m spinneret"
    return os.path.basename(sys.argv[0]) or PROGRAM


def run() -> None:
    """The console script: `main`, then for an `ENDS_AT_ONCE` command an immediate exit.

    In-process callers (tests) call `main`, which never ends the process itself.
    """
    if len(sys.argv) < 2 or sys.argv[1] not in ENDS_AT_ONCE:
        main()
        return
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    _exit_now(code)


def _exit_now(code: object) -> None:
    """`sys.exit(code)`'s status and message, without the interpreter's teardown."""
    import os

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()  # flush any log handlers, as atexit would
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # reader gone or stream closed: nothing left to save
            status = status or 1
    os._exit(status)
