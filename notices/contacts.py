"""Who to notify about a host, in order, each contact with its source:

1. a manual override for the host (`spinneret contacts set`),
2. the registered site's owner / abuse e-mail,
3. the host's `/.well-known/security.txt` (RFC 9116) `Contact: mailto:` lines,
4. the abuse mailbox of the network the host's address is in, from RDAP.

The first that gives an address wins. Lookups (3 and 4) go through the crawler's fetcher,
so the SSRF guard, byte caps and redirect checks apply, and are cached per host
(`records.contacts`): found contacts for `contact_cache_ttl_s`, "nothing found" for the
shorter `contact_negative_cache_ttl_s`. A failed lookup is recorded in the cache entry's
errors; it never raises.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from spinneret.config.netpolicy import ip_literal
from spinneret.crawler.errors import CrawlerError
from spinneret.crawler.fetch import Fetcher
from spinneret.crawler.types import CrawlSettings
from spinneret.notices import rdap, security_txt
from spinneret.notices.clock import Clock, SystemClock, as_utc
from spinneret.records.contacts import (
    NO_CONTACT,
    Contact,
    ContactRepository,
    normalise_host,
)
from spinneret.records.db import Database
from spinneret.records.types import SiteRecord

log = logging.getLogger(__name__)

AddressLookup = Callable[[str], Awaitable[list[str]]]


@dataclass(frozen=True)
class Resolution:
    host: str
    contacts: tuple[Contact, ...]
    from_cache: bool = False
    errors: tuple[str, ...] = ()  # what failed on the way (also when something was found)
    fetched_at: datetime | None = None  # lookups only: when, and until when it is reused
    expires_at: datetime | None = None

    @property
    def source(self) -> str:
        return self.contacts[0].source if self.contacts else NO_CONTACT

    def to_json(self) -> dict:
        return {
            "host": self.host, "source": self.source, "from_cache": self.from_cache,
            "contacts": [c.to_json() for c in self.contacts], "errors": list(self.errors),
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


async def system_addresses(host: str) -> list[str]:
    """The host's addresses (an IP literal is its own), IPv4 first."""
    literal = ip_literal(host)
    if literal is not None:
        return [str(literal)]
    infos = await asyncio.get_running_loop().getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    found = {str(info[4][0]): info[0] for info in infos}
    return sorted(found, key=lambda addr: found[addr] != socket.AF_INET)


def registered_contacts(site: SiteRecord) -> list[Contact]:
    contacts = []
    if site.owner_email:
        contacts.append(Contact(site.owner_email, "registered", f"owner e-mail of site {site.name}"))
    if site.abuse_email and site.abuse_email != site.owner_email:
        contacts.append(Contact(site.abuse_email, "registered", f"abuse e-mail of site {site.name}"))
    return contacts


class ContactResolver:
    def __init__(self, db: Database, *, rdap_base_url: str, ttl_s: float,
                 negative_ttl_s: float, crawl_settings: CrawlSettings,
                 clock: Clock | None = None, http_resolver=None,
                 addresses: AddressLookup | None = None) -> None:
        """`http_resolver`: an aiohttp resolver for the fetcher (tests pin names to
        loopback); `addresses`: host -> IPs for the RDAP query (default: the system's)."""
        self.db = db
        self.repo = ContactRepository(db)
        self.rdap_base_url = rdap_base_url if rdap_base_url.endswith("/") else rdap_base_url + "/"
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.crawl_settings = crawl_settings
        self.clock = clock or SystemClock()
        self.http_resolver = http_resolver
        self.addresses = addresses or system_addresses

    @classmethod
    def from_settings(cls, db: Database, settings, *, clock: Clock | None = None,
                      http_resolver=None, addresses: AddressLookup | None = None
                      ) -> ContactResolver:
        timeout = settings.contact_lookup_timeout_s
        crawl_settings = CrawlSettings.from_settings(
            settings, fetch_timeout_s=timeout, connect_timeout_s=min(timeout, 5.0),
            # One try: a lookup that fails is recorded and retried when the cache says so.
            max_retries=0, max_response_bytes=rdap.MAX_BYTES)
        return cls(db, rdap_base_url=settings.rdap_base_url,
                   ttl_s=settings.contact_cache_ttl_s,
                   negative_ttl_s=settings.contact_negative_cache_ttl_s,
                   crawl_settings=crawl_settings, clock=clock, http_resolver=http_resolver,
                   addresses=addresses)

    async def resolve(self, host: str, *, site: SiteRecord | None = None,
                      refresh: bool = False) -> Resolution:
        """Contacts for `host` (a name, `name:port` or URL). `site`: the registered site on
        it (default: the first site whose start URL is on the host). `refresh`: look up
        again even if the cache entry is still fresh. InvalidContact for a bad host."""
        host = normalise_host(host)
        override = self.repo.override(host)
        if override is not None:
            return Resolution(host, (override.contact(),))
        if site is None:
            site = self.repo.site_for_host(host)
        if site is not None and registered_contacts(site):
            return Resolution(host, tuple(registered_contacts(site)))
        now = self.clock.now()
        entry = self.repo.cached(host)
        if entry is not None and not refresh and as_utc(entry.expires_at) > now:
            return Resolution(host, entry.contacts, from_cache=True, errors=entry.errors,
                              fetched_at=entry.fetched_at, expires_at=entry.expires_at)
        return await self._look_up(host, site, now)

    async def _look_up(self, host: str, site: SiteRecord | None, now: datetime) -> Resolution:
        errors: list[str] = []
        async with Fetcher(self.crawl_settings, resolver=self.http_resolver) as fetcher:
            contacts = await self._security_txt(fetcher, host, site, now, errors)
            if not contacts:
                contacts = await self._rdap(fetcher, host, errors)
        ttl = self.ttl_s if contacts else self.negative_ttl_s
        stored = self.repo.store(host, contacts, source=contacts[0].source if contacts
                                 else NO_CONTACT, errors=errors, fetched_at=now,
                                 expires_at=now + timedelta(seconds=ttl))
        if not contacts:
            log.info("no contact found for %s: %s", host, "; ".join(errors))
        return Resolution(host, stored.contacts, errors=stored.errors,
                          fetched_at=stored.fetched_at, expires_at=stored.expires_at)

    # --- security.txt --------------------------------------------------------------------

    async def _security_txt(self, fetcher: Fetcher, host: str, site: SiteRecord | None,
                            now: datetime, errors: list[str]) -> list[Contact]:
        for url in security_txt_urls(host, site):
            try:
                response = await fetcher.fetch(url, max_bytes=security_txt.MAX_BYTES)
            except CrawlerError as exc:
                errors.append(f"security.txt: {exc}")
                continue
            if response.status != 200:
                errors.append(f"security.txt: HTTP {response.status} at {url}")
                continue
            if response.content_type != "text/plain":
                errors.append(f"security.txt: served as {response.content_type or 'no type'}"
                              f", not text/plain, at {url}")
                continue
            try:
                text = response.body.decode("utf-8")
            except UnicodeDecodeError:
                errors.append(f"security.txt: not UTF-8 text at {url}")
                continue
            parsed = security_txt.parse(text, now=now)
            if parsed.problem:
                errors.append(f"security.txt: {parsed.problem} at {url}")
                continue
            return [Contact(email, "security.txt", response.url) for email in parsed.emails]
        return []

    # --- RDAP ----------------------------------------------------------------------------

    async def _rdap(self, fetcher: Fetcher, host: str, errors: list[str]) -> list[Contact]:
        try:
            async with asyncio.timeout(self.crawl_settings.fetch_timeout_s):
                addresses = await self.addresses(host)
        except TimeoutError:
            errors.append(f"rdap: {host} did not resolve within "
                          f"{self.crawl_settings.fetch_timeout_s:g}s")
            return []
        except (OSError, UnicodeError) as exc:
            errors.append(f"rdap: {host} did not resolve ({exc})")
            return []
        if not addresses:
            errors.append(f"rdap: {host} did not resolve")
            return []
        url = f"{self.rdap_base_url}ip/{addresses[0]}"
        try:
            response = await fetcher.fetch(url)
        except CrawlerError as exc:
            errors.append(f"rdap: {exc}")
            return []
        if response.status != 200:
            errors.append(f"rdap: HTTP {response.status} at {url}")
            return []
        try:
            found = rdap.abuse_contacts(json.loads(response.body))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            errors.append(f"rdap: unreadable answer at {url} ({str(exc)[:200]})")
            return []
        if not found:
            errors.append(f"rdap: no abuse contact at {url}")
        return [Contact(email, "rdap", f"{detail} ({response.url})") for email, detail in found]


def security_txt_urls(host: str, site: SiteRecord | None) -> list[str]:
    """HTTPS on the host (RFC 9116), then the site's own origin when it differs (a site
    registered on http:// or another port is read the way it is crawled)."""
    shown = f"[{host}]" if ":" in host else host
    urls = [f"https://{shown}{security_txt.WELL_KNOWN_PATH}"]
    if site is not None:
        parts = urlsplit(site.base_url)
        own = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{security_txt.WELL_KNOWN_PATH}"
        if own not in urls:
            urls.append(own)
    return urls
