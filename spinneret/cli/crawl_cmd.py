"""`spinneret crawl NAME | --all`: crawl registered sites to completion with a progress bar."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from spinneret.cli.common import console, err_console
from spinneret.records.sites import SiteRepository
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import CrawlProgress, CrawlSummary, run_crawl


def crawl_with_progress(context: AppContext, site_name: str) -> CrawlSummary:
    """Run one crawl, showing a live progress bar on a terminal."""
    return crawl_with_progress_for(
        context, site_name, lambda show: asyncio.run(run_crawl(context, site_name, on_progress=show))
    )


def crawl_with_progress_for(context: AppContext, site_name: str, run) -> CrawlSummary:
    """Call `run(show)` (which crawls, reporting through `show`) under a progress bar."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[site]}[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None, site=site_name)

        def show(progress: CrawlProgress) -> None:
            stats = progress.stats
            if progress.phase == "recording":
                total = max(stats.images_sent, 1)
                bar.update(task, total=total, completed=progress.images_recorded,
                           description=f"recording {progress.images_recorded}/{stats.images_sent} images")
            else:
                queued = stats.pages_queued + stats.pages_fetched
                bar.update(task, total=queued or None, completed=stats.pages_fetched,
                           description=f"{stats.pages_fetched} pages, {stats.images_found} images")

        return run(show)


def print_summary(summary: CrawlSummary) -> None:
    crawl = summary.crawl
    table = Table(title=f"Crawl {crawl.id} of {crawl.site_name}: {crawl.status}"
                  + (" (resumed)" if summary.resumed else ""), show_header=False)
    table.add_row("pages fetched", str(crawl.pages_fetched))
    table.add_row("pages/links not followed", str(sum(crawl.urls_skipped.values())))
    for reason, count in sorted(crawl.urls_skipped.items()):
        table.add_row(f"  not followed: {reason}", str(count))
    table.add_row("images found", str(crawl.images_found))
    table.add_row("images hashed", str(crawl.images_hashed))
    table.add_row("images skipped", str(crawl.images_skipped))
    for reason, count in sorted(crawl.skipped_reasons.items()):
        table.add_row(f"  skipped: {reason}", str(count))
    for kind, count in sorted(crawl.errors.items()):
        table.add_row(f"  error: {kind}", str(count))
    if summary.matches_by_list:
        for (list_name, decision), count in sorted(summary.matches_by_list.items()):
            table.add_row(f"images matched: {list_name} ({decision})", str(count))
    else:
        table.add_row("images matched", "0")
    table.add_row("duration", f"{crawl.duration_s or 0:.1f} s")
    console.print(table)
    if crawl.failure_reason:
        err_console.print(f"error: crawl {crawl.id} of {crawl.site_name} failed: "
                          f"{crawl.failure_reason}", markup=False)
    elif summary.start_problem:
        err_console.print(f"warning: {summary.start_problem}", markup=False)


def register(app: typer.Typer) -> None:
    @app.command("crawl")
    def crawl(
        name: str = typer.Argument(None, help="Registered site name."),
        all_sites: bool = typer.Option(False, "--all", help="Crawl every registered site."),
    ) -> None:
        """Crawl a registered site (or all) and hash, match and record every image found."""
        if bool(name) == all_sites:
            err_console.print("error: give a site NAME or --all")
            raise typer.Exit(2)
        context = AppContext()
        names = ([s.name for s in SiteRepository(context.db).list(origin="registered")]
                 if all_sites else [name])
        failed = 0
        for site_name in names:
            summary = crawl_with_progress(context, site_name)
            print_summary(summary)
            failed += summary.crawl.status != "finished"
        if failed:
            raise typer.Exit(1)
