"""`spinneret demo`: the whole loop on a generated benign site, on the embedded default."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from spinneret.cli.common import console
from spinneret.context import AppContext


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        unlisted: int = typer.Option(60, "--unlisted", help="Unlisted images on the demo site."),
    ) -> None:
        """Generate a demo site, import the demo hash list, crawl it with a worker, report."""
        from spinneret.cli.crawl_cmd import crawl_with_progress_for, print_summary
        from spinneret.demo import run as demo_run
        from spinneret.demo.site import build_demo_site
        from worker.celery_app import configure

        started = time.monotonic()
        context = demo_run.demo_context(AppContext())
        settings = context.settings
        console.print(f"[bold]Spinneret demo[/] — data in {settings.data_dir}")
        console.print(f"• Redis: {context.redis_url}" + ("" if settings.redis_url else " (embedded)"))
        console.print(f"• Records: {settings.effective_database_url}")
        _ = context.db  # creates / migrates the database
        result = demo_run.import_demo_list(context)
        console.print(
            f"• Imported hash list [bold]{result.list}[/] v{result.version}: "
            f"{result.added} added, {result.removed} removed, {result.unchanged} unchanged"
        )
        site = build_demo_site(unlisted=unlisted)
        console.print(
            f"• Generated a demo site: {len(site.images)} synthetic images, "
            f"{len(site.listed)} of them edited copies of listed images "
            f"({', '.join(sorted({i.edit for i in site.listed}))})"
        )
        celery_app = configure(settings, context.redis_url)
        worker = demo_run.WorkerProcess.start(context, concurrency=1)
        try:
            console.print(f"• Started a worker process (pid {worker.process.pid}); waiting for it")
            worker.wait_ready(celery_app)
            summary = crawl_with_progress_for(
                context, demo_run.DEMO_SITE,
                lambda show: demo_run.run_demo_crawl(context, site, show),
            )
        finally:
            worker.stop()
        print_summary(summary)
        _print_outcome(site, context, summary.crawl.id)
        console.print(f"Demo finished in {time.monotonic() - started:.1f} s. "
                      "Try: spinneret crawls ls, spinneret lists ls, spinneret sites show demo")


def _print_outcome(site, context: AppContext, crawl_id: int) -> None:
    from records.matches import MatchRepository

    matches = MatchRepository(context.db).list(crawl_id=crawl_id, limit=100_000)
    table = Table(title="Listed images on the demo site", show_lines=False)
    table.add_column("image")
    table.add_column("edit")
    table.add_column("found")
    table.add_column("best match")
    for image in site.listed:
        hits = [m for m in matches if m.image_url.endswith(image.path)]
        best = min(hits, key=lambda m: (m.decision != "auto", m.distance), default=None)
        table.add_row(
            image.path, image.edit or "", "yes" if hits else "[red]no[/]",
            f"{best.algorithm} d={best.distance} {best.decision}" if best else "",
        )
    console.print(table)
    false_hits = [m for m in matches if not any(m.image_url.endswith(i.path) for i in site.listed)]
    console.print(f"Unlisted images flagged: {len(false_hits)}")
