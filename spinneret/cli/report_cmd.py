"""`spinneret report URL [--note]` and `spinneret reports ls|show`: reported URLs."""

from __future__ import annotations

import asyncio

import typer

from spinneret.cli._records_view import as_json, emit_records, when
from spinneret.cli.common import OutputFormat, console
from spinneret.cli.output import emit, field_table
from spinneret.records.models import REPORT_STATUSES
from spinneret.records.reports import ReportRepository
from spinneret.records.types import ReportRecord
from spinneret.runtime.context import AppContext


def _status(report: ReportRecord) -> str:
    return f"{report.status} ({report.reason})" if report.reason else report.status


def _fields(report: ReportRecord) -> list[tuple[str, str]]:
    return [
        ("url", report.url), ("status", report.status), ("reason", report.reason or ""),
        ("note", report.note), ("reporter", report.reporter),
        ("site", f"{report.site_name} ({report.site_origin})" if report.site_name else ""),
        ("crawl", str(report.crawl_id or "")), ("pages fetched", str(report.pages_fetched)),
        ("images found", str(report.images_found)),
        ("images hashed", str(report.images_hashed)),
        ("images skipped", str(report.images_skipped)), ("matches", str(report.matches)),
        ("notices", ", ".join(str(n) for n in report.notice_ids)),
        ("reported", when(report.created_at)), ("finished", when(report.finished_at)),
    ]


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        url: str = typer.Argument(..., help="The page (or image) URL to check."),
        note: str = typer.Option("", "--note", help="Why it is reported (kept with it)."),
        wait_s: float = typer.Option(
            300.0, "--wait", min=0,
            help="With the Celery pipeline: seconds to wait for a worker to fetch it."),
    ) -> None:
        """Report a URL: fetch the page and its images once, match them, notify its site."""
        from spinneret.runtime.reports import (
            dispatch,
            run_report_in_process,
            wait_until_ended,
        )

        context = AppContext()
        try:
            created = ReportRepository(context.db).create(url, note, "cli")
            console.print(f"report {created.id}: queued", markup=False)
            if dispatch(context, created.id):
                done = asyncio.run(wait_until_ended(context, created.id, wait_s))
            else:
                done = run_report_in_process(context, created.id)
        finally:
            context.close()
        console.print(f"report {done.id}: {_status(done)}", markup=False)
        console.print(f"  {done.images_found} images found, {done.images_hashed} hashed, "
                      f"{done.matches} matches; site {done.site_name or '-'}", markup=False)
        if done.status == "failed":
            raise typer.Exit(1)

    group = typer.Typer(help="Reported URLs and what became of them.", no_args_is_help=True)

    @group.command("ls")
    def ls(
        status: str | None = typer.Option(
            None, "--status", help=f"One of {', '.join(REPORT_STATUSES)}."),
        limit: int = typer.Option(50, "--limit", min=1),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """List reports, newest first."""
        context = AppContext()
        try:
            reports = ReportRepository(context.db).list(status=status, limit=limit)
        finally:
            context.close()
        rows = [(str(r.id), _status(r), r.url, r.site_name or "", str(r.images_found),
                 str(r.matches), r.reporter, when(r.created_at)) for r in reports]
        emit_records(format, reports, ReportRecord, "Reports", (
            "id", "status", "url", "site", "images", "matches", "reporter", "reported"), rows)

    @group.command("show")
    def show(
        report_id: int = typer.Argument(..., metavar="ID"),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Show one report: its status (and why), counts, site and notices."""
        context = AppContext()
        try:
            found = ReportRepository(context.db).get(report_id)
        finally:
            context.close()
        emit(format, as_json(found), field_table(f"Report {found.id}", _fields(found)),
             json_style="object")

    app.add_typer(group, name="reports")
