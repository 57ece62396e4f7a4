"""`spinneret lists enable|disable|entry-disable|entry-enable|set-threshold|release|feedback`:
the per-list controls (`matcher.controls`) and the false positives recorded against a list's
entries, exported for its authority."""

from __future__ import annotations

import typer

from spinneret.cli.common import OutputFormat, console
from spinneret.cli.output import TableView, emit
from spinneret.runtime.context import AppContext


def _run(change: str, *args, with_settings: bool = False, **kwargs):
    """Run one `runtime.list_controls` change with the CLI's identity, audited."""
    # On use only: these import SQLAlchemy and the matcher's kernels (`--help` must not).
    from spinneret.cli.lists_cmd import _who  # noqa: PLC0415
    from spinneret.records.audit import AuditLog  # noqa: PLC0415
    from spinneret.runtime import list_controls  # noqa: PLC0415

    context = AppContext()
    try:
        head = (context.store, context.settings) if with_settings else (context.store,)
        return getattr(list_controls, change)(*head, *args, by=_who(),
                                              audit=AuditLog(context.db), **kwargs)
    finally:
        context.close()


def _entry_switch(group: typer.Typer, command: str, enabled: bool, help: str) -> None:
    """`lists entry-enable` / `lists entry-disable`: one command each, the same arguments."""
    said = "enabled" if enabled else "disabled"

    @group.command(command, help=help)
    def switch_command(
        name: str = typer.Argument(...),
        hash: str = typer.Argument(..., help="The listed hash (hex)."),
        algorithm: str = typer.Option(..., "--algorithm", help="The hash's algorithm."),
    ) -> None:
        _run("set_entry_enabled", name, hash, algorithm, enabled)
        console.print(f"{algorithm} entry {hash.strip().lower()} of {name} {said}",
                      markup=False)


def register(group: typer.Typer) -> None:
    @group.command("enable")
    def enable_command(name: str = typer.Argument(...)) -> None:
        """Switch a list on again for live matching."""
        _run("set_enabled", name, True)
        console.print(f"list {name} enabled", markup=False)

    @group.command("disable")
    def disable_command(name: str = typer.Argument(...)) -> None:
        """Switch a list off: it matches nothing until enabled (its entries are kept)."""
        _run("set_enabled", name, False)
        console.print(f"list {name} disabled: it matches nothing until enabled", markup=False)

    _entry_switch(group, "entry-disable", False,
                  "Switch one entry of a list off (it stays in the list, but matches nothing).")
    _entry_switch(group, "entry-enable", True, "Switch a disabled entry of a list on again.")

    @group.command("set-threshold")
    def set_threshold_command(
        name: str = typer.Argument(...),
        algorithm: str = typer.Argument(..., help="A perceptual algorithm, e.g. pdq."),
        auto: int | None = typer.Option(None, "--auto", help="Auto distance for this list."),
        review: int | None = typer.Option(
            None, "--review", help="Review distance for this list (at most the deployment's)."),
        clear: bool = typer.Option(False, "--clear", help="Drop this list's override."),
    ) -> None:
        """Override a list's distances for one algorithm (tighter, or a wider auto up to the
        review distance); --clear goes back to the deployment's."""
        if clear and (auto is not None or review is not None):
            raise typer.BadParameter("--clear takes no --auto or --review")
        if not clear and auto is None and review is None:
            raise typer.BadParameter("give --auto and/or --review (or --clear)")
        _run("set_threshold", name, algorithm, auto=auto, review=review, with_settings=True)
        said = "cleared" if clear else ", ".join(
            f"{k} {v}" for k, v in (("auto", auto), ("review", review)) if v is not None)
        console.print(f"list {name} {algorithm} thresholds: {said}", markup=False)

    @group.command("release")
    def release_command(name: str = typer.Argument(...)) -> None:
        """End a list's flood quarantine: its auto matches go into notices again."""
        _run("release", name)
        console.print(f"list {name} released from quarantine", markup=False)

    @group.command("feedback")
    def feedback_command(
        name: str = typer.Argument(...),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """The list's entries analysts rejected as false positives, to send to its source."""
        from spinneret.records.reviews import (  # noqa: PLC0415 - SQLAlchemy on use only
            FEEDBACK_FIELDS,
            FeedbackRepository,
            feedback_json,
        )

        context = AppContext()
        try:
            found = FeedbackRepository(context.db).for_list(name)
            if not found:
                context.store.get_list(name)  # an unknown list is an error, not empty
        finally:
            context.close()
        rows = [feedback_json(f) for f in found]
        emit(format, rows, TableView(
            f"False positives of list {name}", ("algorithm", "hash", "source id", "label",
                                                "image URL", "by", "note", "at"),
            [(r["algorithm"], r["entry_hash"], r["source_id"], r["label"], r["image_url"],
              r["by"], r["note"], r["at"]) for r in rows]), csv_fields=FEEDBACK_FIELDS)
