"""`spinneret sites add|ls|show|rm`: the websites Spinneret crawls and whom it notifies."""

from __future__ import annotations

from urllib.parse import urlsplit

import typer

from spinneret.cli._records_view import as_json, emit_records, when, who
from spinneret.cli.common import OutputFormat, console, err_console
from spinneret.cli.output import TableView, emit, field_table
from spinneret.config import Settings
from spinneret.config.netpolicy import NetworkPolicy
from spinneret.records.sites import SiteRepository, add_site, parse_site_fields, remove_site
from spinneret.records.types import NewSite, SiteRecord
from spinneret.runtime.context import app_context


def _limit(value: object, default: object) -> str:
    return f"default ({default})" if value is None else str(value)


def _show_table(site: SiteRecord, settings: Settings) -> TableView:
    return field_table(f"Site {site.name}", [
        ("id", str(site.id)), ("name", site.name), ("url", site.base_url),
        ("hosts", ", ".join(site.hosts)), ("owner e-mail", site.owner_email),
        ("abuse e-mail", site.abuse_email or ""), ("webhook", site.webhook_url or ""),
        ("webhook secret", site.webhook_secret or ""),
        ("max pages", _limit(site.max_pages, settings.default_max_pages)),
        ("max depth", _limit(site.max_depth, settings.default_max_depth)),
        ("rate (req/s)", _limit(site.rate_per_s, settings.default_rate_per_s)),
        ("robots.txt", "IGNORED" if site.ignore_robots else "obeyed"),
        ("include", "\n".join(site.include_patterns)),
        ("exclude", "\n".join(site.exclude_patterns)),
        ("created", when(site.created_at)), ("updated", when(site.updated_at)),
    ])


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Register and list the websites to crawl.", no_args_is_help=True)

    @group.command("add")
    def add(
        url: str = typer.Argument(..., help="Start URL (http or https)."),
        name: str = typer.Option(..., "--name", help="Unique short name of the site."),
        owner_email: str | None = typer.Option(
            None, "--owner-email", help="Where notices go (needed unless --webhook is given)."
        ),
        abuse_email: str | None = typer.Option(
            None, "--abuse-email", help="Escalation contact (hosting provider / abuse desk)."
        ),
        webhook: str | None = typer.Option(None, "--webhook", help="Signed webhook URL."),
        max_pages: int | None = typer.Option(None, "--max-pages", min=1),
        max_depth: int | None = typer.Option(None, "--max-depth", min=0),
        rate: float | None = typer.Option(None, "--rate", help="Requests per second."),
        ignore_robots: bool = typer.Option(
            False, "--ignore-robots", help="Do not obey robots.txt (recorded in the audit log)."
        ),
        include: list[str] | None = typer.Option(
            None, "--include", help="Only crawl URLs matching this pattern (repeatable)."
        ),
        exclude: list[str] | None = typer.Option(
            None, "--exclude", help="Never crawl URLs matching this pattern (repeatable)."
        ),
        host: list[str] | None = typer.Option(
            None, "--host",
            help="Also crawl pages on this host, besides the URL's own; '*.example.org' "
                 "admits every subdomain (repeatable).",
        ),
    ) -> None:
        """Register a site to crawl."""
        with app_context() as context:
            policy = NetworkPolicy.from_settings(context.settings)
            fields = parse_site_fields({
                "url": url, "name": name, "owner_email": owner_email or "",
                "abuse_email": abuse_email, "webhook_url": webhook, "max_pages": max_pages,
                "max_depth": max_depth, "rate_per_s": rate, "ignore_robots": ignore_robots,
                "include": include or [], "exclude": exclude or [], "hosts": host or [],
            })
            site = add_site(context.db, NewSite(**fields), actor=who(), network_policy=policy)
        console.print(f"added site {site.name} (id {site.id}): {site.base_url}", markup=False)
        if site.webhook_secret:
            console.print(f"webhook secret (give it to the site owner): {site.webhook_secret}",
                          markup=False)
        refusal = policy.host_refusal(urlsplit(site.base_url).hostname or "")
        if refusal:
            err_console.print(f"warning: the crawler will not fetch {site.base_url}: {refusal}",
                              markup=False)
        if site.ignore_robots:
            err_console.print(
                f"warning: robots.txt will be ignored for {site.name} (recorded in the audit log)",
                markup=False,
            )

    @group.command("ls")
    def ls(format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f")) -> None:
        """List registered sites."""
        with app_context() as context:
            sites = SiteRepository(context.db).list()
        rows = [(s.name, s.base_url, s.owner_email, _opt(s.max_pages), _opt(s.max_depth),
                 _opt(s.rate_per_s), "ignored" if s.ignore_robots else "obeyed",
                 when(s.created_at)) for s in sites]
        emit_records(format, sites, SiteRecord, "Sites", (
            "name", "url", "owner", "max pages", "depth", "rate", "robots", "created"), rows,
            hide=("webhook_secret",))
        if not sites and format is OutputFormat.table:
            err_console.print("no sites registered yet: spinneret sites add URL --name NAME "
                              "--owner-email ADDRESS", markup=False)

    @group.command("show")
    def show(
        name: str = typer.Argument(..., help="Site name."),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Show one site, with its webhook secret."""
        with app_context() as context:
            site = SiteRepository(context.db).get(name)
        emit(format, as_json(site), _show_table(site, context.settings), json_style="object")

    @group.command("rm")
    def rm(name: str = typer.Argument(..., help="Site name.")) -> None:
        """Remove a site with its crawls, matches and notices."""
        with app_context() as context:
            remove_site(context.db, name, actor=who())
        console.print(f"removed site {name}", markup=False)

    app.add_typer(group, name="sites")


def _opt(value: object) -> str:
    return "default" if value is None else str(value)
