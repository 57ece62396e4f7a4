"""The aiohttp application: JSON API under /api/v1, the web UI, owner pages, health and
metrics. Every route comes from the route table (api/endpoints.py `Endpoint`s) and runs
behind one guard that authenticates, checks the role (and CSRF for UI forms), maps domain
errors to clear 4xx answers and writes every mutating call to the audit log.
"""

from __future__ import annotations

import logging

import aiohttp_jinja2
import jinja2
from aiohttp import web

from spinneret.api import (
    hma,
    owner_pages,
    shield,
    ui,
    ui_reports,
    v1_admin,
    v1_contacts,
    v1_list_controls,
    v1_lists,
    v1_notices,
    v1_records,
    v1_reports,
)
from spinneret.api.auth import SESSION_COOKIE, Principal
from spinneret.api.endpoints import API_PREFIX, Endpoint, Handler, openapi_document
from spinneret.api.errors import ApiError, as_api_error
from spinneret.api.hashdiff import hash_diff
from spinneret.api.http import (
    AUDIT_DETAILS,
    AUDIT_TARGET,
    ENDPOINT,
    PRINCIPAL,
    check_request_text,
    error_response,
    form_body,
)
from spinneret.api.metrics import SpinneretCollector
from spinneret.api.services import SERVICES, Services
from spinneret.config.secrets import mask_secrets
from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.render import category_text, match_text
from spinneret.records.audit import AuditLog
from spinneret.records.db import Database

log = logging.getLogger(__name__)

# Small forms and JSON only; uploads are streamed (api/uploads.py) under their own cap.
CLIENT_MAX_SIZE = 64 * 1024


def all_endpoints() -> list[Endpoint]:
    return [*v1_lists.ENDPOINTS, *v1_list_controls.ENDPOINTS, *v1_records.ENDPOINTS,
            *v1_notices.ENDPOINTS, *v1_reports.ENDPOINTS, *v1_admin.ENDPOINTS,
            *v1_contacts.ENDPOINTS, *ui.ENDPOINTS, *ui_reports.ENDPOINTS,
            *owner_pages.ENDPOINTS]


def create_app(context, *, clock: Clock | None = None, db: Database | None = None
               ) -> web.Application:
    """`context` is the composition root (`spinneret.runtime.context.AppContext`): settings, db,
    Redis and the fingerprint store (used lazily)."""
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=[_http_errors])
    svc = Services(context, db or context.db, clock or SystemClock())
    svc.metrics.register(SpinneretCollector(svc))
    app[SERVICES] = svc
    endpoints = all_endpoints()
    app[v1_admin.OPENAPI_KEY] = openapi_document(endpoints)
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader(__package__, "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, duration=_duration, match_text=match_text,
                       category_text=category_text, hash_diff=hash_diff)
    for ep in endpoints:
        app.router.add_route(ep.method, ep.path, _guarded(ep), name=ep.operation_id
                             if ep.kind != "ui" else f"ui_{ep.operation_id}")
    shield.mount(app, svc)  # protocol-compatible faces, each with its own auth and errors
    hma.mount(app, svc)
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    await app[SERVICES].close()


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _error(request: web.Request, ep: Endpoint | None, status: int, message: str
           ) -> web.StreamResponse:
    """JSON for the API; a readable page for the UI and the owner pages (whose visitors have
    no account: their page has no navigation or login link)."""
    if ep is not None and ep.kind == "public" and ep.produces == "text/html":
        return ui.error_page(request, status, message, template="owner_error.html.j2")
    if ep is not None and ep.kind == "ui":
        return ui.error_page(request, status, message)
    if ep is None and not request.path.startswith(API_PREFIX) and request.path != "/metrics":
        return ui.error_page(request, status, message)
    return error_response(status, message)


def _http_message(exc: web.HTTPException) -> str:
    return exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason


def _guarded(ep: Endpoint) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        svc = request.app[SERVICES]
        request[ENDPOINT] = ep
        who: Principal | None = None
        if ep.kind == "api":
            who = svc.auth.bearer(request)
        elif ep.kind == "ui":
            who = svc.auth.session(request)
        request[PRINCIPAL] = who
        try:
            response = await _refusal(request, svc, ep, who)
            if response is None:
                check_request_text(request)
                response = await ep.handler(request)
        except web.HTTPException as exc:  # aiohttp's own, e.g. 413 for a form too large
            if exc.status < 400:
                raise
            response = _error(request, ep, exc.status, _http_message(exc))
        except Exception as exc:  # mapped to a clear answer, or a logged 500
            error = as_api_error(exc)
            if error is None:
                log.exception("%s %s failed", request.method, request.path)
                error = ApiError(500, "internal error (logged on the server)")
            response = _error(request, ep, error.status,
                              mask_secrets(error.message, svc.settings.secret_values()))
        # Every mutating call, refused or failed too. Unauthenticated successes are the
        # login (audited as ui.login) and owner responses (audited by notices.owner).
        if ep.mutating and (who is not None or response.status >= 400):
            _audit(request, svc, _actor(request, who), f"{ep.kind}.{ep.operation_id}",
                   response.status)
        return response

    handle.__name__ = ep.operation_id
    return handle


async def _refusal(request: web.Request, svc: Services, ep: Endpoint,
                   who: Principal | None) -> web.StreamResponse | None:
    """The answer when the caller may not make this call (no token, too small a role, a
    form without its CSRF token); None when it may."""
    if ep.role is None:
        return None
    if who is None:
        if ep.kind == "ui" and ep.method == "GET":
            return ui.redirect(request, f"/login?next={request.path_qs}")
        if ep.kind == "ui":
            return ui.error_page(request, 401, "Your session has ended; log in again.")
        return error_response(401, "missing, unknown or revoked Bearer token")
    if not who.may(ep.role):
        return _error(request, ep, 403, f"this needs the {ep.role} role; you are {who.role}")
    if ep.kind == "ui" and ep.mutating and not await _csrf_ok(request, svc, who):
        return ui.error_page(request, 403, "The form expired. Go back, reload the page and retry.")
    return None


async def _csrf_ok(request: web.Request, svc: Services, who: Principal) -> bool:
    submitted = request.query.get("csrf")  # multipart forms carry it in the action URL
    if submitted is None and request.content_type == "application/x-www-form-urlencoded":
        submitted = (await form_body(request)).get("csrf")
    return svc.auth.csrf_ok(who.session_nonce, submitted)


def _actor(request: web.Request, who: Principal | None) -> str:
    """How the audit log names the caller: its token; else `unknown` when it showed a token
    or session that is not (or no longer) valid; else `anonymous`."""
    if who is not None:
        return who.actor
    if request.headers.get("Authorization") or request.cookies.get(SESSION_COOKIE):
        return "unknown"
    return "anonymous"


def _audit(request: web.Request, svc: Services, actor: str, action: str, status: int
           ) -> None:
    details = {"method": request.method, "path": request.path.replace("\x00", "\ufffd"),
               "status": status,
               **request.get(AUDIT_DETAILS, {})}
    if request.get(PRINCIPAL) is None:  # no token to name the caller: where it came from
        details["remote"] = request.remote
        if not svc.refusal_audit.allow(request.remote or "?"):
            svc.audit_refusals_dropped.inc()
            return
    try:
        AuditLog(svc.db).write(actor, action, request.get(AUDIT_TARGET, request.path), details)
    except Exception:  # the change is done; failing the answer would not undo it
        log.exception("could not write the audit event for %s %s", request.method,
                      request.path)


@web.middleware
async def _http_errors(request: web.Request, handler) -> web.StreamResponse:
    """aiohttp's own errors outside a route (unknown route, wrong method) as JSON for the API
    and as a readable page for the UI. A mutating method on a route that does not take it
    (405) is audited like any refused mutating call."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 405 and request.method not in ("GET", "HEAD", "OPTIONS"):
            svc = request.app[SERVICES]
            request[PRINCIPAL] = svc.auth.bearer(request) or svc.auth.session(request)
            _audit(request, svc, _actor(request, request[PRINCIPAL]),
                   "http.method_not_allowed", exc.status)
        return _error(request, request.get(ENDPOINT), exc.status, _http_message(exc))
