"""Every route, generated from the route table: no token -> 401 (UI: to the login page),
too small a role -> 403; the OpenAPI document lists exactly the app's routes."""

from __future__ import annotations

import re

import pytest

from api.app import all_endpoints
from api.endpoints import ROLE_RANK, ROLES

ENDPOINTS = all_endpoints()
GUARDED = [ep for ep in ENDPOINTS if ep.role is not None]


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: "1" if m.group(1) == "id" else "x", path)


def _ids(ep) -> str:
    return f"{ep.method} {ep.path}"


def test_every_route_is_in_the_table_with_a_known_role():
    assert GUARDED, "no guarded routes?"
    for ep in ENDPOINTS:
        assert ep.role is None or ep.role in ROLES, ep
        assert ep.kind in ("api", "ui", "public"), ep
    public = {(ep.method, ep.path) for ep in ENDPOINTS if ep.role is None}
    # The only routes open without a token: health, the OpenAPI document, login, the
    # stylesheet, and the owner pages (which need a signed link instead).
    assert public == {
        ("GET", "/api/v1/openapi.json"), ("GET", "/healthz"), ("GET", "/readyz"),
        ("GET", "/login"), ("POST", "/login"), ("GET", "/static/app.css"),
        ("GET", "/owner/{token}"), ("POST", "/owner/{token}"),
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


async def test_revoked_token_refused(api):
    from records.tokens import list_tokens, revoke_token

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
        routed.add((route.method, info.get("path") or info.get("formatter")))
    assert documented == routed
    for path, ops in document["paths"].items():
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
