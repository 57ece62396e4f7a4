"""`spinneret` command line. Each command group lives in its own module, imported only when one
of its commands runs: `spinneret --help` loads none of them, `spinneret hash` only hash_cmd.

Commands only parse arguments and present results; the work is in the domain packages.
"""

from __future__ import annotations

import sys

import typer

from spinneret.cli.common import err_console, is_user_error
from spinneret.cli.lazy import LazyCommand, lazy_group

# One line per command: its name, the module whose `register(app)` defines it, its help line.
COMMANDS: dict[str, LazyCommand] = {}
COMMANDS["hash"] = LazyCommand("spinneret.cli.hash_cmd", "Print sha256, md5, phash, dhash, pdq (+quality) and cropdct (+quality) of each file.")  # noqa: E501
COMMANDS["config"] = LazyCommand("spinneret.cli.config_cmd", "Show the effective configuration.")
COMMANDS["redis"] = LazyCommand("spinneret.cli.redis_cmd", "The embedded Redis servers (used when SPINNERET_REDIS_URL is unset).")  # noqa: E501
COMMANDS["lists"] = LazyCommand("spinneret.cli.lists_cmd", "Hash lists in the fingerprint store.")
COMMANDS["sites"] = LazyCommand("spinneret.cli.sites_cmd", "Register and list the websites to crawl.")  # noqa: E501
COMMANDS["crawls"] = LazyCommand("spinneret.cli.crawls_cmd", "Crawls: status and counters.")
COMMANDS["notices"] = LazyCommand("spinneret.cli.notices_cmd", "Takedown notices: list, inspect, resend, send, recheck.")  # noqa: E501
COMMANDS["review"] = LazyCommand("spinneret.cli.review_cmd", "Review borderline matches before any notice goes out.")  # noqa: E501
COMMANDS["stats"] = LazyCommand("spinneret.cli.stats_cmd", "Per site: images open, removed, disputed; median and p90 time-to-removal.")  # noqa: E501
COMMANDS["serve"] = LazyCommand("spinneret.cli.serve_cmd", "Serve the JSON API (/api/v1), the web UI, owner pages and /metrics.")  # noqa: E501
COMMANDS["crawl"] = LazyCommand("spinneret.cli.crawl_cmd", "Crawl a registered site (or all) and hash, match and record every image found.")  # noqa: E501
COMMANDS["worker"] = LazyCommand("spinneret.cli.worker_cmd", "Start a worker that hashes, matches and records queued images (and sends notices).")  # noqa: E501
COMMANDS["beat"] = LazyCommand("spinneret.cli.worker_cmd", "Start the scheduler (notice delivery, rechecks, reminders).")  # noqa: E501
COMMANDS["demo"] = LazyCommand("spinneret.cli.demo_cmd", "Generate a demo site, import the demo hash list, crawl it, send the notices to a local mail sink, recheck.")  # noqa: E501
COMMANDS["match"] = LazyCommand("spinneret.cli.match_cmd", "Match image files against every loaded hash list (block and allow lists).")  # noqa: E501
COMMANDS["tokens"] = LazyCommand("spinneret.cli.tokens_cmd", "API tokens (admin, analyst, viewer).")
COMMANDS["db"] = LazyCommand("spinneret.cli.db_cmd", "The records database schema (migrations).")
COMMANDS["crawler"] = LazyCommand("spinneret.cli.crawler_cmd", "Crawl every registered site on a schedule, resuming unfinished crawls (a service).")  # noqa: E501

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
        if not is_user_error(exc):
            raise
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(2)
