"""Tokens, audit log, settings, health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from spinneret.api.endpoints import API_PREFIX, Endpoint, Param, id_param
from spinneret.api.http import (
    PRINCIPAL,
    field,
    json_body,
    ok,
    path_int,
    query_int,
    services,
    set_audit,
)
from spinneret.records.audit import AuditLog
from spinneret.records.models import TOKEN_ROLES
from spinneret.records.tokens import create_token, list_tokens, revoke_token

OPENAPI_KEY = web.AppKey("openapi", dict)


async def list_tokens_(request: web.Request) -> web.Response:
    return ok(list_tokens(services(request).db))


async def create_token_(request: web.Request) -> web.Response:
    data = await json_body(request)
    role = field(data, "role", str, required=True)
    name = field(data, "name", str)
    token = create_token(services(request).db, role, name, actor=request[PRINCIPAL].actor)
    set_audit(request, f"token:{token.record.id}", op="create", role=role,
              name=token.record.name)
    return ok({**ok_token(token.record), "token": token.secret}, 201)


def ok_token(record) -> dict:
    return {"id": record.id, "name": record.name, "role": record.role,
            "created_at": record.created_at, "last_used_at": record.last_used_at,
            "revoked_at": record.revoked_at}


async def revoke_token_(request: web.Request) -> web.Response:
    token_id = path_int(request)
    set_audit(request, f"token:{token_id}", op="revoke")
    record = revoke_token(services(request).db, token_id, actor=request[PRINCIPAL].actor)
    return ok(ok_token(record))


async def audit_log(request: web.Request) -> web.Response:
    events = AuditLog(services(request).db).list(
        target=request.query.get("target") or None, action=request.query.get("action") or None,
        limit=query_int(request, "limit", 100, minimum=1, maximum=1000))
    return ok(events)


async def show_config(request: web.Request) -> web.Response:
    return ok(services(request).settings.masked())


async def whoami(request: web.Request) -> web.Response:
    p = request[PRINCIPAL]
    return ok({"id": p.token_id, "name": p.name, "role": p.role})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _check_sql(svc) -> None:
    with svc.db.session(readonly=True) as session:
        session.execute(text("SELECT 1"))


def _check_redis(svc) -> None:
    svc.context.redis.ping()


def _check_workers(svc) -> str:
    if svc.settings.pipeline != "celery":
        return "in-process pool (started with each crawl)"
    from spinneret.runtime.celery_app import configure

    app = configure(svc.settings, svc.context.redis_url)
    replies = app.control.inspect(timeout=1.0).ping() or {}
    if not replies:
        raise RuntimeError("no Celery worker answered a ping")
    return f"{len(replies)} worker(s)"


async def readyz(request: web.Request) -> web.Response:
    """200 when Redis, SQL and the workers answer; 503 naming what does not."""
    svc = services(request)
    checks: dict[str, dict] = {}
    for name, check in (("redis", _check_redis), ("sql", _check_sql),
                        ("workers", _check_workers)):
        try:
            detail = await asyncio.wait_for(asyncio.to_thread(check, svc), timeout=5.0)
            checks[name] = {"ok": True, **({"detail": detail} if detail else {})}
        except Exception as exc:  # any failure means "not ready", with its reason
            checks[name] = {"ok": False, "error": str(exc) or type(exc).__name__}
    ready = all(c["ok"] for c in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, services(request).metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


P = API_PREFIX
ENDPOINTS = [
    Endpoint("GET", f"{P}/tokens", list_tokens_, "admin", "API tokens (never their secrets)"),
    Endpoint("POST", f"{P}/tokens", create_token_, "admin",
             "Create a token; its secret is in this answer only",
             body={"application/json": {"type": "object", "required": ["role"], "properties": {
                 "role": {"type": "string", "enum": list(TOKEN_ROLES)},
                 "name": {"type": "string"}}}}, responses={201: "Created"}),
    Endpoint("DELETE", f"{P}/tokens/{{id}}", revoke_token_, "admin", "Revoke a token",
             params=(id_param(),)),
    Endpoint("GET", f"{P}/audit", audit_log, "viewer", "The audit log, newest first",
             params=(Param("target"), Param("action"),
                     Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}))),
    Endpoint("GET", f"{P}/config", show_config, "admin", "Effective settings, secrets masked"),
    Endpoint("GET", f"{P}/whoami", whoami, "viewer", "The calling token's name and role"),
    Endpoint("GET", f"{P}/openapi.json", openapi, None, "This document", kind="public"),
    Endpoint("GET", "/healthz", healthz, None, "The process is up", kind="public"),
    Endpoint("GET", "/readyz", readyz, None, "Redis, SQL and workers reachable",
             kind="public", responses={503: "Not ready"}),
    Endpoint("GET", "/metrics", metrics, "viewer", "Prometheus metrics",
             produces="text/plain"),
]
