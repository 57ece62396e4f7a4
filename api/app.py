"""The aiohttp application. For now: the owner pages reached through signed notice links.

GET  /owner/{token}  the notice, its images and a form (CSRF token bound to the link)
POST /owner/{token}  acknowledge, report removal, or dispute with a comment
Tampered links get 403, expired ones 410, each with a readable page.
"""

from __future__ import annotations

from aiohttp import web

from notices.clock import Clock, SystemClock
from notices.errors import CsrfError, LinkExpired, LinkTampered, NoticeNotFound
from notices.links import OwnerLinks
from notices.owner import InvalidResponse, check_link, respond
from notices.queries import notice_view
from notices.render import Renderer
from records.db import Database

DB_KEY = web.AppKey("db", Database)
LINKS_KEY = web.AppKey("links", OwnerLinks)
RENDERER_KEY = web.AppKey("renderer", Renderer)
CLOCK_KEY = web.AppKey("clock", object)


def create_app(context, *, clock: Clock | None = None, db: Database | None = None
               ) -> web.Application:
    """`context` is the composition root (`spinneret.context.AppContext`): its settings."""
    settings = context.settings
    clock = clock or SystemClock()
    app = web.Application(client_max_size=64 * 1024)
    app[DB_KEY] = db or context.db
    app[LINKS_KEY] = OwnerLinks.from_settings(settings, clock=clock)
    app[RENDERER_KEY] = Renderer.from_settings(settings)
    app[CLOCK_KEY] = clock
    app.router.add_get("/owner/{token}", owner_get)
    app.router.add_post("/owner/{token}", owner_post)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _page(request: web.Request, name: str, status: int, **context) -> web.Response:
    html = request.app[RENDERER_KEY].render(name, context)
    return web.Response(text=html, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "no-referrer"})


def _error(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return _page(request, "owner_error.html.j2", status, title=title, message=message)


def _refused(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, LinkExpired):
        return _error(request, 410, "Link expired",
                      "This link has expired. Please use the link in the latest message.")
    return _error(request, 403, "Invalid link",
                  "This link is not valid. It may have been changed or copied incompletely.")


async def owner_get(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    links = request.app[LINKS_KEY]
    try:
        link = links.verify(token)
        with request.app[DB_KEY].session() as session:
            check_link(session, link)
            view = notice_view(session, link.notice_id)
    except (LinkTampered, LinkExpired, NoticeNotFound) as exc:
        return _refused(request, exc)
    return _page(request, "owner_page.html.j2", 200, notice=view, csrf=links.csrf_token(token),
                 message="")


async def owner_post(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    links = request.app[LINKS_KEY]
    form = await request.post()
    try:
        link = links.verify(token)
        links.check_csrf(token, str(form.get("csrf", "")))
    except CsrfError:
        return _error(request, 403, "Form expired", "Please open the link again and resubmit.")
    except (LinkTampered, LinkExpired) as exc:
        return _refused(request, exc)
    try:
        with request.app[DB_KEY].session() as session:
            notice = check_link(session, link)
            message = respond(session, notice, str(form.get("action", "")),
                              str(form.get("comment", "")), ip=request.remote,
                              clock=request.app[CLOCK_KEY])
        with request.app[DB_KEY].session() as session:
            view = notice_view(session, link.notice_id)
    except (LinkTampered, NoticeNotFound) as exc:
        return _refused(request, exc)
    except InvalidResponse as exc:
        return _error(request, 400, "Not accepted", str(exc))
    return _page(request, "owner_page.html.j2", 200, notice=view, csrf=links.csrf_token(token),
                 message=message)
