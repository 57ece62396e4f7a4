"""POST /api/v1/reports and the UI's report form, through the real app: a loopback site,
the test Redis (the hourly limit), the records database; the report runs in the server."""

from __future__ import annotations

import hashlib
import re

import pytest
from aiohttp.test_utils import TestServer

from spinneret.matcher.store import ListEntry
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from tests.sites import Route, build_site, html
from tests.worker_helpers import photo_jpeg

LISTED = photo_jpeg(21, (320, 240))


@pytest.fixture
async def site(api, settings):
    settings.notice_batch_window_s = 3600  # noticed = a notice was made; it waits to be sent
    api.store.replace_list("authority", [ListEntry(
        "sha256", hashlib.sha256(LISTED).hexdigest(), "probe")], source="test")
    app = build_site({"/": Route(html('<img src="/a.jpg">')),
                      "/a.jpg": Route(LISTED, "image/jpeg"),
                      "/clean": Route(html("<p>nothing</p>"))})
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/"))
    await server.close()


async def _report(api, role, body):
    return await api.client.post("/api/v1/reports", json=body, headers=api.bearer(role))


async def test_report_is_queued_then_noticed_and_listed(api, site):
    SiteRepository(api.db).add(NewSite(base_url=site, name="shop",
                                       owner_email="owner@example.org"))
    response = await _report(api, "analyst", {"url": site, "note": "tip #4"})
    assert response.status == 202
    body = await response.json()
    assert (body["status"], body["note"], body["reporter"]) == ("queued", "tip #4",
                                                                "analyst-test")
    await api.svc.reports.wait()
    response = await api.client.get(f"/api/v1/reports/{body['id']}", headers=api.bearer("viewer"))
    done = await response.json()
    assert done["status"] == "noticed" and done["site"] == "shop" and done["matches"] == 1
    assert len(done["notice_ids"]) == 1
    listed = await (await api.client.get("/api/v1/reports?status=noticed",
                                         headers=api.bearer("viewer"))).json()
    assert [r["id"] for r in listed] == [body["id"]]


async def test_unregistered_site_ends_matched_no_contact(api, site):
    response = await _report(api, "analyst", {"url": site})
    report_id = (await response.json())["id"]
    await api.svc.reports.wait()
    done = await (await api.client.get(f"/api/v1/reports/{report_id}",
                                       headers=api.bearer("viewer"))).json()
    assert (done["status"], done["reason"], done["site_origin"]) == (
        "matched", "no contact", "reported")


async def test_rate_limit_per_token_answers_429_with_retry_after(api, site, settings):
    settings.reports_per_hour = 2
    bad = await _report(api, "analyst", {"url": "ftp://nope.example/"})
    assert bad.status == 400 and "http(s)" in (await bad.json())["error"]  # not counted
    for _ in range(2):
        assert (await _report(api, "analyst", {"url": site + "clean"})).status == 202
    refused = await _report(api, "analyst", {"url": site + "clean"})
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "reports per hour" in (await refused.json())["error"]
    assert (await _report(api, "admin", {"url": site + "clean"})).status == 202  # its own count
    await api.svc.reports.wait()
    listed = await (await api.client.get("/api/v1/reports", headers=api.bearer("viewer"))).json()
    assert len(listed) == 3 and {r["status"] for r in listed} == {"no_match"}


async def test_roles_fields_and_unknown_ids(api, site):
    assert (await _report(api, "viewer", {"url": site})).status == 403
    assert (await _report(api, "analyst", {"url": site, "x": 1})).status == 400
    assert (await _report(api, "analyst", {"note": "no url"})).status == 400
    response = await api.client.get("/api/v1/reports/999", headers=api.bearer("viewer"))
    assert response.status == 404 and "no report with id 999" in (await response.json())["error"]
    response = await api.client.get("/api/v1/reports?status=nope", headers=api.bearer("viewer"))
    assert response.status == 400


async def test_ui_report_form_queues_and_lists_the_report(api, site):
    headers, csrf = api.session("analyst")
    page = await (await api.client.get("/reports", headers=headers)).text()
    assert 'method="post" action="/reports"' in page and "No reports yet." in page
    refused = await api.client.post("/reports", data={"url": site}, headers=headers)
    assert refused.status == 403  # no CSRF token
    response = await api.client.post("/reports", data={"url": site, "note": "<b>hi</b>",
                                                       "csrf": csrf},
                                     headers=headers, allow_redirects=False)
    assert response.status == 303
    await api.svc.reports.wait()
    page = await (await api.client.get(response.headers["Location"], headers=headers)).text()
    assert "queued" in page  # the flash message
    row = re.search(r'<tr data-report="1">.*?</tr>', page, re.S).group(0)
    assert 'data-field="status">matched<' in row and "no contact" in row
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
    viewer_headers, _ = api.session("viewer")
    viewer_page = await (await api.client.get("/reports", headers=viewer_headers)).text()
    assert 'method="post" action="/reports"' not in viewer_page and 'data-report="1"' in viewer_page


async def test_ui_bad_url_is_a_readable_error(api):
    headers, csrf = api.session("analyst")
    response = await api.client.post("/reports", data={"url": "javascript:alert(1)",
                                                       "csrf": csrf}, headers=headers)
    assert response.status == 400 and "not an http(s) URL" in await response.text()


async def test_ui_over_the_limit_says_so_and_records_nothing(api, site, settings):
    settings.reports_per_hour = 1
    headers, csrf = api.session("analyst")
    for expected in ("queued", "reports per hour"):
        response = await api.client.post("/reports", data={"url": site + "clean", "csrf": csrf},
                                         headers=headers)
        assert response.status == 200 and expected in await response.text()
    await api.svc.reports.wait()
    listed = await (await api.client.get("/api/v1/reports", headers=api.bearer("viewer"))).json()
    assert len(listed) == 1
