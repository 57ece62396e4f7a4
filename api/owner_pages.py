"""The owner pages reached through signed notice links (no account, no token).

GET  /owner/{token}  the notice, its images and a form (CSRF token bound to the link)
POST /owner/{token}  acknowledge, report removal, or dispute with a comment
Tampered links get 403, expired ones 410, each with a readable page.
"""

from __future__ import annotations

from aiohttp import web

from spinneret.api.endpoints import Endpoint, path_param
from spinneret.api.http import form_body, services
from spinneret.notices.errors import CsrfError, LinkExpired, LinkTampered, NoticeNotFound
from spinneret.notices.owner import InvalidResponse, check_link, respond
from spinneret.notices.queries import notice_view


def _page(request: web.Request, name: str, status: int, **context) -> web.Response:
    from spinneret.api.ui import page  # the UI's renderer and security headers

    return page(request, name, status, **context)


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
    svc = services(request)
    try:
        link = svc.links.verify(token)
        with svc.db.session() as session:
            check_link(session, link)
            view = notice_view(session, link.notice_id)
    except (LinkTampered, LinkExpired, NoticeNotFound) as exc:
        return _refused(request, exc)
    return _page(request, "owner_page.html.j2", 200, notice=view,
                 owner_csrf=svc.links.csrf_token(token), message="")


async def owner_post(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    svc = services(request)
    form = await form_body(request)
    try:
        link = svc.links.verify(token)
        svc.links.check_csrf(token, str(form.get("csrf", "")))
    except CsrfError:
        return _error(request, 403, "Form expired", "Please open the link again and resubmit.")
    except (LinkTampered, LinkExpired) as exc:
        return _refused(request, exc)
    try:
        with svc.db.session() as session:
            notice = check_link(session, link)
            message = respond(session, notice, str(form.get("action", "")),
                              str(form.get("comment", "")), ip=request.remote,
                              clock=svc.clock)
        with svc.db.session() as session:
            view = notice_view(session, link.notice_id)
    except (LinkTampered, NoticeNotFound) as exc:
        return _refused(request, exc)
    except InvalidResponse as exc:
        return _error(request, 400, "Not accepted", str(exc))
    return _page(request, "owner_page.html.j2", 200, notice=view,
                 owner_csrf=svc.links.csrf_token(token), message=message)


_TOKEN = path_param("token")
ENDPOINTS = [
    Endpoint("GET", "/owner/{token}", owner_get, None, "A notice, for its site owner",
             kind="public", produces="text/html", params=(_TOKEN,),
             responses={403: "Invalid link", 410: "Expired link"}),
    Endpoint("POST", "/owner/{token}", owner_post, None,
             "Acknowledge, report removal or dispute", kind="public", produces="text/html",
             params=(_TOKEN,), body={"application/x-www-form-urlencoded": {
                 "type": "object", "required": ["action", "csrf"], "properties": {
                     "action": {"type": "string",
                                "enum": ["acknowledge", "removed", "dispute"]},
                     "comment": {"type": "string"}, "csrf": {"type": "string"}}}},
             responses={403: "Invalid link or form", 410: "Expired link"}),
]
