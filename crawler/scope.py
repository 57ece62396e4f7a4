"""Scope rules: which pages are followed, which URLs are never fetched, URL normalisation."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, unquote

from w3lib.url import canonicalize_url
from yarl import URL

from spinneret.crawler.errors import SkipUrl
from spinneret.crawler.types import ALLOWED_SCHEMES, SiteScope

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
    ".avif", ".heic", ".heif", ".ico", ".svg",
})
# Values that carry a URL: "http://", "https://", "//host" and their %-encoded forms.
_EMBEDDED_URL = re.compile(r"(?:^|[^a-z0-9])(?:https?:/{1,2}|//)[a-z0-9.-]+", re.IGNORECASE)


def strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def url_key(url: str) -> bytes:
    """Seen-set key: a digest of the canonical URL (sorted query, no fragment)."""
    return hashlib.blake2b(canonicalize_url(url).encode(), digest_size=16).digest()


def looks_like_image_url(url: URL) -> bool:
    path = url.path.lower()
    dot = path.rfind(".")
    return dot != -1 and path[dot:] in IMAGE_EXTENSIONS


def carries_url(url: URL) -> bool:
    """True for proxy / reverse-image-search style URLs that make another site fetch a URL."""
    query = url.raw_query_string
    raw_path = url.raw_path
    if not query and "%" not in raw_path and ":/" not in raw_path:
        return False  # the common case, decided without parsing: nothing below can match
    values = [v for _, v in parse_qsl(query, keep_blank_values=True)]
    for value in values:
        decoded = value
        for _ in range(3):  # values are sometimes encoded more than once
            if _EMBEDDED_URL.search(decoded):
                return True
            nxt = unquote(decoded)
            if nxt == decoded:
                break
            decoded = nxt
    # Path-embedded targets: /fetch/https://other.example/a.jpg
    return bool(re.search(r"/https?:/", unquote(raw_path), re.IGNORECASE))


class Scope:
    def __init__(self, scope: SiteScope) -> None:
        self.exact = frozenset(h for h in scope.hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:] for h in scope.hosts if h.startswith("*."))
        self.include = tuple(re.compile(p) for p in scope.include)
        self.exclude = tuple(re.compile(p) for p in scope.exclude)

    def host_in_scope(self, host: str | None) -> bool:
        if not host:
            return False
        host = host.lower().rstrip(".")
        return host in self.exact or any(
            host.endswith(s) or host == s[1:] for s in self.suffixes)

    def check_fetchable(self, url: URL) -> None:
        """Rules for every URL we fetch (pages, images, stylesheets, sitemaps)."""
        if url.scheme not in ALLOWED_SCHEMES:
            raise SkipUrl("scheme", str(url))
        if not url.host:
            raise SkipUrl("no_host", str(url))
        text = str(url)
        if any(p.search(text) for p in self.exclude):
            raise SkipUrl("excluded", text)
        if carries_url(url):
            raise SkipUrl("proxy_url", text)

    def check_page(self, url: URL) -> None:
        """Rules for pages we follow: in the registered hosts, matching include patterns."""
        self.check_fetchable(url)
        if not self.host_in_scope(url.host):
            raise SkipUrl("out_of_scope", str(url))
        if self.include and not any(p.search(str(url)) for p in self.include):
            raise SkipUrl("not_included", str(url))
