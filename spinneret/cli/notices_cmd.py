"""`spinneret notices ls|show|resend|send|recheck`: follow takedown notices and their delivery."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

import typer
from rich.table import Table

from spinneret.cli.common import OutputFormat, console, err_console
from spinneret.cli.output import write_csv
from spinneret.config import get_settings
from spinneret.notices.clock import as_utc, seconds_between
from spinneret.notices.errors import NoticeError
from spinneret.notices.render import duration_words
from spinneret.notices.service import NoticeService
from spinneret.notices.types import NoticeView
from spinneret.records.models import NOTICE_STATUSES
from spinneret.runtime.recheck import notice_service_from_settings


def _service() -> NoticeService:
    return notice_service_from_settings(get_settings())


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def _goes_out(view: NoticeView, now: datetime) -> str:
    """When an open notice is sent: its window's end, or the next outbox pass."""
    if view.sends_at is None:
        return ""
    left = seconds_between(now, view.sends_at)
    if left <= 0:
        return "at the next outbox pass"
    return f"{_when(as_utc(view.sends_at))} (in {duration_words(left)})"


def _waiting_line(views: list[NoticeView], now: datetime) -> str:
    """What `notices send` says about open notices still collecting matches."""
    waiting = [v for v in views if v.sends_at is not None and seconds_between(now, v.sends_at) > 0]
    if not waiting:
        return ""
    first = min(waiting, key=lambda v: as_utc(v.sends_at))
    return (f"{len(waiting)} notice(s) waiting for their batch window "
            f"(SPINNERET_NOTICE_BATCH_WINDOW_S); the next, {first.reference} to "
            f"{first.site_name}, goes out {_goes_out(first, now)}; "
            "`spinneret notices send --now` sends them now")


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
        if format is OutputFormat.csv:  # items and deliveries as JSON in their cells
            write_csv([_json(view) for view in views])
            return
        table = Table(title="Notices")
        for column in ("id", "reference", "site", "status", "items", "deliveries", "created",
                       "sent", "goes out", "reminders"):
            table.add_column(column, overflow="fold")
        now = datetime.now(UTC)
        for view in views:
            table.add_row(str(view.id), view.reference, view.site_name, view.status,
                          _item_summary(view), _delivery_summary(view), _when(view.created_at),
                          _when(view.sent_at), _goes_out(view, now), str(view.reminders_sent))
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
        if format is OutputFormat.csv:
            write_csv([_json(view)])
            return
        console.print(f"Notice {view.id} {view.reference}  site {view.site_name}  "
                      f"status {view.status}  created {_when(view.created_at)}  "
                      f"sent {_when(view.sent_at)}  reminders {view.reminders_sent}  "
                      f"escalated {_when(view.escalated_at) or '-'}", markup=False)
        if view.sends_at is not None:
            console.print(f"Goes out {_goes_out(view, datetime.now(UTC))} "
                          "(`spinneret notices send --now` sends it now)", markup=False)
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
        for column in ("id", "channel", "recipient", "source", "kind", "status", "attempts",
                       "next", "sent", "last error"):
            deliveries.add_column(column, overflow="fold")
        for d in view.deliveries:
            deliveries.add_row(str(d.id), d.channel, d.recipient, d.recipient_source,
                               d.purpose, d.status,
                               str(d.attempts), _when(d.next_attempt_at), _when(d.sent_at),
                               d.last_error or "")
        console.print(deliveries)

    @notices.command("resend")
    def resend_command(notice_id: int = typer.Argument(..., metavar="ID")) -> None:
        """Queue the notice again to the site's current contacts (sent by `notices send`)."""
        created = _service().resend(notice_id)
        console.print(f"notice {notice_id}: {created} deliveries queued")

    @notices.command("send")
    def send_command(
        limit: int = typer.Option(100, "--limit", min=1),
        now: bool = typer.Option(False, "--now", help="Send open notices now, before their "
                                 "batch window ends (audited as notice.send_now)."),
    ) -> None:
        """Group new matches into notices and process the outbox once."""
        service = _service()
        result = asyncio.run(service.send_once(limit, now=now, actor="cli"))
        console.print(f"sent {len(result.sent)}, retrying {len(result.retrying)}, "
                      f"failed {len(result.failed)}")
        if result.refused and result.held:
            raise NoticeError(f"{len(result.held)} deliveries held: {result.refused}")
        if result.refused:
            err_console.print(f"warning: {result.refused}", markup=False)
        waiting = _waiting_line(service.list(statuses=("open",)), datetime.now(UTC))
        if waiting:
            console.print(waiting, markup=False)

    @notices.command("recheck")
    def recheck_command(limit: int = typer.Option(500, "--limit", min=1)) -> None:
        """One recheck pass: removed images, reappeared ones, reminders and escalations."""
        checked, follow = asyncio.run(_service().recheck_once(limit))
        console.print(f"checked {checked.checked}: removed {len(checked.removed)}, still up "
                      f"{len(checked.present)}, reappeared {len(checked.reappeared)}, "
                      f"unknown {len(checked.unknown)}; reminders {len(follow.reminders)}, "
                      f"escalations {len(follow.escalations)}")

    app.add_typer(notices, name="notices")
