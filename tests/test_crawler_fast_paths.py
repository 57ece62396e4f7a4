"""The crawler's hot-path shortcuts give exactly what the general code gives."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from spinneret.crawler.errors import SsrfBlocked
from spinneret.crawler.extract import _Collector
from spinneret.crawler.scope import _EMBEDDED_URL, carries_url
from spinneret.crawler.ssrf import SsrfPolicy

BASES = [
    "http://example.org/a/b.html", "https://example.org", "http://user:pw@example.org:8080/x/",
    "http://[::1]:8080/p?q=1#f", "HTTP://Example.org/x", "http:///nohost", "ftp://example.org/x",
    " http://example.org/x", "http://exa\tmple.org/", "https://example.org/dir/page?x=1",
    "http://127.0.0.1:45123/s1/p100.html",
]
REFS = [
    "/img/1/1000.png", "/", "//other.org/x.png", "/a/./b.png", "/a/../b.png", "/a/..", "/.",
    "/a?x=1", "/a#f", "/a;p", "/a b", "/a%20b", "/a:b", "/a/.hidden/x.png", "/a/..b/c",
    "img.png", "../x.png", "http://other.org/y.png", "/a\\b", "/a'b(c)", "/ümlaut.png",
]


def general(base: str, ref: str) -> str:
    return urljoin(base, ref)


def fast(base: str, ref: str) -> str:
    return _Collector(base, 1 << 20)._join(ref)


@pytest.mark.parametrize("base", BASES)
def test_join_shortcut_equals_urljoin_on_edge_cases(base: str):
    for ref in REFS:
        assert fast(base, ref) == general(base, ref), (base, ref)


_path_chars = st.text(alphabet="ab./%?#;:@=&+-_~!$'()*, \\\t", max_size=20)


@settings(max_examples=400, deadline=None)
@given(base=st.sampled_from(BASES), tail=_path_chars)
def test_join_shortcut_equals_urljoin_on_generated_paths(base: str, tail: str):
    ref = "/" + tail
    assert fast(base, ref) == general(base, ref)


def test_join_follows_a_changed_base():
    collector = _Collector("http://a.example/x", 1 << 20)
    assert collector._join("/p.png") == "http://a.example/p.png"
    collector.base = "https://b.example/y/"
    assert collector._join("/p.png") == "https://b.example/p.png"


def carries_url_general(url: URL) -> bool:
    for _, value in parse_qsl(url.raw_query_string, keep_blank_values=True):
        decoded = value
        for _ in range(3):
            if _EMBEDDED_URL.search(decoded):
                return True
            nxt = unquote(decoded)
            if nxt == decoded:
                break
            decoded = nxt
    return bool(re.search(r"/https?:/", unquote(url.raw_path), re.IGNORECASE))


@pytest.mark.parametrize("url", [
    "http://h/a.png", "http://h/fetch/https://other/a.jpg", "http://h/fetch/http%3A%2F%2Fo/a",
    "http://h/p?u=https://o/x.jpg", "http://h/p?u=a", "http://h/x%2Fy", "http://h/HTTPS:/x",
    "http://h/a:/b",
])
def test_carries_url_shortcut_equals_the_general_rule(url: str):
    assert carries_url(URL(url)) == carries_url_general(URL(url))


def test_ssrf_host_verdicts_are_cached_and_still_enforced():
    policy = SsrfPolicy(allow_private=False)
    for _ in range(2):  # the second time from the cache
        with pytest.raises(SsrfBlocked, match="127.0.0.1 not allowed"):
            policy.check_url("http://127.0.0.1:8080/x")
        assert policy.check_url("http://example.org/x").host == "example.org"
        assert policy.check_url("http://8.8.8.8/x").host == "8.8.8.8"
    allowing = SsrfPolicy(allow_private=True)
    assert allowing.check_url("http://127.0.0.1/x").host == "127.0.0.1"
