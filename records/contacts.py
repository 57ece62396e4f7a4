"""Contacts for hosts without a registered owner: the lookup cache and manual overrides.

Hosts are keyed by their lower-case name without port (`normalise_host`). The lookups
themselves (security.txt, RDAP) live in `notices.contacts`; this module only stores what
they found, and the operator's overrides, and hands out dataclasses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spinneret.records.audit import write_event
from spinneret.records.db import Database
from spinneret.records.errors import RecordsError
from spinneret.records.models import ContactCacheEntry, ContactOverride, Site
from spinneret.records.sites import to_record as site_record
from spinneret.records.types import SiteRecord

NO_CONTACT = "none"  # the `source` of a negative cache entry
_EMAIL = re.compile(r"^[^@\s<>,;\"'()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_HOST = re.compile(r"^[a-z0-9._\-]+$|^\[?[0-9a-f:.]+\]?$")


class InvalidContact(RecordsError):
    """A host or e-mail address given for a contact is not usable."""


@dataclass(frozen=True)
class Contact:
    email: str
    source: str  # one of models.CONTACT_SOURCES
    detail: str = ""  # where exactly: the URL, the RDAP entity, the override's note

    def to_json(self) -> dict[str, str]:
        return {"email": self.email, "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class CachedContacts:
    host: str
    contacts: tuple[Contact, ...]
    source: str  # the lookup that found them, or NO_CONTACT
    errors: tuple[str, ...]
    fetched_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OverrideRecord:
    host: str
    email: str
    note: str
    created_by: str
    created_at: datetime

    def contact(self) -> Contact:
        return Contact(self.email, "override", self.note or f"set by {self.created_by}")


def normalise_host(value: str) -> str:
    """`Example.ORG`, `example.org:8443` or `https://example.org/x` -> `example.org`."""
    text = (value or "").strip()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    elif text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    host = text.strip().rstrip(".").lower()
    if not host or len(host) > 253 or not _HOST.match(host):
        raise InvalidContact(f"{value!r} is not a host name (e.g. example.org)")
    return host


def check_email(email: str) -> str:
    email = (email or "").strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidContact(f"{email!r} is not an e-mail address")
    return email


def site_host(base_url: str) -> str:
    return normalise_host(base_url)


# --- in the caller's session (the notice policy reads these while queueing) -------------

def cached(session: Session, host: str) -> CachedContacts | None:
    row = session.scalar(select(ContactCacheEntry).where(ContactCacheEntry.host == host))
    return _cached_record(row) if row is not None else None


def override_for(session: Session, host: str) -> OverrideRecord | None:
    row = session.scalar(select(ContactOverride).where(ContactOverride.host == host))
    return _override_record(row) if row is not None else None


def _cached_record(row: ContactCacheEntry) -> CachedContacts:
    return CachedContacts(
        host=row.host,
        contacts=tuple(Contact(c["email"], c["source"], c.get("detail", ""))
                       for c in row.contacts or ()),
        source=row.source, errors=tuple(row.errors or ()),
        fetched_at=row.fetched_at, expires_at=row.expires_at)


def _override_record(row: ContactOverride) -> OverrideRecord:
    return OverrideRecord(host=row.host, email=row.email, note=row.note,
                          created_by=row.created_by, created_at=row.created_at)


class ContactRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def cached(self, host: str) -> CachedContacts | None:
        with self._db.session(readonly=True) as session:
            return cached(session, normalise_host(host))

    def store(self, host: str, contacts: list[Contact], *, source: str, errors: list[str],
              fetched_at: datetime, expires_at: datetime) -> CachedContacts:
        """Replace the host's cache entry (one row per host)."""
        host = normalise_host(host)
        values: dict[str, Any] = dict(
            contacts=[c.to_json() for c in contacts], source=source,
            errors=[e[:500] for e in errors], fetched_at=fetched_at, expires_at=expires_at)
        try:
            return self._upsert(host, values)
        except IntegrityError:  # another process stored the same host meanwhile: update it
            return self._upsert(host, values)

    def _upsert(self, host: str, values: dict[str, Any]) -> CachedContacts:
        with self._db.session() as session:
            row = session.scalar(select(ContactCacheEntry).where(ContactCacheEntry.host == host))
            if row is None:
                row = ContactCacheEntry(host=host, **values)
                session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            session.flush()
            return _cached_record(row)

    def override(self, host: str) -> OverrideRecord | None:
        with self._db.session(readonly=True) as session:
            return override_for(session, normalise_host(host))

    def set_override(self, host: str, email: str, *, note: str = "", actor: str,
                     now: datetime) -> OverrideRecord:
        host, email = normalise_host(host), check_email(email)
        with self._db.session() as session:
            row = session.scalar(select(ContactOverride).where(ContactOverride.host == host))
            if row is None:
                row = ContactOverride(host=host, email=email, note=note, created_by=actor,
                                      created_at=now)
                session.add(row)
            else:
                row.email, row.note, row.created_by, row.created_at = email, note, actor, now
            write_event(session, actor, "contact.override_set", f"host:{host}",
                        {"email": email, "note": note})
            session.flush()
            return _override_record(row)

    def clear_override(self, host: str, *, actor: str) -> bool:
        """True if there was one."""
        host = normalise_host(host)
        with self._db.session() as session:
            gone = session.execute(
                delete(ContactOverride).where(ContactOverride.host == host)
                .execution_options(synchronize_session=False)).rowcount
            if gone:
                write_event(session, actor, "contact.override_cleared", f"host:{host}")
        return bool(gone)

    def site_for_host(self, host: str) -> SiteRecord | None:
        """The first registered site whose start URL is on `host`."""
        host = normalise_host(host)
        with self._db.session(readonly=True) as session:
            for site in session.scalars(select(Site).order_by(Site.id)):
                try:
                    if site_host(site.base_url) == host:
                        return site_record(site)
                except InvalidContact:
                    continue
        return None
