"""Every route, generated from the route table: no token -> 401 (UI: to the login page),
too small a role -> 403; the OpenAPI document lists exactly the app's routes."""

from __future__ import annotations

import re

import pytest

from spinneret.api.app import all_endpoints
from spinneret.api.audit_limit import RefusalAuditLimit
from spinneret.api.compat import PROTOCOL_PREFIXES
from spinneret.api.endpoints import ROLE_RANK, ROLES
from spinneret.records.audit import AuditLog

ENDPOINTS = all_endpoints()
GUARDED = [ep for ep in ENDPOINTS if ep.role is not None]


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: "1" if m.group(1) == "id" else "x", path)


def _ids(ep) -> str:
    return f"{ep.method} {ep.path}"


def _audited(api, ep, path: str) -> list[tuple[str, int]]:
    """(actor, status) of the audit events of calls to this route, oldest first."""
    action = f"{ep.kind}.{ep.operation_id}"
    return [(e.actor, e.details["status"]) for e in reversed(AuditLog(api.db).list(limit=500))
            if e.action == action and e.details.get("path") == path]


def test_every_route_is_in_the_table_with_a_known_role():
    assert GUARDED, "no guarded routes?"
    for ep in ENDPOINTS:
        assert ep.role is None or ep.role in ROLES, ep
        assert ep.kind in ("api", "ui", "public"), ep
    public = {(ep.method, ep.path) for ep in ENDPOINTS if ep.role is None}
    # The only routes open without a token: health, the OpenAPI document, login, the
    # stylesheet and script, and the owner pages (which need a signed link instead).
    assert public == {
        ("GET", "/api/v1/openapi.json"), ("GET", "/healthz"), ("GET", "/readyz"),
        ("GET", "/login"), ("POST", "/login"), ("GET", "/static/app.css"),
        ("GET", "/static/crawls.js"), ("GET", "/owner/{token}"), ("POST", "/owner/{token}"),
    }


@pytest.mark.parametrize("ep", GUARDED, ids=_ids)
async def test_without_a_token_refused(api, ep):
    response = await api.client.request(ep.method, concrete(ep.path), allow_redirects=False)
    if ep.kind == "ui" and ep.method == "GET":
        assert response.status == 303
        assert response.headers["Location"].startswith("/login?next=")
    elif ep.kind == "ui":
        assert response.status == 401
    else:
        assert response.status == 401
        assert (await response.json())["status"] == 401
    # A wrong token, and a UI cookie sent to the API, are no better than none.
    if ep.kind == "api":
        response = await api.client.request(ep.method, concrete(ep.path),
                                            headers={"Authorization": "Bearer spn_wrong"})
        assert response.status == 401
        headers, _ = api.session("admin")
        response = await api.client.request(ep.method, concrete(ep.path), headers=headers)
        assert response.status == 401
    # A refused mutating call is audited too, with whatever names the caller.
    expected = [("anonymous", 401)]
    if ep.kind == "api":
        expected += [("unknown", 401), ("unknown", 401)]
    assert _audited(api, ep, concrete(ep.path)) == (expected if ep.mutating else [])


@pytest.mark.parametrize("ep", [ep for ep in GUARDED if ROLE_RANK[ep.role] > 0], ids=_ids)
async def test_too_small_a_role_forbidden(api, ep):
    for role in ROLES[:ROLE_RANK[ep.role]]:
        if ep.kind == "api":
            headers = api.bearer(role)
        else:
            headers, _ = api.session(role)
        response = await api.client.request(ep.method, concrete(ep.path), headers=headers,
                                            allow_redirects=False)
        assert response.status == 403, (role, ep.path)
        if ep.kind == "api":
            assert "role" in (await response.json())["error"]
    refused = [(f"api:{role}-test#{ROLES.index(role) + 1}", 403)
               for role in ROLES[:ROLE_RANK[ep.role]]]
    assert _audited(api, ep, concrete(ep.path)) == (refused if ep.mutating else [])


async def test_revoked_token_refused(api):
    from spinneret.records.tokens import list_tokens, revoke_token

    response = await api.client.get("/api/v1/whoami", headers=api.bearer("viewer"))
    assert response.status == 200 and (await response.json())["role"] == "viewer"
    [viewer] = [t for t in list_tokens(api.db) if t.role == "viewer"]
    headers, _ = api.session("viewer")
    revoke_token(api.db, viewer.id, actor="test")
    response = await api.client.get("/api/v1/whoami", headers=api.bearer("viewer"))
    assert response.status == 401
    response = await api.client.get("/", headers=headers, allow_redirects=False)
    assert response.status == 303  # the UI session of a revoked token ends too


async def test_openapi_document_lists_exactly_the_routes(api):
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in document["paths"].items()
                  for method in ops}
    routed = set()
    for route in api.app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if path.startswith(PROTOCOL_PREFIXES):  # other protocols' routes: docs/api.md
            continue
        routed.add((route.method, path))
    assert documented == routed
    for path, ops in document["paths"].items():
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


async def test_refusals_outside_the_role_check_are_audited(api, owner_notice, record_match):
    """CSRF refusals, aiohttp's own 413 and 405, failed logins and refused owner forms: each
    is answered clearly and written to the audit log."""
    record_match("http://127.0.0.1:9/r.png")
    headers, csrf = api.session("analyst")
    analyst = "api:analyst-test#2"
    log = AuditLog(api.db)

    def last() -> tuple[str, str, int]:
        event = log.list(limit=1)[0]
        return event.actor, event.action, event.details["status"]

    response = await api.client.post("/review/1", data={"action": "confirm"}, headers=headers)
    assert response.status == 403 and last() == (analyst, "ui.review_decide", 403)
    # Over the app's 64 KiB form cap: aiohttp raises 413 while the form is read.
    response = await api.client.post("/review/1", headers=headers, data={
        "action": "confirm", "csrf": csrf, "note": "n" * 100_000})
    assert response.status == 413 and "<!doctype html>" in await response.text()
    assert last() == (analyst, "ui.review_decide", 413)
    response = await api.client.put("/api/v1/lists", headers=api.bearer("viewer"))
    assert response.status == 405 and (await response.json())["status"] == 405
    assert last() == ("api:viewer-test#1", "http.method_not_allowed", 405)
    response = await api.client.delete("/api/v1/whoami")
    assert response.status == 405 and last() == ("anonymous", "http.method_not_allowed", 405)
    page = await (await api.client.get("/login")).text()
    token_csrf = page.split('name="csrf" value="')[1].split('"')[0]
    response = await api.client.post("/login", data={"token": "spn_nope", "csrf": token_csrf})
    assert response.status == 401 and last() == ("anonymous", "ui.login", 401)
    response = await api.client.post(f"/owner/{owner_notice.token}",
                                     data={"action": "dispute", "csrf": "x"})
    assert response.status == 403 and last() == ("anonymous", "public.owner_post", 403)
    assert log.list(limit=1)[0].details["remote"] == "127.0.0.1"
    # Reads are not audited, refused or not; nor is a mutating call to an unknown path.
    count = len(log.list(limit=1000))
    await api.client.get("/api/v1/lists")
    await api.client.get("/api/v1/config", headers=api.bearer("viewer"))
    await api.client.post("/api/v1/no-such-route", headers=api.bearer("viewer"))
    assert len(log.list(limit=1000)) == count


async def test_owner_page_errors_are_pages(api, owner_notice):
    """Errors raised around the owner form (aiohttp's 413, a malformed body) come back as
    the owner's HTML error page, like the UI's, never as JSON."""
    path = f"/owner/{owner_notice.token}"
    csrf = owner_notice.links.csrf_token(owner_notice.token)
    response = await api.client.post(path, data={"action": "dispute", "csrf": csrf,
                                                  "comment": "c" * 100_000})
    page = await response.text()
    assert response.status == 413 and response.content_type == "text/html"
    assert "Too large" in page and "Log in" not in page  # owners have no account
    assert response.headers["X-Frame-Options"] == "DENY"
    response = await api.client.post(path, data=b"x",
                                     headers={"Content-Type": "multipart/form-data"})
    assert response.status == 400 and response.content_type == "text/html"
    assert "malformed form body" in await response.text()
    assert owner_notice.service.show(owner_notice.notice.id).status != "disputed"


async def test_refusals_without_a_token_are_audited_up_to_a_cap(api):
    """A client without a token cannot fill the audit log: past 30 refusals a minute from
    one address, the rest are counted in /metrics instead of written."""
    for _ in range(35):
        response = await api.client.post("/api/v1/lists/x/retract", json={"hash": "0" * 32})
        assert response.status == 401
    rows = [e for e in AuditLog(api.db).list(limit=500) if e.action == "api.retract_hash"]
    assert len(rows) == api.svc.refusal_audit.per_minute == 30
    text = await (await api.client.get("/metrics", headers=api.bearer("viewer"))).text()
    assert "spinneret_audit_refusals_dropped_total 5.0" in text
    # A caller with a valid token is always audited, cap or not.
    response = await api.client.post("/api/v1/lists/x/retract", json={"hash": "0" * 32},
                                     headers=api.bearer("analyst"))
    assert response.status == 404
    rows = [e for e in AuditLog(api.db).list(limit=500) if e.action == "api.retract_hash"]
    assert len(rows) == 31 and rows[0].actor.startswith("api:analyst")


def test_refusal_cap_is_per_address_and_minute():
    now = [0.0]
    limit = RefusalAuditLimit(per_minute=2, clock=lambda: now[0])
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]
    assert limit.allow("b")
    now[0] = 60.0
    assert limit.allow("a")
