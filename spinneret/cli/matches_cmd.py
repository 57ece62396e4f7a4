"""`spinneret matches ls|show`: recorded matches, one entry per crawled image."""

from __future__ import annotations

import typer

from spinneret.cli._records_view import when
from spinneret.cli.common import OutputFormat
from spinneret.cli.output import TableView, emit, field_table, print_table
from spinneret.records.matched_images import (
    IMAGE_FIELDS,
    ImageFilter,
    MatchedImageRepository,
    image_json,
    parse_day,
)
from spinneret.records.models import MATCH_DECISIONS
from spinneret.records.sites import SiteRepository
from spinneret.records.types import MatchedImage
from spinneret.runtime.context import app_context

FORMAT_OPTION = typer.Option(OutputFormat.table, "--format", "-f")


def best_match(image: MatchedImage) -> str:
    best = image.best
    more = f" (+{len(image.evidence) - 1} more)" if len(image.evidence) > 1 else ""
    return f"{best.list_name}: {best.algorithm} d={best.distance}{more}"


def image_fields(image: MatchedImage) -> list[tuple[str, str]]:
    """The `field  value` lines of one image."""
    pairs = [
        ("site", image.site_name), ("image URL", image.image_url),
        ("page URL", image.page_url or ""), ("sha256", image.sha256),
        ("first found", when(image.first_found)), ("last found", when(image.last_found)),
        ("crawls", str(image.crawls)), ("decision", image.decision), ("state", image.state),
    ]
    pairs += [(f"notice {i.notice_reference}", f"{i.reference}: {i.status}"
               + (f" at {when(i.removed_at)}" if i.removed_at else ""))
              for i in image.notice_items]
    pairs += [(f"{r.decision}ed", f"{when(r.at)} by {r.by}" + (f": {r.note}" if r.note else ""))
              for r in image.reviews]
    return pairs


def evidence_view(image: MatchedImage) -> TableView:
    """Every list entry the image matched: the listed hash next to the image's own."""
    rows = [(e.list_name, e.algorithm, str(e.distance), e.entry_hash, e.image_hash,
             e.label, e.source_id, e.decision, e.status_label) for e in image.evidence]
    return TableView("Evidence", ("list", "algorithm", "distance", "listed hash",
                                  "image hash", "label", "source id", "decision", "state"),
                     rows)


def show_image(image: MatchedImage, format: OutputFormat) -> None:
    """`matches show` and `review show`: the image, then its evidence."""
    if format is not OutputFormat.table:
        emit(format, image_json(image), field_table("", ()), json_style="object")
        return
    print_table(field_table(f"Image {image.id}", image_fields(image)))
    print_table(evidence_view(image))


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Recorded matches, one entry per crawled image.",
                        no_args_is_help=True)

    @group.command("ls")
    def ls(
        site: str | None = typer.Option(None, "--site", help="Only this site (name)."),
        list_name: str | None = typer.Option(None, "--list", help="Only this hash list."),
        decision: str | None = typer.Option(
            None, "--decision", help=f"Only images decided {' or '.join(MATCH_DECISIONS)}."),
        since: str | None = typer.Option(None, "--since", help="Found on or after YYYY-MM-DD."),
        until: str | None = typer.Option(None, "--until", help="Found on or before YYYY-MM-DD."),
        limit: int = typer.Option(50, "--limit", min=1, max=10000),
        offset: int = typer.Option(0, "--offset", min=0),
        format: OutputFormat = FORMAT_OPTION,
    ) -> None:
        """Matched images, the most recently found first, with their closest list entry."""
        with app_context() as context:
            filters = ImageFilter(
                site_id=SiteRepository(context.db).get(site).id if site else None,
                list_name=list_name, decision=decision, since=parse_day("--since", since),
                until=parse_day("--until", until))
            page = MatchedImageRepository(context.db).list(filters, limit=limit, offset=offset)
        shown = f"{offset + 1}-{offset + len(page.images)}" if page.images else "none"
        rows = [(str(i.id), when(i.last_found), i.site_name, i.image_url, best_match(i),
                 i.decision, i.state) for i in page.images]
        emit(format, [image_json(i) for i in page.images], TableView(
            f"Matched images ({shown} of {page.total})",
            ("id", "found", "site", "image URL", "match", "decision", "state"), rows),
            csv_fields=IMAGE_FIELDS)

    @group.command("show")
    def show(image_id: int = typer.Argument(..., metavar="ID"),
             format: OutputFormat = FORMAT_OPTION) -> None:
        """One matched image with every list entry it matched and its notices."""
        with app_context() as context:
            image = MatchedImageRepository(context.db).get(image_id)
        show_image(image, format)

    app.add_typer(group, name="matches")
