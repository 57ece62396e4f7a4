"""Auth from the router's side: every route the running app serves (read from
`app.router`, not from the route table, so a route added any other way is caught) refuses a
caller without a token, and is in the route table whose role tests (tests/api/test_api_auth.py)
then check 403 for too small a role. Tokens are stored only as hashes, and the secrets the
service compares (CSRF tokens, webhook signatures, owner-form tokens) go through
`hmac.compare_digest`."""

from __future__ import annotations

import hmac
import re

from sqlalchemy import inspect, select, text

from spinneret.api.app import all_endpoints
from spinneret.api.compat import PROTOCOL_PREFIXES
from spinneret.notices.webhook import sign, verify_request
from spinneret.records.models import ApiToken
from spinneret.records.tokens import create_token, hash_token
from tests.api.conftest import api, context, owner_notice, record_match, tokens  # noqa: F401

#: Open without a token (health, the OpenAPI document, login, the stylesheet) or with a
#: signed link instead (the owner pages). Anything else the router serves must refuse.
PUBLIC = {
    ("GET", "/api/v1/openapi.json"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/login"), ("POST", "/login"), ("GET", "/static/app.css"),
    ("GET", "/static/crawls.js"),
    ("GET", "/owner/{token}"), ("POST", "/owner/{token}"),
}


def _router_routes(app) -> list[tuple[str, str]]:
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info()
        routes.append((route.method, info.get("path") or info.get("formatter")))
    return sorted(set(routes))


# HMA's liveness check answers anyone, as HMA's own does (and as /healthz does here).
PROTOCOL_PUBLIC = {"/hma/status"}


def _concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: "1" if m.group(1) == "id" else "x", path)


async def test_every_route_the_router_serves_refuses_a_caller_without_a_token(api):  # noqa: F811
    routes = _router_routes(api.app)
    assert len(routes) > 20
    table = {(ep.method, ep.path) for ep in all_endpoints()}
    checked = 0
    for method, path in routes:
        # HEAD is added by aiohttp beside each GET: it must be refused just like the GET.
        key = ("GET" if method == "HEAD" else method, path)
        if path.startswith(PROTOCOL_PREFIXES):  # Shield / HMA: their own routes and auth
            if path not in PROTOCOL_PUBLIC:
                response = await api.client.request(method, _concrete(path),
                                                    allow_redirects=False)
                assert response.status == 401, (method, path, response.status)
                checked += 1
            continue
        assert key in table, f"{method} {path} is routed but not in the route table"
        if key in PUBLIC:
            continue
        response = await api.client.request(method, _concrete(path), allow_redirects=False)
        if path.startswith("/api/"):
            assert response.status == 401, (method, path, response.status)
        else:  # UI: a GET goes to the login page, a form post is refused
            assert response.status in (303, 401), (method, path, response.status)
            if response.status == 303:
                assert response.headers["Location"].startswith("/login")
        checked += 1
    assert checked >= len(routes) - len(PUBLIC) - 3


async def test_methods_the_table_does_not_name_are_not_served(api):  # noqa: F811
    for method in ("PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
        response = await api.client.request(method, "/api/v1/whoami",
                                            headers=api.bearer("admin"))
        assert response.status in (401, 403, 404, 405), (method, response.status)


async def test_a_bearer_token_is_stored_only_as_its_hash(api):  # noqa: F811
    created = create_token(api.db, "admin", "hashed-check", actor="test")
    secret = created.secret
    assert len(secret) >= 32
    with api.db.session(readonly=True) as session:
        row = session.scalars(select(ApiToken).where(ApiToken.id == created.record.id)).one()
        assert row.token_hash == hash_token(secret) != secret
        # Nowhere in the database: every text column of every table is searched.
        engine = session.get_bind()
        for table in inspect(engine).get_table_names():
            for column in inspect(engine).get_columns(table):
                if "CHAR" in str(column["type"]).upper() or "TEXT" in str(column["type"]).upper():
                    hits = session.execute(text(
                        f'SELECT COUNT(*) FROM "{table}" WHERE "{column["name"]}" LIKE :s'),
                        {"s": f"%{secret[8:40]}%"}).scalar()
                    assert hits == 0, f"{table}.{column['name']} holds the token"
    response = await api.client.get("/api/v1/tokens", headers=api.bearer("admin"))
    assert secret not in await response.text()


def _spy(monkeypatch) -> list[tuple[bytes | str, bytes | str]]:
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


async def test_ui_csrf_check_is_timing_safe(api, monkeypatch):  # noqa: F811
    calls = _spy(monkeypatch)
    headers, csrf = api.session("admin")
    wrong = csrf[:-1] + ("0" if csrf[-1] != "0" else "1")
    response = await api.client.post("/sites", data={
        "name": "csrf-check", "base_url": "http://x.example/", "owner_email": "a@b.example",
        "csrf": wrong}, headers=headers)
    assert response.status in (400, 403), response.status
    assert any(wrong.encode() in (a, b) for a, b in calls), "CSRF compared with compare_digest"


async def test_owner_form_token_check_is_timing_safe(api, owner_notice, monkeypatch):  # noqa: F811
    calls = _spy(monkeypatch)
    response = await api.client.post(f"/owner/{owner_notice.token}", data={
        "action": "dispute", "comment": "x", "csrf": "f" * 64})
    assert response.status == 403
    assert any(b"f" * 64 in (a, b) for a, b in calls)


def test_webhook_signature_check_is_timing_safe(monkeypatch):
    calls = _spy(monkeypatch)
    secret, body, now = b"k" * 32, b'{"a": 1}', 1_700_000_000
    bad = sign(secret, now, body)[:-1] + "0"
    headers = {"X-Spinneret-Timestamp": str(now), "X-Spinneret-Signature": bad}
    try:
        verify_request(secret, headers, body, now=now)
    except Exception:  # noqa: BLE001 - refused, as it must be
        pass
    else:
        raise AssertionError("a bad signature was accepted")
    assert any(bad in (a, b) for a, b in calls)
