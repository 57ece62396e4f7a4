"""`spinneret review ls|confirm ID|reject ID [--note]`: the queue of borderline matches."""

from __future__ import annotations

import getpass
import json
import sys

import typer
from rich.table import Table

from config import get_settings
from notices.review import CONFIRM_OUTCOMES
from notices.service import NoticeService
from spinneret.cli.common import OutputFormat, console


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def register(app: typer.Typer) -> None:
    review = typer.Typer(help="Review borderline matches before any notice goes out.",
                         no_args_is_help=True)

    @review.command("ls")
    def ls_command(format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f")
                   ) -> None:
        """Matches waiting for a decision (ID = the match id)."""
        entries = NoticeService.from_settings(get_settings()).review_queue()
        if format is OutputFormat.json:
            for e in entries:
                sys.stdout.write(json.dumps({
                    "id": e.match_id, "site": e.site_name, "image_url": e.image_url,
                    "page_url": e.page_url, "list": e.list_name, "category": e.category,
                    "algorithm": e.algorithm, "distance": e.distance, "label": e.label,
                    "found_at": e.created_at.isoformat(),
                }) + "\n")
            return
        table = Table(title="Review queue")
        for column in ("id", "site", "image URL", "list", "category", "algorithm", "distance"):
            table.add_column(column, overflow="fold")
        for e in entries:
            table.add_row(str(e.match_id), e.site_name, e.image_url, e.list_name, e.category,
                          e.algorithm, str(e.distance))
        console.print(table)

    @review.command("confirm")
    def confirm_command(match_id: int = typer.Argument(..., metavar="ID"),
                        note: str = typer.Option("", "--note")) -> None:
        """Confirm: the match goes into its site's next notice (unless already covered)."""
        outcome = NoticeService.from_settings(get_settings()).confirm(match_id, by=_who(),
                                                                      note=note)
        console.print(f"review {match_id} confirmed; {CONFIRM_OUTCOMES[outcome]}", markup=False)

    @review.command("reject")
    def reject_command(match_id: int = typer.Argument(..., metavar="ID"),
                       note: str = typer.Option("", "--note", help="Why (kept in the record).")
                       ) -> None:
        """Reject: the reason is recorded and this image URL + hash is suppressed."""
        NoticeService.from_settings(get_settings()).reject(match_id, by=_who(), note=note)
        console.print(f"review {match_id} rejected; URL + hash suppressed")

    app.add_typer(review, name="review")
