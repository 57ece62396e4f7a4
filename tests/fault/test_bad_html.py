"""The HTML and CSS extractors under hostile markup: malformed documents, enormous
attributes, srcset garbage, relative-URL tricks and non-UTF-8 bytes. Every result is an
absolute http(s) URL (or a decoded data: image), nothing raises, and the work is linear;
hypothesis fuzzes both extractors for a bounded number of examples. (Link floods and byte
caps are the security suite's: tests/security/test_defect_*.py.)"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinneret.crawler.extract import Extracted, extract_css, extract_html, parse_srcset

BASE = "http://site.example/dir/page.html"


def _check(out: Extracted) -> None:
    for link in out.links:
        parts = urlsplit(link.url)
        assert parts.scheme in ("http", "https"), link
        assert parts.netloc, link
        assert "#" not in link.url, link
        assert link.kind in ("page", "image", "css", "sitemap")


TRICKS = {
    "//cdn.example/a.png": "http://cdn.example/a.png",
    "/\\evil.example/b.png": None,  # whatever urljoin makes of it, it stays http(s)
    "../../../../../c.png": "http://site.example/c.png",
    "  \t d.png  ": "http://site.example/dir/d.png",
    "e.png#frag": "http://site.example/dir/e.png",
    "?q=1": "http://site.example/dir/page.html?q=1",
    "https://user:pw@host.example/f.png": "https://user:pw@host.example/f.png",
    "HTTP://UPPER.EXAMPLE/G.PNG": None,
}
NEVER = ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "vbscript:x", "file:///etc/passwd",
         "ftp://x.example/a.png", "mailto:a@b", "about:blank", "http://[::1", "http://",
         "data:text/html,<script>alert(1)</script>", "blob:http://x/y", "\x00javascript:x"]


def test_relative_url_tricks_resolve_against_the_page_and_odd_schemes_are_dropped():
    tags = "".join(f'<img src="{ref}">' for ref in [*TRICKS, *NEVER])
    out = extract_html(f"<html><body>{tags}</body></html>", BASE)
    _check(out)
    urls = {link.url for link in out.links}
    for ref, expected in TRICKS.items():
        if expected:
            assert expected in urls, ref
    assert all(urlsplit(u).hostname in ("site.example", "cdn.example", "host.example",
                                        "upper.example") for u in urls), urls
    assert out.data_images == [] or all(d.declared_type for d in out.data_images)


def test_base_href_tricks_never_yield_other_schemes():
    for base in ["javascript:alert(1)//", "file:///", "//other.example/", "   ", "http://["]:
        out = extract_html(f'<base href="{base}"><img src="x.png"><a href="p">p</a>', BASE)
        _check(out)


def test_enormous_attributes_and_srcset_garbage():
    huge = "x" * 5_000_000
    srcset = ", ".join(f"i{n}.png {n}w" for n in range(50_000))
    garbage = ",,,  ,( ,)) 2x,, data:, ,,,\x00\x00, (((( url, " * 2000
    body = (f'<img src="a.png" alt="{huge}" title="{huge}">'
            f'<img srcset="{srcset}"><img srcset="{garbage}">'
            f'<div style="background:url({huge}.png)"></div>'
            f'<img srcset="{huge}">')
    out = extract_html(body, BASE, max_images=60_000)
    _check(out)
    images = {link.url for link in out.links if link.kind == "image"}
    assert "http://site.example/dir/a.png" in images
    assert "http://site.example/dir/i49999.png" in images
    assert len(images) < 50_000 + 2 + 10_000
    # At the default bound the rest is counted, not taken (SPINNERET_MAX_IMAGES_PER_PAGE).
    capped = extract_html(body, BASE)
    taken = [link for link in capped.links if link.kind == "image"]
    assert len(taken) == 10_000 and capped.images_over_cap > 40_000


def test_srcset_parser_terminates_on_garbage():
    for value in ["(" * 100_000, ")" * 100_000, "," * 100_000, " " * 100_000,
                  "a.png (((((,,,,)))) b.png", "\u2028\u2029a.png 1x"]:
        result = parse_srcset(value)
        assert all(url and not url.isspace() for url in result)


def test_malformed_documents_are_read_as_a_browser_would():
    documents = [
        "<img src=a.png<img src=b.png>",
        "<img src='unterminated.png><a href=x>",
        "<<<<>>>><img/src=c.png/><img\nsrc\n=\nd.png>",
        "<!-- <img src=hidden.png> --><img src=shown.png>",
        "<html><html><body><body><table><img src=t.png></table>",
        "</img></a><a href=p2 href=p3>",
        "<svg><image href=svg.png /></svg><math><img src=math.png></math>",
        "<img src=\"\x00nul.png\"><img src=\"\ufffd.png\">",
        "<" + "div>" * 200_000 + "<img src=deep.png>",
    ]
    for document in documents:
        _check(extract_html(document, BASE))
    deep = extract_html(documents[-1], BASE)
    assert "http://site.example/dir/deep.png" in {link.url for link in deep.links}


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "shift_jis", "utf-16", "gb18030"])
def test_non_utf8_bytes_never_raise(encoding):
    text = "<html><body><p>caf\u00e9 \u65e5\u672c</p><img src='plain.png'></body></html>"
    try:
        body = text.encode(encoding)
    except UnicodeEncodeError:
        body = text.encode(encoding, errors="replace")
    out = extract_html(body, BASE)
    _check(out)
    if encoding != "utf-16":  # ASCII-compatible: the ASCII URL is found whatever the charset
        assert "http://site.example/dir/plain.png" in {link.url for link in out.links}


def test_meta_charset_decides_how_non_ascii_urls_are_read():
    body = '<meta charset="iso-8859-1"><img src="caf\u00e9.png">'.encode("latin-1")
    urls = {link.url for link in extract_html(body, BASE).links}
    assert urls & {"http://site.example/dir/caf\u00e9.png", "http://site.example/dir/caf%C3%A9.png"}
    # The header's charset wins over none in the page, as in a browser.
    plain = '<img src="caf\u00e9.png">'.encode("latin-1")
    urls = {link.url for link in extract_html(plain, BASE,
                                              content_type="text/html; charset=ISO-8859-1").links}
    assert urls & {"http://site.example/dir/caf\u00e9.png", "http://site.example/dir/caf%C3%A9.png"}


# --- fuzzing ------------------------------------------------------------------------------

_ATTR_VALUES = st.one_of(
    st.sampled_from([*TRICKS, *NEVER, "", " ", "a.png 1x, b.png 2x", "data:image/png;base64,@@",
                     "url(", "image-set(", "\\", "%", "%%2", "http://a.example:99999/x"]),
    st.text(max_size=40),
)
_TAGS = st.sampled_from(["img", "a", "source", "picture", "link", "meta", "iframe", "base",
                         "style", "video", "input", "div", "area", "frame", "script"])
_ATTRS = st.sampled_from(["src", "href", "srcset", "style", "data-src", "data-srcset",
                          "content", "property", "rel", "poster", "type", "imagesrcset", "as"])


@st.composite
def html_documents(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 25))):
        tag = draw(_TAGS)
        attrs = " ".join(
            f'{draw(_ATTRS)}={draw(st.sampled_from(["", chr(34), chr(39)]))}{draw(_ATTR_VALUES)}'
            for _ in range(draw(st.integers(0, 4))))
        parts.append(draw(st.sampled_from([f"<{tag} {attrs}>", f"<{tag} {attrs}/>",
                                           f"</{tag}>", f"<{tag} {attrs}", draw(st.text(
                                               max_size=20))])))
    return "".join(parts)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(document=html_documents(), as_bytes=st.booleans(), base=st.sampled_from([
    BASE, "https://x.example", "http://[::1]:8080/a/", "http://h.example/a?b#c"]))
def test_fuzzed_html_gives_only_absolute_http_urls(document, as_bytes, base):
    _check(extract_html(document.encode("utf-8", "surrogatepass") if as_bytes else document,
                        base))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.binary(max_size=4096))
def test_random_bytes_as_html_and_css_never_raise(data):
    _check(extract_html(data, BASE))
    _check(extract_css(data, BASE))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(css=st.lists(st.one_of(st.sampled_from([
    "url(", ")", "url(a.png)", "@import ", "'b.css'", "image-set(", "{", "}", ";", "\\",
    "background:", "url( 'c.png' )", "/*", "*/", '"', "url(data:image/png;base64,AAAA)"]),
    st.text(max_size=10)), max_size=30).map("".join))
def test_fuzzed_css_gives_only_absolute_http_urls(css):
    _check(extract_css(css, BASE))
    _check(extract_html(f"<style>{css}</style><div style=\"{css}\"></div>", BASE))
