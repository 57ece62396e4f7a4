"""Link and image extraction from HTML (selectolax), CSS (tinycss2) and sitemaps.

Returns absolute URLs classified as page / image / css / sitemap with the form they were
found in (`via`), and `data:` images decoded (they are handed on, never fetched).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin

import tinycss2
from selectolax.lexbor import LexborHTMLParser
from w3lib.encoding import html_to_unicode
from w3lib.url import parse_data_uri
from yarl import URL

from spinneret.crawler.scope import IMAGE_EXTENSIONS, looks_like_image_url, strip_fragment

Kind = Literal["page", "image", "css", "sitemap"]


@dataclass(frozen=True)
class Link:
    url: str
    kind: Kind
    via: str


@dataclass(frozen=True)
class DataImage:
    data: bytes
    declared_type: str
    via: str


@dataclass
class Extracted:
    links: list[Link] = field(default_factory=list)
    data_images: list[DataImage] = field(default_factory=list)
    bad_data_uris: int = 0
    links_over_cap: int = 0  # distinct links past max_links, not taken
    images_over_cap: int = 0  # images past max_images, not taken


# A bigger page is parsed in pieces of this many tags, so no DOM passes some 50 MB.
MAX_PARSED_TAGS = 100_000
SITEMAP_MAX_URLS = 50_000  # the sitemaps.org limit per file


class _Collector:
    def __init__(self, base_url: str, max_data_bytes: int, *, max_links: int = 10_000,
                 max_images: int = 10_000) -> None:
        self.base = base_url
        self.max_data_bytes = max_data_bytes
        self.max_links = max_links
        self.max_images = max_images
        self._images = 0
        self.out = Extracted()
        self._seen: set[tuple[str, str]] = set()  # a node can match several selectors
        self._origin: tuple[str, str] | None = None  # (base, its scheme://authority)

    def add(self, ref: str | None, kind: Kind, via: str) -> None:
        if not ref:
            return
        ref = ref.strip()
        if not ref:
            return
        if ref[:5].lower() == "data:":
            if kind in ("image", "page"):
                self.add_data(ref, "data-uri")
            return
        if self._full(kind, via, ref):  # decided before any URL work: a flood is cheap
            return
        try:
            absolute = strip_fragment(self._join(ref))
        except ValueError:
            return
        scheme = absolute.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            return  # javascript:, mailto:, tel: ...
        if kind == "page" and via == "a" and _has_image_extension(absolute):
            kind, via = "image", "a"
        if (absolute, kind) not in self._seen:
            if not self._room(kind):
                return
            self._seen.add((absolute, kind))
            self.out.links.append(Link(absolute, kind, via))

    def _full(self, kind: str, via: str, ref: str) -> bool:
        """True (and counted) if a ref of this kind can no longer be taken. A page link to
        an image file may still be taken as an image."""
        images_full = self._images >= self.max_images
        if kind == "image":
            if images_full:
                self.out.images_over_cap += 1
            return images_full
        if len(self.out.links) - self._images < self.max_links:
            return False
        if kind == "page" and via == "a" and not images_full and _raw_image_path(ref):
            return False
        self.out.links_over_cap += 1
        return True

    def _room(self, kind: str) -> bool:
        """Count one more taken link/image; False (counted as over the cap) past the cap."""
        if kind == "image":
            if self._images >= self.max_images:
                self.out.images_over_cap += 1
                return False
            self._images += 1
        elif len(self.out.links) - self._images >= self.max_links:
            self.out.links_over_cap += 1
            return False
        return True

    def _join(self, ref: str) -> str:
        """urljoin(base, ref); a plain root-relative path ("/a/b.png", the usual case) is
        appended to the base's origin without urljoin's parsing (same result, tested)."""
        if _PLAIN_ABSOLUTE_PATH.match(ref) and not _DOT_SEGMENT.search(ref):
            if self._origin is None or self._origin[0] != self.base:
                match = _HTTP_ORIGIN.match(self.base)
                self._origin = (self.base, match.group(0) if match else "")
            if self._origin[1]:
                return self._origin[1] + ref
        return urljoin(self.base, ref)

    def add_data(self, uri: str, via: str) -> None:
        if len(uri) > self.max_data_bytes * 4 // 3 + 1024:
            self.out.bad_data_uris += 1
            return
        try:
            parsed = parse_data_uri(uri)
        except (ValueError, TypeError):
            self.out.bad_data_uris += 1
            return
        if ("data:", uri) not in self._seen:
            if self._images + len(self.out.data_images) >= self.max_images:
                self.out.images_over_cap += 1
                return
            self._seen.add(("data:", uri))
            self.out.data_images.append(DataImage(parsed.data, parsed.media_type, via))

    def add_srcset(self, value: str | None, via: str) -> None:
        if value:
            for candidate in parse_srcset(value):
                self.add(candidate, "image", via)

    def add_css(self, text: str, via: str) -> None:
        for ref, kind in css_urls(text):
            self.add(ref, kind, via if kind == "image" else "css")

    def add_style_attr(self, text: str) -> None:
        if "url(" not in text.lower() and "image-set" not in text.lower():
            return
        for ref, _ in _walk_tokens(tinycss2.parse_declaration_list(text), in_import=False):
            self.add(ref, "image", "style")


# A path starting with exactly one "/", of characters urljoin passes through untouched
# (no query, fragment, params, backslash or whitespace), and no "." / ".." segment.
_PLAIN_ABSOLUTE_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~!$&'()*+,=:@%/-]*\Z")
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\Z)")
# scheme://authority of an http(s) base with a non-empty, plain authority.
_HTTP_ORIGIN = re.compile(r"https?://[A-Za-z0-9._~!$&'()*+,=:@%\[\]-]+(?=[/?#]|\Z)")


def _raw_image_path(ref: str) -> bool:
    """The image-extension test on an unparsed ref (cheap; `add` decides exactly)."""
    path = ref.split("#", 1)[0].split("?", 1)[0].lower()
    dot = path.rfind(".")
    return dot != -1 and path[dot:] in IMAGE_EXTENSIONS


def _has_image_extension(url: str) -> bool:
    try:
        return looks_like_image_url(URL(url, encoded=False))
    except (ValueError, TypeError):
        return False


_SELECTOR = (
    "base, img, source, a, area, iframe, frame, link, meta, style, video, input, "
    "[style], [data-src], [data-srcset], [data-bg], [data-background-image]"
)
_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-bg",
             "data-background-image")
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
_OG_PROPS = frozenset({"og:image", "og:image:url", "og:image:secure_url", "twitter:image",
                       "twitter:image:src"})


def _segments(text: str) -> Iterator[str]:
    """The page in pieces of at most MAX_PARSED_TAGS tags, cut before a "<", so that only
    one piece's DOM exists at a time (a link flood must not become a 1 GB DOM). An ordinary
    page is one piece."""
    if text.count("<") <= MAX_PARSED_TAGS:
        yield text
        return
    start = 0
    while start < len(text):
        cut = start
        for _ in range(MAX_PARSED_TAGS):
            cut = text.find("<", cut + 1)
            if cut == -1:
                cut = len(text)
                break
        yield text[start:cut]
        start = cut


def extract_html(body: bytes | str, base_url: str, *, max_data_bytes: int = 20 << 20,
                 max_links: int = 10_000, max_images: int = 10_000,
                 content_type: str | None = None) -> Extracted:
    """Links and images of a page: at most `max_links` links and `max_images` images, the
    rest counted in `links_over_cap` / `images_over_cap`.

    Bytes are decoded as a browser would: the Content-Type header's charset, else a BOM or
    `<meta charset>`, else UTF-8 (a Latin-1 page's `café.png` is requested as `caf%C3%A9.png`,
    as a browser requests it)."""
    if isinstance(body, bytes):
        text = html_to_unicode(content_type, body)[1]
    else:
        text = body
    col = _Collector(base_url, max_data_bytes, max_links=max_links, max_images=max_images)
    state = {"base_seen": False}
    for segment in _segments(text):
        _extract_tree(LexborHTMLParser(segment), base_url, col, state)
    return col.out


def _extract_tree(tree: LexborHTMLParser, base_url: str, col: _Collector, state: dict) -> None:
    for node in tree.css(_SELECTOR):
        tag = node.tag
        attrs = node.attributes
        if tag == "base":
            href = attrs.get("href")
            if href and not state["base_seen"]:
                state["base_seen"] = True
                try:
                    col.base = urljoin(base_url, href.strip())
                except ValueError:  # e.g. "http://[": ignored, as a browser ignores it
                    pass
            continue
        if tag == "img" or (tag == "input" and (attrs.get("type") or "").lower() == "image"):
            col.add(attrs.get("src"), "image", "img")
            col.add_srcset(attrs.get("srcset"), "srcset")
        elif tag == "source":
            parent = node.parent
            if parent is not None and parent.tag == "picture":
                col.add_srcset(attrs.get("srcset"), "picture")
                col.add(attrs.get("src"), "image", "picture")
        elif tag in ("a", "area"):
            col.add(attrs.get("href"), "page", "a")
        elif tag in ("iframe", "frame"):
            col.add(attrs.get("src"), "page", "iframe")
        elif tag == "link":
            rel = (attrs.get("rel") or "").lower().split()
            href = attrs.get("href")
            if "stylesheet" in rel:
                col.add(href, "css", "css")
            elif "image_src" in rel or "icon" in rel or "apple-touch-icon" in rel:
                col.add(href, "image", "og" if "image_src" in rel else "icon")
            elif "preload" in rel and (attrs.get("as") or "").lower() == "image":
                col.add(href, "image", "preload")
                col.add_srcset(attrs.get("imagesrcset"), "preload")
        elif tag == "meta":
            prop = (attrs.get("property") or attrs.get("name") or "").lower().strip()
            if prop in _OG_PROPS:
                col.add(attrs.get("content"), "image", "og")
        elif tag == "style":
            col.add_css(node.text(deep=True) or "", "css")
        elif tag == "video":
            col.add(attrs.get("poster"), "image", "poster")
        for name in _LAZY_SRC:
            if name in attrs:
                col.add(attrs.get(name), "image", "lazy")
        for name in _LAZY_SRCSET:
            if name in attrs:
                col.add_srcset(attrs.get(name), "lazy")
        style = attrs.get("style")
        if style:
            col.add_style_attr(style)


def extract_css(body: bytes | str, base_url: str, *, max_data_bytes: int = 20 << 20,
                max_links: int = 10_000, max_images: int = 10_000) -> Extracted:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    col = _Collector(base_url, max_data_bytes, max_links=max_links, max_images=max_images)
    col.add_css(text, "css")
    return col.out


def parse_srcset(value: str) -> list[str]:
    """Every candidate URL of a srcset (HTML spec parsing: URLs may contain commas)."""
    urls: list[str] = []
    pos, n = 0, len(value)
    while pos < n:
        while pos < n and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        if pos >= n:
            break
        start = pos
        while pos < n and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0  # skip descriptors up to the next comma outside parentheses
            while pos < n:
                ch = value[pos]
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth = max(0, depth - 1)
                elif ch == "," and depth == 0:
                    break
                pos += 1
        if url:
            urls.append(url)
    return urls


_FONT_EXT = re.compile(r"\.(woff2?|ttf|otf|eot)(?:[?#]|$)", re.IGNORECASE)


def css_urls(text: str) -> list[tuple[str, Kind]]:
    """(url, kind) for every url()/image-set() in a stylesheet; @import gives kind "css"."""
    lowered = text.lower()
    if "url(" not in lowered and "image-set" not in lowered and "@import" not in lowered:
        return []
    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    return list(_walk_rules(rules))


def _walk_rules(rules):
    for rule in rules:
        if rule.type == "at-rule":
            keyword = rule.lower_at_keyword
            if keyword == "import":
                yield from _walk_tokens(rule.prelude, in_import=True)
            elif keyword == "font-face":
                continue
            elif rule.content is not None:
                inner = tinycss2.parse_stylesheet(rule.content, skip_comments=True,
                                                  skip_whitespace=True)
                if any(r.type in ("qualified-rule", "at-rule") for r in inner):
                    yield from _walk_rules(inner)
                else:
                    yield from _walk_tokens(rule.content, in_import=False)
        elif rule.type == "qualified-rule":
            yield from _walk_tokens(rule.content, in_import=False)


def _walk_tokens(tokens, *, in_import: bool, in_image_set: bool = False):
    kind: Kind = "css" if in_import else "image"
    for token in tokens:
        ttype = token.type
        if ttype == "url":
            if kind == "css" or not _FONT_EXT.search(token.value):
                yield token.value, kind
        elif ttype == "string" and (in_import or in_image_set):
            yield token.value, kind
        elif ttype == "function":
            name = token.lower_name
            if name == "url":
                for arg in token.arguments:
                    if arg.type == "string":
                        if kind == "css" or not _FONT_EXT.search(arg.value):
                            yield arg.value, kind
                        break
            else:
                yield from _walk_tokens(token.arguments, in_import=in_import,
                                        in_image_set=name.endswith("image-set"))
        elif ttype == "declaration":
            yield from _walk_tokens(token.value, in_import=False)
        elif ttype in ("() block", "[] block", "{} block"):
            yield from _walk_tokens(token.content, in_import=in_import)


_LOC = re.compile(r"<\s*(image:)?loc\s*>\s*(.*?)\s*<\s*/\s*(?:image:)?loc\s*>",
                  re.IGNORECASE | re.DOTALL)


def extract_sitemap(body: bytes, base_url: str, *, max_images: int = 10_000) -> Extracted:
    """`<loc>`s of a sitemap (pages, or sitemaps for an index; at most SITEMAP_MAX_URLS) and
    `<image:loc>`s (images, at most `max_images`)."""
    text = body.decode("utf-8", errors="replace")
    is_index = "<sitemapindex" in text[:2048].lower()
    col = _Collector(base_url, 0, max_links=SITEMAP_MAX_URLS, max_images=max_images)
    for match in _LOC.finditer(text):
        url = html.unescape(match.group(2)).strip()
        if match.group(1):
            col.add(url, "image", "sitemap")
        else:
            col.add(url, "sitemap" if is_index else "page", "sitemap")
    return col.out
