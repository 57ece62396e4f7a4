"""`spinneret crawls ls|show`: past and running crawls."""

from __future__ import annotations

import typer

from spinneret.cli._records_view import as_json, emit_records, when
from spinneret.cli.common import OutputFormat
from spinneret.cli.output import emit, field_table
from spinneret.records.crawls import CrawlRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import CrawlRecord
from spinneret.runtime.context import app_context


def _duration(crawl: CrawlRecord) -> str:
    return "" if crawl.duration_s is None else f"{crawl.duration_s:.1f}s"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Crawls: status and counters.", no_args_is_help=True)

    @group.command("ls")
    def ls(
        site: str | None = typer.Option(None, "--site", help="Only this site's crawls."),
        status: str | None = typer.Option(None, "--status"),
        limit: int = typer.Option(50, "--limit", min=1),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """List crawls, newest first."""
        with app_context() as context:
            site_id = SiteRepository(context.db).get(site).id if site else None
            crawls = CrawlRepository(context.db).list(site_id=site_id, status=status, limit=limit)
        rows = [(str(c.id), c.site_name, c.status, when(c.started_at), str(c.pages_fetched),
                 str(c.images_found), str(c.images_hashed), str(c.images_skipped),
                 _duration(c)) for c in crawls]
        emit_records(format, crawls, CrawlRecord, "Crawls", (
            "id", "site", "status", "started", "pages", "images", "hashed", "skipped",
            "duration"), rows)

    @group.command("show")
    def show(
        crawl_id: int = typer.Argument(..., metavar="ID"),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Show one crawl with its skip reasons, errors and why it failed."""
        with app_context() as context:
            crawl = CrawlRepository(context.db).get(crawl_id)
        emit(format, as_json(crawl), field_table(f"Crawl {crawl.id}", [
            ("site", crawl.site_name), ("status", crawl.status),
            ("queued", when(crawl.created_at)), ("started", when(crawl.started_at)),
            ("finished", when(crawl.finished_at)), ("duration", _duration(crawl)),
            ("pages fetched", str(crawl.pages_fetched)),
            ("images found", str(crawl.images_found)),
            ("images hashed", str(crawl.images_hashed)),
            ("images skipped", str(crawl.images_skipped)),
            ("skip reasons", _counts(crawl.skipped_reasons)),
            ("pages/links not followed", _counts(crawl.urls_skipped)),
            ("errors", _counts(crawl.errors)),
            *([("failure", crawl.failure_reason)] if crawl.failure_reason else []),
        ]), json_style="object")

    app.add_typer(group, name="crawls")
