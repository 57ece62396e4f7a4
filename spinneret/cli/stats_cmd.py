"""`spinneret stats`: open / removed / disputed counts and time-to-removal per site."""

from __future__ import annotations

import dataclasses

import typer

from spinneret.cli.common import OutputFormat
from spinneret.cli.output import TableView, emit, record_fields
from spinneret.config import get_settings
from spinneret.notices.service import NoticeService
from spinneret.notices.stats import SiteStats


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats_command(format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f")
                      ) -> None:
        """Per site: images open, removed, disputed; median and p90 time-to-removal."""
        rows = NoticeService.from_settings(get_settings()).stats()
        table = [(r.site, str(r.notices), str(r.open), str(r.removed), str(r.disputed),
                  _duration(r.median_time_to_removal_s), _duration(r.p90_time_to_removal_s))
                 for r in rows]
        emit(format, [dataclasses.asdict(r) for r in rows], TableView(
            "Notice statistics", ("site", "notices", "open", "removed", "disputed",
                                  "median TTR", "p90 TTR"), table),
            csv_fields=record_fields(SiteStats))
