"""The e-mail recipients of a notice or reminder, with their source, read from the database
only (no network: the policy runs inside one transaction). `NoticeService` fills the
contact cache beforehand for the sites that need it (`sites_needing_lookup`).

A site with a registered owner e-mail or webhook is notified exactly as registered; a
manual override for its host comes first; a site with neither gets what the lookup found
(security.txt or RDAP, `notices.contacts`), even when that cache entry is older than its
TTL: a stale address is better than none, and the next outbox pass refreshes it.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from spinneret.records.contacts import InvalidContact, cached, normalise_host, override_for
from spinneret.records.models import Match, Notice, Site


def _host(site: Site) -> str | None:
    try:
        return normalise_host(site.base_url)
    except InvalidContact:
        return None


def needs_lookup(site: Site) -> bool:
    """No registered way to reach the site: its contacts are looked up."""
    return not (site.owner_email or site.webhook_url or site.abuse_email)


def email_recipients(session: Session, site: Site) -> list[tuple[str, str]]:
    """(address, source) for an initial notice or a reminder."""
    host = _host(site)
    override = override_for(session, host) if host else None
    if override is not None:
        return [(override.email, "override")]
    if site.owner_email:
        return [(site.owner_email, "registered")]
    if site.webhook_url:
        return []
    if site.abuse_email:
        return [(site.abuse_email, "registered")]
    entry = cached(session, host) if host else None
    return [(c.email, c.source) for c in entry.contacts] if entry else []


def sites_needing_lookup(session: Session) -> list[Site]:
    """Sites without registered contacts that have a notice open or new matches (so a
    notice is about to be sealed or opened)."""
    unregistered = or_(Site.owner_email == "", Site.owner_email.is_(None))
    return list(session.scalars(
        select(Site).where(
            unregistered,
            or_(Site.webhook_url.is_(None), Site.webhook_url == ""),
            or_(Site.abuse_email.is_(None), Site.abuse_email == ""),
            or_(exists().where(Notice.site_id == Site.id, Notice.status == "open"),
                exists().where(Match.site_id == Site.id, Match.status == "new")),
        ).order_by(Site.id)))
