"""`spinneret demo`: the whole loop on a generated benign site, on the embedded default."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from spinneret.cli.common import console
from spinneret.runtime.context import AppContext


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        unlisted: int = typer.Option(60, "--unlisted", help="Unlisted images on the demo site."),
        notices: bool = typer.Option(True, "--notices/--no-notices",
                                     help="Send notices to a local mail sink and recheck."),
    ) -> None:
        """Generate a demo site, import the demo hash list, crawl it with a worker, send the
        notices to a local mail sink, let the owner remove half, recheck."""
        from spinneret.cli.crawl_cmd import crawl_with_progress_for, print_summary
        from spinneret.demo import run as demo_run
        from spinneret.demo.mailsink import DemoMailSink
        from spinneret.demo.site import build_demo_site
        from spinneret.runtime.celery_app import configure

        started = time.monotonic()
        base = AppContext()
        sink = DemoMailSink(base.settings.data_dir / "demo-mail").start() if notices else None
        context = demo_run.demo_context(base, smtp_port=sink.port if sink else None)
        settings = context.settings
        try:
            console.print(f"[bold]Spinneret demo[/] — data in {settings.data_dir}")
            console.print(f"• Redis: {context.redis_url}"
                          + ("" if settings.redis_url else " (embedded)"))
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
                console.print(f"• Started a worker process (pid {worker.process.pid})")
                worker.wait_ready(celery_app)
                outcome = crawl_with_progress_for(
                    context, demo_run.DEMO_SITE,
                    lambda show: demo_run.run_demo(context, site, show, notices=notices),
                )
            finally:
                worker.stop()
            print_summary(outcome.crawl)
            _print_listed(site, context, outcome.crawl.crawl.id)
            if sink is not None:
                _print_notices(context, outcome, sink)
            _print_retro(outcome)
        finally:
            if sink is not None:
                sink.stop()
        console.print(f"Demo finished in {time.monotonic() - started:.1f} s. Try: "
                      "spinneret crawls ls, spinneret lists ls, spinneret notices ls, "
                      "spinneret stats")


def _print_retro(outcome) -> None:
    retro = outcome.retro
    if retro is None:
        return
    console.print(
        f"• After the crawl, a second list ({retro.list}, {retro.new_entries} photos the crawl "
        f"saw; the owner had taken {outcome.retro_removed} down) was matched against the "
        "images seen before, without a new crawl:", markup=False)
    console.print(f"  {retro.summary} ({retro.gone} gone, {retro.matches_recorded} new "
                  "matches for the next notices)", markup=False)


def _print_listed(site, context: AppContext, crawl_id: int) -> None:
    from spinneret.records.matches import MatchRepository

    matches = MatchRepository(context.db).list(crawl_id=crawl_id, limit=100_000)
    table = Table(title="Listed images on the demo site")
    for column in ("image", "edit", "found", "best match"):
        table.add_column(column)
    for image in site.listed:
        hits = [m for m in matches if m.image_url.endswith(image.path)]
        best = min(hits, key=lambda m: (m.decision != "auto", m.distance), default=None)
        table.add_row(
            image.path, image.edit or "", "yes" if hits else "[red]no[/]",
            f"{best.algorithm} d={best.distance} {best.decision}" if best else "",
        )
    console.print(table)
    listed = tuple(image.path for image in site.listed)
    flagged = {(m.image_url, m.sha256) for m in matches if not m.image_url.endswith(listed)}
    console.print(f"Unlisted images flagged: {len(flagged)}")  # images, not match rows


def _print_notices(context: AppContext, outcome, sink) -> None:
    from spinneret.notices.service import NoticeService

    service = NoticeService(context.db, context.settings)
    table = Table(title="Takedown notices")
    for column in ("notice", "site", "status", "items", "removed", "deliveries"):
        table.add_column(column)
    for view in service.list():
        removed = sum(1 for item in view.items if item.status == "removed")
        deliveries = ", ".join(f"{d.channel}→{d.recipient}: {d.status}" for d in view.deliveries)
        table.add_row(str(view.id), view.site_name, view.status, str(len(view.items)), str(removed),
                      deliveries)
    console.print(table)
    mails = sink.messages()
    console.print(f"• {len(mails)} notice e-mail(s) delivered to the local sink: "
                  f"{sink.mail_dir / 'new'}")
    if outcome.recheck is not None:
        console.print(
            f"• The owner removed {len(outcome.removed_by_owner)} images; the recheck checked "
            f"{outcome.recheck.checked} items and found {len(outcome.recheck.removed)} removed, "
            f"{len(outcome.recheck.present)} still up"
        )
    for stats in service.stats():
        median = stats.median_time_to_removal_s
        console.print(
            f"• Site {stats.site}: {stats.open} still up, {stats.removed} removed, "
            f"{stats.disputed} disputed; median time to removal "
            + (f"{median:.1f} s" if median is not None else "n/a")
        )
