"""`spinneret crawler`: the long-running crawl service (crawls every site on a schedule).

Several `spinneret crawler` processes may run: a site due in two of them is crawled by both
together (one crawl, one shared Redis frontier, no URL fetched twice).
"""

from __future__ import annotations

import asyncio
import logging
import threading

import typer

from spinneret.cli.common import console
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import run_crawl
from spinneret.runtime.scheduling import due_sites

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    @app.command("crawler")
    def crawler(
        interval_s: float | None = typer.Option(
            None, "--interval-s", min=1, help="Recrawl each site this often (default: setting "
            "crawl_interval_s)."),
        poll_s: float = typer.Option(60.0, "--poll-s", min=0.1,
                                     help="How often to look for due sites."),
        once: bool = typer.Option(False, "--once", help="Crawl the due sites once, then exit."),
    ) -> None:
        """Crawl every registered site on a schedule, resuming unfinished crawls (a service)."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        context = AppContext()
        interval = interval_s or context.settings.crawl_interval_s
        stop = threading.Event()
        failed = 0
        while not stop.is_set():
            for name in due_sites(context, interval):
                summary = asyncio.run(run_crawl(context, name))
                crawl = summary.crawl
                failed += crawl.status not in ("finished", "running")
                console.print(f"crawl {crawl.id} of {name}: {crawl.status}, "
                              f"{crawl.pages_fetched} pages, {crawl.images_found} images")
            if once:
                break
            stop.wait(poll_s)
        if failed:
            raise typer.Exit(1)
