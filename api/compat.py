"""What the protocol-compatible faces (api/shield.py, api/hma.py) share.

Each face is an aiohttp sub-application under its own prefix with its own credentials and
its own error shape, so a client written for that protocol sees the answers it expects
(even for an unknown path or a wrong method). Media reach them two ways, both held in
memory only and dropped once hashed: an upload under the API's size cap, or a URL fetched by
the crawler's fetcher (SSRF guard on every hop, the crawler's size cap, no retries).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from spinneret.api.auth import Principal
from spinneret.api.errors import ApiError, as_api_error
from spinneret.api.http import PRINCIPAL, check_request_text
from spinneret.api.services import SERVICES, Services
from spinneret.crawler.errors import FetchError, SkipUrl
from spinneret.crawler.fetch import Fetcher
from spinneret.crawler.types import CrawlSettings
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.matching import Match
from spinneret.matcher.service import hash_and_match
from spinneret.records.audit import AuditLog

log = logging.getLogger(__name__)

#: Where the faces are mounted (their routes are not in Spinneret's own OpenAPI document).
PROTOCOL_PREFIXES = ("/shield/", "/hma/")

ErrorBody = Callable[[int, str], web.Response]
Authenticate = Callable[[web.Request, Services], Principal | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Face:
    """One protocol: how it names its callers and how it says what went wrong."""

    name: str  # audit actions are `<name>.<handler>`
    error: ErrorBody
    authenticate: Authenticate
    unauthorized: str  # the 401 message
    challenge: str = ""  # a WWW-Authenticate header for 401s


def services_of(request: web.Request) -> Services:
    return request.config_dict[SERVICES]


def protocol_app(svc: Services, face: Face) -> web.Application:
    """An empty sub-application for `face`; add routes with `route`."""
    app = web.Application(middlewares=[_errors_as(face)])
    app[SERVICES] = svc
    app[_FACE] = face
    return app


def route(app: web.Application, method: str, path: str, handler: Handler,
          role: str | None) -> None:
    """Add `handler` behind the face's credentials; `role` None: no credentials needed."""
    app.router.add_route(method, path, guarded(app[_FACE], handler, role))


def guarded(face: Face, handler: Handler, role: str | None) -> Handler:
    mutating = role is not None and role != "viewer"

    async def guarded(request: web.Request) -> web.StreamResponse:
        svc = services_of(request)
        who = face.authenticate(request, svc) if role is not None else None
        refusal = _refusal(face, who, role)
        if refusal is not None:
            _audit_refusal(svc, face, request, who, refusal.status)
            return refusal
        request[PRINCIPAL] = who
        check_request_text(request)
        response = await handler(request)
        if mutating and who is not None:
            _audit(svc, who, f"{face.name}.{handler.__name__.strip('_')}", request,
                   response.status)
        return response

    guarded.__name__ = handler.__name__
    return guarded


def _refusal(face: Face, who: Principal | None, role: str | None) -> web.Response | None:
    if role is None:
        return None
    if who is None or (who.token_id == 0 and not who.may(role)):  # none, or anonymous
        response = face.error(401, face.unauthorized)
        if face.challenge:
            response.headers["WWW-Authenticate"] = face.challenge
        return response
    if not who.may(role):
        return face.error(403, f"this needs the {role} role; you are {who.role}")
    return None


def _audit_refusal(svc: Services, face: Face, request: web.Request, who: Principal | None,
                   status: int) -> None:
    """Refused calls that would change or scan something are audited like the app's own,
    at most so many a minute per address (api/audit_limit.py)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if who is not None and who.token_id:  # a valid token with too small a role
        actor = who.actor
    else:
        if not svc.refusal_audit.allow(request.remote or "?"):
            svc.audit_refusals_dropped.inc()
            return
        actor = "unknown" if request.headers.get("Authorization") else "anonymous"
    try:
        AuditLog(svc.db).write(actor, f"{face.name}.refused", request.path,
                               {"method": request.method, "path": request.path,
                                "status": status, "remote": request.remote})
    except Exception:
        log.exception("could not audit the refused %s %s", request.method, request.path)


def _audit(svc: Services, who: Principal, action: str, request: web.Request,
           status: int) -> None:
    details = {"method": request.method, "path": request.path, "status": status}
    try:
        AuditLog(svc.db).write(who.actor, action, request.path, details)
    except Exception:  # the change is done; failing the answer would not undo it
        log.exception("could not write the audit event for %s %s", request.method,
                      request.path)


def _errors_as(face: Face):
    @web.middleware
    async def errors(request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:  # unknown path, wrong method, a body too large
            if exc.status < 400:
                raise
            return face.error(exc.status, exc.reason if not exc.text or exc.text.startswith(
                str(exc.status)) else exc.text)
        except Exception as exc:
            error = as_api_error(exc)
            if error is None:
                log.exception("%s %s failed", request.method, request.path)
                error = ApiError(500, "internal error (logged on the server)")
            return face.error(error.status, error.message)

    return errors


_FACE = web.AppKey("face", Face)


async def fetch_media(svc: Services, url: str) -> bytes:
    """The bytes at `url`, fetched the way the crawler fetches an image: SSRF guard on
    every hop, the image size cap, the fetch timeout. Raises `ApiError` (400/413/502)."""
    settings = svc.settings
    crawl = CrawlSettings.from_settings(settings, max_retries=0)
    cap = min(settings.max_response_bytes, settings.max_image_bytes)
    try:
        async with Fetcher(crawl) as fetcher:
            response = await fetcher.fetch(url, max_bytes=cap)
    except SkipUrl as exc:  # SSRF guard: a scheme or address that is not allowed
        raise ApiError(400, f"cannot fetch {url}: {exc.detail or exc.reason}") from None
    except FetchError as exc:
        if exc.kind == "too_large":
            raise ApiError(413, f"the media at {url} is larger than {cap} bytes") from None
        raise ApiError(502, f"cannot fetch {url}: {exc.kind}"
                            + (f" ({exc.detail})" if exc.detail else "")) from None
    except ValueError as exc:  # yarl: not a URL
        raise ApiError(400, f"not a URL: {url!r} ({exc})") from None
    if response.status >= 300:
        raise ApiError(502, f"cannot fetch {url}: it answered HTTP {response.status}")
    if not response.body:
        raise ApiError(400, f"the media at {url} is empty")
    return response.body


async def scan(svc: Services, data: bytes) -> tuple[ImageHashes, list[Match]]:
    """Hash `data` in memory and match it against every loaded list (the bytes are not
    kept). Raises `UnhashableImage` (answered 422) for bytes that are not an image."""
    matcher = await svc.matcher()
    hashes, matches = await asyncio.to_thread(hash_and_match, data, matcher, svc.hash_options)
    svc.api_images_hashed.inc()
    return hashes, matches


def actionable(matches: list[Match]) -> list[Match]:
    """The matches a protocol client may act on without review: block lists, decision
    `auto`. Review-grade matches are left out (an innocent image must not be blocked on a
    borderline distance); /api/v1/match shows them."""
    return [m for m in matches if m.list_kind == "block" and m.decision == "auto"]
