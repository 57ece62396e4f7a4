"""Stored XSS: hostile strings written wherever the outside world can put text (crawled image
and page URLs, skip reasons, crawl failures, list labels/descriptions/sources, site fields,
token names, review notes) are escaped on every UI page the router serves, in text and in
attribute context. tests/api/test_api_ui.py checks the main pages with one payload; this
walks every GET page, with payloads that break out of attributes too."""

from __future__ import annotations

import re

from spinneret.api.app import all_endpoints
from spinneret.matcher.store import ListEntry
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.sites import SiteRepository
from spinneret.records.tokens import create_token
from spinneret.records.types import CrawlFinish, NewSite
from tests.api.conftest import api, context, owner_notice, record_match, tokens  # noqa: F401

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = "\"'><img src=x onerror=alert(2)>"
PAYLOADS = (SCRIPT, ATTRIBUTE)
IN_URL = "%22%27%3E%3Cimg%20src=x%20onerror=alert(3)%3E"  # the same, as a crawler sees it


def _plant(api, record_match) -> str:  # noqa: F811
    """Put the payloads everywhere outside text reaches; returns the hostile site's name."""
    db = api.db
    record_match(f"http://127.0.0.1:9/{SCRIPT}/{ATTRIBUTE}.png", label=SCRIPT + ATTRIBUTE,
                 list_name="hostile", site="hostile")
    record_match(f"http://127.0.0.1:9/{IN_URL}.png", label=ATTRIBUTE, list_name="hostile",
                 site="hostile")
    api.store.replace_list("hostile", [ListEntry("pdq", "ab" * 32, SCRIPT, ATTRIBUTE)],
                           description=SCRIPT + ATTRIBUTE, source=ATTRIBUTE, category=SCRIPT)
    sites = SiteRepository(db)
    site = sites.get("hostile")
    crawls = CrawlRepository(db)
    crawl = crawls.create(site.id)
    crawls.start(crawl.id)
    ImageRecorder(db).record_skipped(crawl.id, site.id, f"http://127.0.0.1:9/{SCRIPT}",
                                     f"http://127.0.0.1:9/{ATTRIBUTE}.gif",
                                     f"cannot decode: {SCRIPT}{ATTRIBUTE}")
    crawls.finish(crawl.id, CrawlFinish(status="failed", failure_reason=SCRIPT + ATTRIBUTE,
                                        skipped_reasons={SCRIPT: 1}, errors={ATTRIBUTE: 2},
                                        urls_skipped={SCRIPT: 3}))
    sites.add(NewSite(base_url=f"http://127.0.0.1:9/{IN_URL}/", name="site-two",
                      owner_email="owner@example.org"))
    create_token(db, "viewer", SCRIPT + ATTRIBUTE, actor=SCRIPT)
    return "hostile"


def _concrete(path: str, names: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: names.get(m.group(1), "1"), path)


async def test_hostile_strings_are_escaped_on_every_ui_page(api, record_match):  # noqa: F811
    _plant(api, record_match)
    headers, csrf = api.session("admin")
    api.svc.settings.notice_batch_window_s = 0
    response = await api.client.post("/review/1", data={
        "action": "confirm", "csrf": csrf, "note": SCRIPT + ATTRIBUTE}, headers=headers)
    assert response.status == 200
    api.svc.notices.apply_policy()
    pages = [ep.path for ep in all_endpoints()
             if ep.kind == "ui" and ep.method == "GET" and ep.role is not None]
    assert {"/", "/sites", "/crawls", "/matches", "/review", "/audit"} <= set(pages)
    seen_escaped = set()
    for path in pages:
        url = _concrete(path, {"name": "hostile", "id": "1"})
        response = await api.client.get(url, headers=headers)
        assert response.status == 200, (url, response.status)
        page = await response.text()
        if response.content_type != "text/html":
            # A download (list export) or the crawls page's JSON: never rendered, so it must
            # say so to the browser (nosniff, and a download is an attachment).
            assert response.headers.get("X-Content-Type-Options") == "nosniff", url
            if response.content_type != "application/json":
                assert "attachment" in response.headers.get("Content-Disposition", ""), url
            continue
        for payload in PAYLOADS:
            assert payload not in page, f"{url} shows {payload!r} unescaped"
        assert not re.search(r"<img[^>]*onerror", page, re.IGNORECASE), url
        assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", page, re.IGNORECASE), url
        if "&lt;script&gt;alert(1)&lt;/script&gt;" in page:
            seen_escaped.add(path)
    # The payloads really were on the pages (escaped), not silently dropped.
    assert {"/matches", "/lists/{name}", "/audit", "/notices/{id}"} <= seen_escaped, seen_escaped


async def test_owner_page_escapes_crawled_urls(api, record_match, owner_notice):  # noqa: F811
    record_match(f"http://127.0.0.1:9/{SCRIPT}{ATTRIBUTE}.png", decision="auto", site="owned")
    owner_notice.service.apply_policy()
    response = await api.client.get(f"/owner/{owner_notice.token}")
    page = await response.text()
    assert response.status == 200
    for payload in PAYLOADS:
        assert payload not in page
    assert not re.search(r"<img[^>]*onerror", page, re.IGNORECASE)
