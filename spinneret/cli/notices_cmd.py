"""`spinneret notices ls|show|resend|send|recheck`: follow takedown notices and their delivery."""

from __future__ import annotations

import asyncio
import json
import sys

import typer
from rich.table import Table

from config import get_settings
from notices.errors import NoticeError
from notices.service import NoticeService
from notices.types import NoticeView
from records.models import NOTICE_STATUSES
from spinneret.cli.common import OutputFormat, console


def _service() -> NoticeService:
    return NoticeService.from_settings(get_settings())


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def _delivery_summary(view: NoticeView) -> str:
    counts: dict[str, int] = {}
    for delivery in view.deliveries:
        counts[delivery.status] = counts.get(delivery.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"


def _item_summary(view: NoticeView) -> str:
    counts: dict[str, int] = {}
    for item in view.items:
        counts[item.status] = counts.get(item.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _json(view: NoticeView) -> dict:
    """The notice as JSON with a `site` key (its name) next to the view's own keys."""
    return {"id": view.id, "site": view.site_name, **view.to_json()}


def register(app: typer.Typer) -> None:
    notices = typer.Typer(help="Takedown notices: list, inspect, resend, send, recheck.",
                          no_args_is_help=True)

    @notices.command("ls")
    def ls_command(
        site: str | None = typer.Option(None, "--site", help="Only this site (name)."),
        status: list[str] = typer.Option([], "--status", help="Only these statuses."),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """List notices with their items and deliveries (failed deliveries included)."""
        unknown = [s for s in status if s not in NOTICE_STATUSES]
        if unknown:
            raise NoticeError(f"unknown status {unknown[0]!r} "
                              f"(one of {', '.join(NOTICE_STATUSES)})")
        views = _service().list(site=site, statuses=tuple(status))
        if format is OutputFormat.json:
            for view in views:
                sys.stdout.write(json.dumps(_json(view)) + "\n")
            return
        table = Table(title="Notices")
        for column in ("id", "reference", "site", "status", "items", "deliveries", "created",
                       "sent", "reminders"):
            table.add_column(column, overflow="fold")
        for view in views:
            table.add_row(str(view.id), view.reference, view.site_name, view.status,
                          _item_summary(view), _delivery_summary(view), _when(view.created_at),
                          _when(view.sent_at), str(view.reminders_sent))
        console.print(table)

    @notices.command("show")
    def show_command(
        notice_id: int = typer.Argument(..., metavar="ID"),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Every item and delivery of one notice."""
        view = _service().show(notice_id)
        if format is OutputFormat.json:
            sys.stdout.write(json.dumps(_json(view), indent=2) + "\n")
            return
        console.print(f"Notice {view.id} {view.reference}  site {view.site_name}  "
                      f"status {view.status}  created {_when(view.created_at)}  "
                      f"sent {_when(view.sent_at)}  reminders {view.reminders_sent}  "
                      f"escalated {_when(view.escalated_at) or '-'}", markup=False)
        items = Table(title="Items")
        for column in ("ref", "image URL", "page URL", "first detected", "list", "category",
                       "match", "status", "removed"):
            items.add_column(column, overflow="fold")
        for i in view.items:
            items.add_row(i.reference, i.image_url, i.page_url, _when(i.first_detected_at),
                          f"{i.list_name} ({i.list_source})", i.category,
                          f"{i.match_kind} {i.algorithm} d={i.distance}", i.status,
                          _when(i.removed_at) + (f" ({i.closed_reason})" if i.closed_reason
                                                 else ""))
        console.print(items)
        deliveries = Table(title="Deliveries")
        for column in ("id", "channel", "recipient", "kind", "status", "attempts", "next",
                       "sent", "last error"):
            deliveries.add_column(column, overflow="fold")
        for d in view.deliveries:
            deliveries.add_row(str(d.id), d.channel, d.recipient, d.purpose, d.status,
                               str(d.attempts), _when(d.next_attempt_at), _when(d.sent_at),
                               d.last_error or "")
        console.print(deliveries)

    @notices.command("resend")
    def resend_command(notice_id: int = typer.Argument(..., metavar="ID")) -> None:
        """Queue the notice again to the site's current contacts (sent by `notices send`)."""
        created = _service().resend(notice_id)
        console.print(f"notice {notice_id}: {created} deliveries queued")

    @notices.command("send")
    def send_command(limit: int = typer.Option(100, "--limit", min=1)) -> None:
        """Group new matches into notices and process the outbox once."""
        result = asyncio.run(_service().send_once(limit))
        console.print(f"sent {len(result.sent)}, retrying {len(result.retrying)}, "
                      f"failed {len(result.failed)}")

    @notices.command("recheck")
    def recheck_command(limit: int = typer.Option(500, "--limit", min=1)) -> None:
        """One recheck pass: removed images, reappeared ones, reminders and escalations."""
        checked, follow = asyncio.run(_service().recheck_once(limit))
        console.print(f"checked {checked.checked}: removed {len(checked.removed)}, still up "
                      f"{len(checked.present)}, reappeared {len(checked.reappeared)}, "
                      f"unknown {len(checked.unknown)}; reminders {len(follow.reminders)}, "
                      f"escalations {len(follow.escalations)}")

    app.add_typer(notices, name="notices")
