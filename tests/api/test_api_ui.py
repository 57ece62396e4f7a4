"""The web UI through the aiohttp test client: login form, CSRF on every form, escaping
of crawled strings, readable errors."""

from __future__ import annotations

import re

import pytest
from aiohttp import FormData

HOSTILE = "<script>alert(1)</script>"


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def test_login_sets_a_strict_httponly_cookie(api):
    response = await api.client.get("/login?next=/lists")
    page = await response.text()
    assert response.status == 200 and 'type="password"' in page
    response = await api.client.post("/login", data={
        "token": api.tokens["viewer"], "csrf": _csrf(page), "next": "/lists"},
        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/lists?flash=")
    cookie = response.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("spn_session="))
    assert "HttpOnly" in session and "SameSite=Strict" in session
    assert api.tokens["viewer"] not in session  # the cookie never holds the token
    response = await api.client.get(response.headers["Location"])
    assert response.status == 200 and "Logged in as viewer-test" in await response.text()


async def test_login_refuses_bad_token_and_missing_csrf(api):
    page = await (await api.client.get("/login")).text()
    response = await api.client.post("/login", data={"token": "spn_nope", "csrf": _csrf(page)})
    assert response.status == 401 and "Unknown or revoked token" in await response.text()
    response = await api.client.post("/login", data={"token": api.tokens["admin"]})
    assert response.status == 403 and "form expired" in (await response.text())
    response = await api.client.post("/login", data={
        "token": api.tokens["admin"], "csrf": _csrf(page), "next": "//evil.example/"},
        allow_redirects=False)
    assert response.headers["Location"].startswith("/?flash=")  # no open redirect


async def test_every_form_needs_its_csrf_token(api, record_match):
    record_match("http://127.0.0.1:9/r.png")
    headers, csrf = api.session("admin")
    for path in ("/review/1", "/sites", "/lists/x/retract", "/lists/x/delete", "/logout",
                 "/sites/example/crawl", "/crawls/1/stop", "/sites/example/delete"):
        response = await api.client.post(path, data={"action": "confirm"}, headers=headers)
        assert response.status == 403, path
        assert "form expired" in await response.text()
        for wrong in ("0" * 64, "é" * 64):  # hmac cannot compare non-ASCII str: no 500
            response = await api.client.post(path, data={"csrf": wrong}, headers=headers)
            assert response.status == 403, path
    other_headers, other_csrf = api.session("admin")  # another session's token is no good
    response = await api.client.post("/review/1", data={"action": "confirm",
                                                        "csrf": other_csrf}, headers=headers)
    assert response.status == 403
    form = FormData()
    form.add_field("list", "l")
    form.add_field("file", b"x", filename="l.txt")
    response = await api.client.post("/lists/import", data=form, headers=headers)
    assert response.status == 403
    response = await api.client.post("/review/1", data={"action": "confirm", "csrf": csrf},
                                     headers=headers, allow_redirects=False)
    assert response.status == 303


MALFORMED_FORMS = [
    ("multipart/form-data", b"token=&csrf="),  # no boundary
    ("multipart/form-data; boundary=xyz", b"no boundary line anywhere"),
    ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="a"'),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a header\r\n\r\nv\r\n--xyz--\r\n"),
    ("application/x-www-form-urlencoded; charset=no-such-charset", b"csrf=%ff"),
]


@pytest.mark.parametrize("content_type,body", MALFORMED_FORMS)
async def test_malformed_forms_are_refused_with_400(api, owner_notice, record_match,
                                                    content_type, body):
    record_match("http://127.0.0.1:9/r.png")
    headers, csrf = api.session("analyst")
    # A multipart form carries its CSRF token in the action URL, so the guard lets it
    # through to the handler, which reads the form.
    status = owner_notice.service.show(owner_notice.notice.id).status
    for path, extra in (("/login", {}), (f"/owner/{owner_notice.token}", {}),
                        (f"/review/1?csrf={csrf}", headers)):
        response = await api.client.post(path, data=body,
                                         headers={**extra, "Content-Type": content_type})
        text = await response.text()
        assert response.status == 400, (path, text)
        assert "malformed form body" in text and response.content_type == "text/html"
    assert len(api.svc.notices.review_queue()) == 1
    assert owner_notice.service.show(owner_notice.notice.id).status == status


async def test_owner_form_with_a_non_ascii_csrf_token_is_refused(api, owner_notice):
    response = await api.client.post(f"/owner/{owner_notice.token}", data={
        "action": "dispute", "comment": "ours", "csrf": "é" * 64})
    assert response.status == 403 and "Form expired" in await response.text()


async def test_crawled_strings_are_escaped(api, record_match):
    record_match(f"http://127.0.0.1:9/{HOSTILE}.png", label=HOSTILE, list_name="hostile")
    api.store.replace_list("hostile", [], description=HOSTILE, source=HOSTILE)
    api.svc.settings.notice_batch_window_s = 0
    headers, csrf = api.session("analyst")
    for path in ("/review", "/matches", "/lists", "/lists/hostile"):
        page = await (await api.client.get(path, headers=headers)).text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert HOSTILE not in page, path
    response = await api.client.post("/review/1", data={
        "action": "confirm", "csrf": csrf, "note": HOSTILE}, headers=headers)
    assert response.status == 200
    api.svc.notices.apply_policy()
    [notice] = api.svc.notices.list()
    for path in (f"/notices/{notice.id}", "/audit", "/notices"):
        page = await (await api.client.get(path, headers=headers)).text()
        assert HOSTILE not in page, path
    page = await (await api.client.get(f"/notices/{notice.id}", headers=headers)).text()
    assert "&lt;script&gt;" in page


async def test_import_form_and_readable_errors(api):
    headers, csrf = api.session("analyst")
    form = FormData()
    for key, value in (("list", "demo"), ("kind", ""), ("format", ""), ("category", "policy")):
        form.add_field(key, value)
    form.add_field("file", b"algorithm,hash,label\nmd5," + b"c" * 32 + b",x\n",
                   filename="demo.csv", content_type="text/csv")
    response = await api.client.post(f"/lists/import?csrf={csrf}", data=form, headers=headers)
    page = await response.text()
    assert response.status == 200 and "Imported list demo version 1" in page
    assert "List demo" in page and "policy" in page
    form = FormData()
    form.add_field("list", "demo")
    form.add_field("file", b"algorithm,hash\nmd5,xyz\n", filename="demo.csv")
    response = await api.client.post(f"/lists/import?csrf={csrf}", data=form, headers=headers)
    assert response.status == 400
    page = await response.text()
    assert "line 2:" in page and "<!doctype html>" in page
    assert api.store.get_list("demo").version == 1
    # Multipart fields go through the same NUL check as every other form field.
    form = FormData()
    form.add_field("list", "demo")
    form.add_field("source", "bad\x00source")
    form.add_field("file", b"algorithm,hash\nmd5," + b"d" * 32 + b"\n", filename="demo.csv")
    response = await api.client.post(f"/lists/import?csrf={csrf}", data=form, headers=headers)
    assert response.status == 400 and "NUL" in await response.text()
    assert api.store.get_list("demo").version == 1
    response = await api.client.get("/lists/missing", headers=headers)
    assert response.status == 404 and "no hash list named" in await response.text()


async def test_dashboard_renders_chart_and_figures(api, record_match):
    headers, _ = api.session("viewer")
    site_id = record_match("http://127.0.0.1:9/d.png", decision="auto")
    page = await (await api.client.get("/", headers=headers)).text()
    assert "<svg" in page and "images matched today" in page and "<script" not in page
    assert "<b>1</b><span>images matched today (1 distinct URL)" in page

    # Re-crawling the same image, with more list entries and algorithms, counts it once.
    _recrawl(api, site_id, "http://127.0.0.1:9/d.png", decision="auto", entries=3)
    _recrawl(api, site_id, "http://127.0.0.1:9/d.png", decision="auto", entries=3)
    record_match("http://127.0.0.1:9/r.png", decision="review")
    api.svc.settings.notice_batch_window_s = 0
    api.svc.notices.apply_policy()  # d.png goes into a notice: still online until removed
    page = await (await api.client.get("/", headers=headers)).text()
    assert "<b>2</b><span>images matched today (2 distinct URLs)" in page
    assert re.search(r'id="pending-review"><b><a href="/review">1</a></b>', page)
    assert re.search(r'id="still-online"><b>1</b>', page)


def _recrawl(api, site_id: int, url: str, *, decision: str, entries: int) -> None:
    import hashlib

    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.images import ImageRecorder
    from spinneret.records.types import MatchRecordInput

    crawl = CrawlRepository(api.db).create(site_id)
    hits = [MatchRecordInput(list_name=f"list-{n}", algorithm=algorithm, entry_hash=f"{n}" * 16,
                             query_hash=f"{n}" * 16, distance=0, decision=decision)
            for n in range(entries) for algorithm in ("phash", "dhash")]
    ImageRecorder(api.db).record_image(crawl.id, site_id, "http://127.0.0.1:9/page.html", url,
                                       hashlib.sha256(url.encode()).hexdigest(), matches=hits)


async def test_list_versions_come_from_the_store_so_cli_imports_appear(api, tmp_path):
    from spinneret.matcher.hashlist import import_file  # what `spinneret lists import` calls

    headers, csrf = api.session("analyst")
    path = tmp_path / "l.csv"
    path.write_text("algorithm,hash,label\nmd5," + "a" * 32 + ",x\n")
    import_file(api.store, path, "versioned", by="cli:alice")
    page = await (await api.client.get("/lists/versioned", headers=headers)).text()
    assert re.search(r"<td>1</td><td>import</td><td>[^<]+UTC</td><td>cli:alice</td>", page)

    form = FormData()
    form.add_field("list", "versioned")
    form.add_field("file", b"algorithm,hash\nmd5," + b"b" * 32 + b"\n", filename="l.csv")
    response = await api.client.post(f"/lists/import?csrf={csrf}", data=form, headers=headers)
    assert response.status == 200
    path.write_text("algorithm,hash,label\nmd5," + "b" * 32 + ",x\nmd5," + "c" * 32 + ",y\n")
    import_file(api.store, path, "versioned", by="cli:bob")
    response = await api.client.post("/api/v1/lists/versioned/retract", json={"hash": "c" * 32},
                                     headers=api.bearer("analyst"))
    assert response.status == 200
    page = await (await api.client.get("/lists/versioned", headers=headers)).text()
    versions = re.findall(r"<tr><td>(\d)</td><td>(\w+)</td><td>([^<]+)</td><td>([^<]+)</td>"
                          r"<td>([^<]*)</td></tr>", page)
    assert [(v, what, who, details) for v, what, _, who, details in versions] == [
        ("4", "retract", "api:analyst-test#2", "c" * 32 + " (md5)"),
        ("3", "import", "–", ""),  # a CLI import before the newest: who and when unknown
        ("2", "import", "api:analyst-test#2", "+1 −1 =0"),
        ("1", "import", "–", ""),
    ]


async def test_matches_page_pages_filters_and_refuses_bad_filters_in_one_line(api, record_match):
    headers, _ = api.session("viewer")
    for n in range(3):
        record_match(f"http://127.0.0.1:9/m{n}.png", decision="auto",
                     list_name="list-even" if n % 2 == 0 else "list-odd")
    page = await (await api.client.get("/matches", headers=headers)).text()
    assert "Images 1–3 of 3" in page and "goes into the next notice" in page
    assert "reviewed_confirmed" not in page and ">new<" not in page  # words, not status names
    page = await (await api.client.get("/matches", params={"list": "list-odd"},
                                       headers=headers)).text()
    assert "Images 1–1 of 1" in page and "m1.png" in page and "m0.png" not in page
    for params, message in (({"since": "31/12/2026"}, "is not a date (YYYY-MM-DD)"),
                            ({"decision": "maybe"}, "unknown decision"),
                            ({"page": "0"}, "page")):
        response = await api.client.get("/matches", params=params, headers=headers)
        assert response.status == 400 and message in await response.text(), params
    response = await api.client.get("/matches/999", headers=headers)
    assert response.status == 404 and "no matched image with id 999" in await response.text()
    response = await api.client.get("/api/v1/images", params={"list": "list-even", "limit": 1},
                                    headers=api.bearer("viewer"))
    body = await response.json()
    assert (body["total"], len(body["images"])) == (2, 1)
    assert body["images"][0]["image_url"] == "http://127.0.0.1:9/m2.png"


async def test_ui_reject_without_a_note_is_refused_as_in_the_cli(api, record_match):
    record_match("http://127.0.0.1:9/borderline.png", decision="review")
    [item] = api.svc.notices.review_queue()
    headers, csrf = api.session("analyst")
    response = await api.client.post(f"/review/{item.id}", headers=headers,
                                     data={"csrf": csrf, "action": "reject", "note": " "})
    assert response.status == 400 and "a rejection needs a note" in await response.text()
    response = await api.client.post(f"/api/v1/review/{item.id}/reject", json={},
                                     headers=api.bearer("analyst"))
    assert response.status == 400 and "needs a note" in (await response.json())["error"]
    assert [i.id for i in api.svc.notices.review_queue()] == [item.id]


async def test_review_page_shows_twenty_images_a_page(api, record_match):
    for n in range(21):
        record_match(f"http://127.0.0.1:9/b{n:02}.png", decision="review")
    headers, _ = api.session("viewer")
    page = await (await api.client.get("/review", headers=headers)).text()
    assert "21 images waiting for a decision; 20 on this page" in page
    assert page.count('<section class="card review"') == 20 and "b00.png" in page
    page = await (await api.client.get("/review?page=2", headers=headers)).text()
    assert page.count('<section class="card review"') == 1 and "b20.png" in page
    assert 'href="/review?page=1" rel="prev"' in page


async def test_site_form_adds_a_site_as_the_api_does(api):
    headers, csrf = api.session("admin")
    form = {"csrf": csrf, "url": "http://example.test/", "name": "formsite",
            "owner_email": "o@example.test", "max_pages": "7", "rate_per_s": "2.5",
            "include": "/a\n/b", "ignore_robots": "on"}
    response = await api.client.post("/sites", data={**form, "max_pages": "seven"},
                                     headers=headers)
    assert response.status == 400 and "max pages must be a whole number" in await response.text()
    response = await api.client.post("/sites", data={**form, "url": " "}, headers=headers)
    assert response.status == 400 and "url is required" in await response.text()
    response = await api.client.post("/sites", data=form, headers=headers, allow_redirects=False)
    assert response.status == 303
    site = await (await api.client.get("/api/v1/sites/formsite",
                                       headers=api.bearer("admin"))).json()
    assert (site["max_pages"], site["rate_per_s"], site["include"], site["ignore_robots"]) == (
        7, 2.5, ["/a", "/b"], True)
