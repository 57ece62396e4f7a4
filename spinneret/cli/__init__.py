"""`spinneret` command line. Each command group lives in its own module, imported only when one
of its commands runs: `spinneret --help` loads none of them, `spinneret hash` only hash_cmd.

Commands only parse arguments and present results; the work is in the domain packages.
"""

from __future__ import annotations

import sys

import typer

from spinneret.cli.common import err_console, is_user_error
from spinneret.cli.lazy import LazyCommand, lazy_commands, lazy_group

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

app = typer.Typer(
    name="spinneret",
    help="Find known images on registered websites and get them taken down.",
    cls=lazy_group(COMMANDS),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    # A callback makes `app` a group even though its commands are only named so far.
    pass


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit status 2.

    Usage errors, `typer.Exit` and Ctrl-C are handled by click's standalone mode.
    """
    try:
        app()
    except Exception as exc:
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
