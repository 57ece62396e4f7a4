"""Registered sites: validation, the repository, and `add_site` (shared by CLI and API)."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spinneret.records.audit import write_event
from spinneret.records.db import Database
from spinneret.records.errors import InvalidSite, SiteExists, SiteNotFound
from spinneret.records.models import Site
from spinneret.records.types import NewSite, SiteRecord

if TYPE_CHECKING:
    from spinneret.config.netpolicy import NetworkPolicy

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
UPDATABLE = frozenset(
    {
        "base_url", "owner_email", "abuse_email", "webhook_url", "max_pages", "max_depth",
        "rate_per_s", "ignore_robots", "include_patterns", "exclude_patterns", "hosts",
    }
)

# A site's fields as the API, the UI and the CLI name them -> the NewSite field, and the
# JSON types accepted for it.
SITE_FIELDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "url": ("base_url", (str,)), "name": ("name", (str,)), "owner_email": ("owner_email", (str,)),
    "abuse_email": ("abuse_email", (str,)), "webhook_url": ("webhook_url", (str,)),
    "max_pages": ("max_pages", (int,)), "max_depth": ("max_depth", (int,)),
    "rate_per_s": ("rate_per_s", (int, float)), "ignore_robots": ("ignore_robots", (bool,)),
    "include": ("include_patterns", (list,)), "exclude": ("exclude_patterns", (list,)),
    "hosts": ("hosts", (list,)),
}
_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list of strings"}
# An HTML form sends text: how each of its fields reads, and the error for a bad number.
_FORM_NUMBERS = {"max_pages": (int, "max pages must be a whole number"),
                 "max_depth": (int, "max depth must be a whole number"),
                 "rate_per_s": (float, "rate must be a number of requests per second")}
_FORM_TEXT = ("url", "name", "owner_email", "abuse_email", "webhook_url")
_FORM_LINES = ("include", "exclude")  # one pattern a line


def parse_site_fields(data: Mapping[str, Any], *, form: bool = False) -> dict[str, Any]:
    """`NewSite` keyword arguments (or `update` changes) from a site's fields as the API, the
    UI and the CLI name them (`SITE_FIELDS`). One parser, so the faces cannot drift apart.

    JSON (the default): values typed as in `SITE_FIELDS` (null clears a field); unknown
    fields are refused. `form=True`: an HTML form's text fields, blank ones left out, a
    checkbox for ignore_robots; its other fields (the CSRF token) are passed over.
    `InvalidSite` says which field is wrong. Whether the site as a whole is valid is
    `validate_site`'s job.
    """
    return _from_form(data) if form else _from_json(data)


def _from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(data) - set(SITE_FIELDS)
    if unknown:
        raise InvalidSite(f"unknown site field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, (target, kinds) in SITE_FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if value is not None:
            # bool is an int to Python, not to a JSON client.
            if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
                names = " or ".join(_KIND_NAMES[k] for k in kinds)
                raise InvalidSite(f"field {key!r} must be {names}")
            if isinstance(value, list):
                if not all(isinstance(v, str) for v in value):
                    raise InvalidSite(f"field {key!r} must be a list of strings")
                value = tuple(value)
            for text in value if isinstance(value, tuple) else (value,):
                _refuse_nul(text, f"field {key!r}")
        out[target] = value
    return out


def _from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    def text(key: str) -> str:
        return _refuse_nul(str(form.get(key, "")), f"form field {key!r}").strip()

    out: dict[str, Any] = {}
    for key in _FORM_TEXT:
        if text(key):
            out[SITE_FIELDS[key][0]] = text(key)
    for key, (kind, error) in _FORM_NUMBERS.items():
        if text(key):
            try:
                out[SITE_FIELDS[key][0]] = kind(text(key))
            except ValueError:
                raise InvalidSite(error) from None
    out["ignore_robots"] = form.get("ignore_robots") == "on"
    for key in _FORM_LINES:
        lines = tuple(line.strip() for line in text(key).splitlines() if line.strip())
        if lines:
            out[SITE_FIELDS[key][0]] = lines
    return out


def _refuse_nul(value: Any, what: str) -> Any:
    # PostgreSQL cannot store NUL characters (SQLite can): refused the same on every backend.
    if isinstance(value, str) and "\x00" in value:
        raise InvalidSite(f"{what} must not contain NUL characters")
    return value


def http_host(url: str, what: str = "URL") -> str:
    """The host of an http(s) URL; `InvalidSite` if it is not one."""
    if not isinstance(url, str) or not url.strip() or any(c.isspace() for c in url.strip()):
        raise InvalidSite(f"{what} {url!r} is not a valid http(s) URL")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidSite(f"{what} {url!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidSite(f"{what} {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidSite(f"{what} {url!r} has no host")
    return parts.hostname.lower()


def check_webhook_address(url: str, policy: NetworkPolicy | None = None) -> None:
    """`InvalidSite` if the webhook's host is (or resolves to) an address the SSRF guard
    refuses: notices must not be POSTed into the service's own network. Delivery checks
    again (DNS can change). `policy` None: public addresses only."""
    from spinneret.config.netpolicy import NetworkPolicy  # no aiohttp: keeps records light

    parts = urlsplit(url.strip())
    refusal = (policy or NetworkPolicy()).host_refusal(parts.hostname or "", parts.port)
    if refusal:
        raise InvalidSite(f"webhook URL {url!r} refused by the SSRF guard: {refusal}")


def validate(site: NewSite, network_policy: NetworkPolicy | None = None) -> NewSite:
    """Check every field; returns the site with the URL trimmed and hosts filled in.
    `network_policy` decides which webhook addresses are allowed (None: public only)."""
    if not _NAME.match(site.name or ""):
        raise InvalidSite(
            f"site name {site.name!r} must be 1-100 letters, digits, '.', '_' or '-'"
        )
    host = http_host(site.base_url, "site URL")
    for label, email in (("owner e-mail", site.owner_email), ("abuse e-mail", site.abuse_email)):
        if email and not _EMAIL.match(email):
            raise InvalidSite(f"{label} {email!r} is not an e-mail address")
    if site.webhook_url is not None:
        http_host(site.webhook_url, "webhook URL")
        check_webhook_address(site.webhook_url, network_policy)
    # Notices go by e-mail and/or webhook: "" is "no owner e-mail" (the column is not null).
    if not site.owner_email and not site.webhook_url:
        raise InvalidSite("a site needs an owner e-mail or a webhook URL to receive notices")
    if site.max_pages is not None and site.max_pages <= 0:
        raise InvalidSite(f"max pages must be positive, got {site.max_pages}")
    if site.max_depth is not None and site.max_depth < 0:
        raise InvalidSite(f"max depth must be 0 or more, got {site.max_depth}")
    if site.rate_per_s is not None and not site.rate_per_s > 0:
        raise InvalidSite(f"rate must be positive requests per second, got {site.rate_per_s}")
    for pattern in (*site.include_patterns, *site.exclude_patterns):
        if not pattern.strip():
            raise InvalidSite("include/exclude patterns must not be empty")
    extra = [h.strip().lower() for h in site.hosts]
    for name in extra:
        if not name or any(c in name for c in "/:@ \t"):
            raise InvalidSite(f"host {name!r} is not a host name (e.g. cdn.example.org)")
    hosts = tuple(dict.fromkeys((host, *extra)))  # the start URL's own host is always in scope
    return dataclasses.replace(site, base_url=site.base_url.strip(), hosts=hosts,
                               owner_email=site.owner_email or "")


def to_record(row: Site) -> SiteRecord:
    return SiteRecord(
        id=row.id, name=row.name, base_url=row.base_url, hosts=tuple(row.hosts or ()),
        include_patterns=tuple(row.include_patterns or ()),
        exclude_patterns=tuple(row.exclude_patterns or ()), owner_email=row.owner_email,
        abuse_email=row.abuse_email, webhook_url=row.webhook_url,
        webhook_secret=row.webhook_secret, max_pages=row.max_pages, max_depth=row.max_depth,
        rate_per_s=row.rate_per_s, ignore_robots=row.ignore_robots, created_at=row.created_at,
        updated_at=row.updated_at, origin=row.origin or "registered",
    )


def _row_by_name(session: Session, name: str) -> Site:
    row = session.scalars(select(Site).where(Site.name == name)).one_or_none()
    if row is None:
        raise SiteNotFound(name)
    return row


def insert_site(session: Session, site: NewSite,
                network_policy: NetworkPolicy | None = None) -> Site:
    """Insert a validated site inside the caller's transaction; `SiteExists` on a taken name."""
    site = validate(site, network_policy)
    if session.scalars(select(Site.id).where(Site.name == site.name)).first() is not None:
        raise SiteExists(site.name)
    row = Site(
        name=site.name, base_url=site.base_url, hosts=list(site.hosts),
        include_patterns=list(site.include_patterns),
        exclude_patterns=list(site.exclude_patterns), owner_email=site.owner_email,
        abuse_email=site.abuse_email, webhook_url=site.webhook_url,
        webhook_secret=secrets.token_urlsafe(32) if site.webhook_url else None,
        max_pages=site.max_pages, max_depth=site.max_depth, rate_per_s=site.rate_per_s,
        ignore_robots=site.ignore_robots,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Lost a race with another process adding the same name.
        raise SiteExists(site.name) from None
    return row


class SiteRepository:
    def __init__(self, db: Database, *, network_policy: NetworkPolicy | None = None) -> None:
        self._db = db
        self._network_policy = network_policy

    def add(self, site: NewSite) -> SiteRecord:
        with self._db.session() as session:
            return to_record(insert_site(session, site, self._network_policy))

    def get(self, name: str) -> SiteRecord:
        with self._db.session(readonly=True) as session:
            return to_record(_row_by_name(session, name))

    def get_by_id(self, site_id: int) -> SiteRecord:
        with self._db.session(readonly=True) as session:
            row = session.get(Site, site_id)
            if row is None:
                raise SiteNotFound(site_id)
            return to_record(row)

    def list(self, *, origin: str | None = None) -> list[SiteRecord]:
        """Every site, or those of one origin ("registered": the ones to crawl)."""
        query = select(Site).order_by(Site.name)
        if origin is not None:
            query = query.where(Site.origin == origin)
        with self._db.session(readonly=True) as session:
            return [to_record(r) for r in session.scalars(query)]

    def update(self, name: str, /, **changes: Any) -> SiteRecord:
        """Change some fields (see `UPDATABLE`); the whole site is validated again."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidSite(f"cannot change site field(s): {', '.join(sorted(unknown))}")
        with self._db.session() as session:
            row = _row_by_name(session, name)
            current = NewSite(
                base_url=row.base_url, name=row.name, owner_email=row.owner_email,
                abuse_email=row.abuse_email, webhook_url=row.webhook_url,
                max_pages=row.max_pages, max_depth=row.max_depth, rate_per_s=row.rate_per_s,
                ignore_robots=row.ignore_robots,
                include_patterns=tuple(row.include_patterns or ()),
                exclude_patterns=tuple(row.exclude_patterns or ()),
                hosts=() if "base_url" in changes and "hosts" not in changes
                else tuple(row.hosts or ()),
            )
            for key in ("include_patterns", "exclude_patterns", "hosts"):
                if key in changes:
                    changes[key] = tuple(changes[key])
            updated = validate(dataclasses.replace(current, **changes), self._network_policy)
            for key in UPDATABLE:
                value = getattr(updated, key)
                setattr(row, key, list(value) if isinstance(value, tuple) else value)
            if updated.webhook_url and not row.webhook_secret:
                row.webhook_secret = secrets.token_urlsafe(32)
            session.flush()
            return to_record(row)

    def remove(self, name: str) -> None:
        """Delete the site and, by cascade, its crawls, images, matches and notices."""
        with self._db.session() as session:
            site_id = _row_by_name(session, name).id
            session.execute(delete(Site).where(Site.id == site_id))


def add_site(db: Database, site: NewSite, actor: str, *,
             network_policy: NetworkPolicy | None = None) -> SiteRecord:
    """Register a site and audit it (ignoring robots.txt is audited on its own) atomically."""
    with db.session() as session:
        row = insert_site(session, site, network_policy)
        target = f"site:{row.name}"
        write_event(session, actor, "site.add", target, {"id": row.id, "url": row.base_url})
        if row.ignore_robots:
            write_event(
                session, actor, "site.ignore_robots", target,
                {"id": row.id, "url": row.base_url, "ignore_robots": True},
            )
        return to_record(row)


def remove_site(db: Database, name: str, actor: str) -> None:
    """Delete a site and audit it, atomically."""
    with db.session() as session:
        row = _row_by_name(session, name)
        write_event(session, actor, "site.remove", f"site:{name}", {"id": row.id})
        session.execute(delete(Site).where(Site.id == row.id))
