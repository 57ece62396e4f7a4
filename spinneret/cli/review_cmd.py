"""`spinneret review ls|show ID|confirm ID|reject ID --note`: one review item per image."""

from __future__ import annotations

import typer

from spinneret.cli._records_view import who
from spinneret.cli.common import OutputFormat, console
from spinneret.cli.matches_cmd import FORMAT_OPTION, show_image
from spinneret.cli.output import TableView, emit
from spinneret.config import get_settings
from spinneret.notices.review import CONFIRM_OUTCOMES, REJECT_OUTCOMES, consensus_of
from spinneret.notices.service import NoticeService
from spinneret.records.matched_images import IMAGE_FIELDS, MatchedImageRepository, image_json


def _service() -> NoticeService:
    return NoticeService.from_settings(get_settings())


def register(app: typer.Typer) -> None:
    review = typer.Typer(help="Review borderline matches before any notice goes out: one item "
                              "per image, with every list entry it matched.",
                         no_args_is_help=True)

    @review.command("ls")
    def ls_command(format: OutputFormat = FORMAT_OPTION) -> None:
        """Images waiting for a decision, oldest first (ID = the image's review item)."""
        service = _service()
        items = service.review_queue()
        needed = service.review_consensus
        standing = {i.id: consensus_of(i.reviews, needed) for i in items}
        rows = [(str(i.id), i.site_name, i.image_url, i.best.list_name, i.best.category,
                 i.best.algorithm, str(i.best.distance), str(len(i.evidence)),
                 standing[i.id].summary()) for i in items]
        emit(format, [{**image_json(i), "consensus": standing[i.id].to_json()} for i in items],
             TableView("Review queue", ("id", "site", "image URL", "list", "category",
                                        "algorithm", "distance", "entries", "decided"), rows),
             csv_fields=IMAGE_FIELDS)

    @review.command("show")
    def show_command(image_id: int = typer.Argument(..., metavar="ID"),
                     format: OutputFormat = FORMAT_OPTION) -> None:
        """One review item: every list entry, the listed hash next to the image's."""
        show_image(MatchedImageRepository(_service().db).get(image_id), format)

    @review.command("confirm")
    def confirm_command(image_id: int = typer.Argument(..., metavar="ID"),
                        note: str = typer.Option("", "--note", help="Optional.")) -> None:
        """Confirm: the image's matches go into its site's next notice (unless covered)."""
        outcome = _service().confirm(image_id, by=who(), note=note)
        verb = "confirmation recorded" if outcome == "pending" else "confirmed"
        console.print(f"review {image_id} {verb}; {CONFIRM_OUTCOMES[outcome]}", markup=False)

    @review.command("reject")
    def reject_command(image_id: int = typer.Argument(..., metavar="ID"),
                       note: str = typer.Option("", "--note",
                                                help="Why (required; kept in the record).")
                       ) -> None:
        """Reject, saying why: the note is kept and each URL + list entry is suppressed."""
        outcome = _service().reject(image_id, by=who(), note=note)
        verb = "rejected" if outcome == "reviewed_rejected" else "rejection recorded"
        console.print(f"review {image_id} {verb}; {REJECT_OUTCOMES[outcome]}", markup=False)

    app.add_typer(review, name="review")
