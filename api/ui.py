"""The web UI: server-rendered pages, forms that work without JavaScript.

Every form carries a CSRF token tied to the session (checked by the route guard in
api/app.py). After a successful form the browser is redirected (POST/redirect/GET) with a
signed one-line message.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
from aiohttp import web
from itsdangerous import BadSignature, URLSafeSerializer

from spinneret.api.auth import LOGIN_COOKIE, SESSION_COOKIE, set_cookie
from spinneret.api.dashboard import figures
from spinneret.api.endpoints import Endpoint, Param, id_param, path_param
from spinneret.api.errors import ApiError
from spinneret.api.http import PRINCIPAL, form_body, ok, path_int, query_int, services, set_audit
from spinneret.api.timeline import notice_timeline
from spinneret.api.v1_lists import export_list_, import_upload, retro_match_json
from spinneret.api.v1_records import FILTER_FIELDS, crawl_json, image_filter
from spinneret.config.netpolicy import NetworkPolicy
from spinneret.matcher.errors import EntryNotFound
from spinneret.matcher.store import ListChange, ListInfo
from spinneret.notices.clock import seconds_between
from spinneret.notices.review import CONFIRM_OUTCOMES, PENDING, REJECT_OUTCOMES, consensus_of
from spinneret.records.audit import AuditLog
from spinneret.records.crawls import CrawlRepository
from spinneret.records.matched_images import ImageFilter, MatchedImageRepository
from spinneret.records.models import TOKEN_ROLES
from spinneret.records.sites import SiteRepository, add_site, parse_site_fields, remove_site
from spinneret.records.types import AuditRecord, MatchedImage, NewSite

STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "script-src 'self'; connect-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def _flashes(request: web.Request) -> URLSafeSerializer:
    return URLSafeSerializer(services(request).secret_key, salt="spinneret.flash")


def redirect(request: web.Request, location: str, message: str = "",
             error: bool = False) -> web.Response:
    if message:
        signed = _flashes(request).dumps({"m": message, "e": error})
        location += ("&" if "?" in location else "?") + urlencode({"flash": signed})
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def page(request: web.Request, template: str, status: int = 200, **context: Any
         ) -> web.Response:
    flash = None
    raw = request.query.get("flash")
    if raw:
        try:
            flash = _flashes(request).loads(raw)
        except BadSignature:
            flash = None
    p = request.get(PRINCIPAL)
    context.update(
        me=p, flash=flash, request_path=request.path,
        csrf=services(request).auth.csrf_token(p.session_nonce) if p else "",
        may=(lambda role: p is not None and p.may(role)),
    )
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: web.Request, status: int, message: str,
               template: str = "error.html.j2") -> web.Response:
    titles = {400: "Not accepted", 401: "Please log in", 403: "Not allowed",
              404: "Not found", 405: "Not allowed", 409: "Conflict", 413: "Too large"}
    return page(request, template, status, title=titles.get(status, "Error"),
                message=message)


# --- login -------------------------------------------------------------------------------

def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_form(request: web.Request, *, status: int = 200, message: str = ""
                     ) -> web.Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(18)
    response = page(request, "login.html.j2", status, message=message,
                    login_csrf=services(request).auth.csrf_token(nonce, "login"),
                    next=_safe_next(request.query.get("next")))
    set_cookie(response, LOGIN_COOKIE, nonce, secure=request.secure, max_age=3600)
    return response


async def login(request: web.Request) -> web.Response:
    svc = services(request)
    form = await form_body(request)
    if not svc.auth.csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"), "login"):
        return await login_form(request, status=403,
                                message="The form expired (or cookies are off). Try again.")
    found = svc.auth.login(str(form.get("token", "")))
    if found is None:
        return await login_form(request, status=401, message="Unknown or revoked token.")
    who, cookie = found
    AuditLog(svc.db).write(who.actor, "ui.login", f"token:{who.token_id}", {"role": who.role})
    response = redirect(request, _safe_next(str(form.get("next", ""))),
                        f"Logged in as {who.name} ({who.role}).")
    set_cookie(response, SESSION_COOKIE, cookie, secure=request.secure)
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    set_audit(request, f"token:{request[PRINCIPAL].token_id}", op="logout")
    response = redirect(request, "/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def static_css(_request: web.Request) -> web.Response:
    return web.Response(body=(STATIC_DIR / "app.css").read_bytes(), content_type="text/css",
                        headers={"Cache-Control": "max-age=3600",
                                 "X-Content-Type-Options": "nosniff"})


async def static_crawls_js(_request: web.Request) -> web.Response:
    return web.Response(body=(STATIC_DIR / "crawls.js").read_bytes(),
                        content_type="text/javascript",
                        headers={"Cache-Control": "max-age=3600",
                                 "X-Content-Type-Options": "nosniff"})


# --- pages -------------------------------------------------------------------------------

async def dashboard(request: web.Request) -> web.Response:
    svc = services(request)
    lists = await asyncio.to_thread(svc.store.lists)
    running = CrawlRepository(svc.db).list(status="running", limit=20)
    live = {c.crawl_id: c for c in svc.crawls.live()}
    return page(request, "dashboard.html.j2", lists=lists, running=running, live=live,
                figures=figures(svc.db))


async def lists_page(request: web.Request) -> web.Response:
    lists = await asyncio.to_thread(services(request).store.lists)
    return page(request, "lists.html.j2", lists=lists)


async def lists_import(request: web.Request) -> web.Response:
    # The list name and options are fields of the multipart form, next to the file.
    summary, info = await import_upload(request, None, {})
    return redirect(request, f"/lists/{quote(info.name, safe='')}",
                    f"Imported list {info.name} version {summary['version']}: added "
                    f"{summary['added']}, removed {summary['removed']}, unchanged "
                    f"{summary['unchanged']}. {summary['retro_match']['summary']}.")


async def list_page(request: web.Request) -> web.Response:
    svc = services(request)
    name = request.match_info["name"]
    info = await asyncio.to_thread(svc.store.get_list, name)
    changes = await asyncio.to_thread(svc.store.history, name)
    history = AuditLog(svc.db).list(target=f"list:{name}", limit=50)
    return page(request, "list.html.j2", info=info, history=history,
                versions=_versions(info, changes, history),
                retro=await retro_match_json(request, info))


def _versions(info: ListInfo, changes: list[ListChange], history: list[AuditRecord]
              ) -> list[dict[str, Any]]:
    """The list's versions from the store's own changelog (so imports from the CLI appear
    too), with who and when from the list (newest version) or the audit log (API and UI
    imports), where known."""
    imports = {e.details["version"]: e for e in history
               if e.details.get("op") == "import" and e.details.get("version")
               and e.details.get("status", 200) < 400}
    rows = []
    for change in changes:
        row: dict[str, Any] = {"version": change.version, "when": None, "who": "",
                               "what": "import" if change.op == "replace" else change.op,
                               "details": ""}
        event = imports.get(change.version) if change.op == "replace" else None
        if event is not None:
            row.update(when=event.at, who=event.actor, details=(
                f"+{event.details['added']} −{event.details['removed']} "
                f"={event.details['unchanged']}"))
        elif change.version == info.version:
            row.update(when=datetime.fromtimestamp(info.updated_at, UTC), who=info.updated_by)
        if change.op == "retract":
            row["details"] = f"{change.hash} ({', '.join(change.algorithms)})"
        rows.append(row)
    return rows


async def list_retract(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = await form_body(request)
    value = str(form.get("hash", "")).strip()
    algorithm = str(form.get("algorithm", "")).strip() or None
    set_audit(request, f"list:{name}", op="retract", hash=value, algorithm=algorithm)
    if not value:
        raise ApiError(400, "give the hash to retract")
    removed = await asyncio.to_thread(services(request).store.retract, name, value, algorithm,
                                      by=request[PRINCIPAL].actor)
    if not removed:
        raise EntryNotFound(f"hash {value.lower()} is not in list {name!r}")
    return redirect(request, f"/lists/{quote(name, safe='')}",
                    f"Retracted {removed} entr{'y' if removed == 1 else 'ies'}.")


async def list_delete(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    set_audit(request, f"list:{name}", op="delete")
    # delete_list raises ListNotFound (404) itself.
    await asyncio.to_thread(services(request).store.delete_list, name)
    return redirect(request, "/lists", f"Deleted list {name}.")


async def sites_page(request: web.Request) -> web.Response:
    sites = SiteRepository(services(request).db).list()
    return page(request, "sites.html.j2", sites=sites)


async def sites_add(request: web.Request) -> web.Response:
    fields = parse_site_fields(await form_body(request), form=True)
    # and an owner e-mail or a webhook (records validates)
    for required, label in (("base_url", "url"), ("name", "name")):
        if required not in fields:
            raise ApiError(400, f"{label} is required")
    set_audit(request, f"site:{fields['name']}", op="add")
    svc = services(request)
    site = add_site(svc.db, NewSite(**fields), actor=request[PRINCIPAL].actor,
                    network_policy=NetworkPolicy.from_settings(svc.settings))
    return redirect(request, "/sites", f"Added site {site.name}.")


async def site_delete(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    set_audit(request, f"site:{name}", op="remove")
    remove_site(services(request).db, name, actor=request[PRINCIPAL].actor)
    return redirect(request, "/sites", f"Removed site {name}.")


async def site_crawl(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    set_audit(request, f"site:{name}", op="crawl")
    crawl = services(request).crawls.start(name)
    set_audit(request, f"crawl:{crawl.id}", op="start", site=name)
    return redirect(request, "/crawls", f"Crawl {crawl.id} of {name} started.")


async def crawls_page(request: web.Request) -> web.Response:
    svc = services(request)
    crawls = CrawlRepository(svc.db).list(limit=100)
    live = {c.crawl_id: c for c in svc.crawls.live()}
    return page(request, "crawls.html.j2", crawls=crawls, live=live)


async def crawls_progress(request: web.Request) -> web.Response:
    """The crawls page's live figures (polled by static/crawls.js), as /api/v1/crawls."""
    crawls = CrawlRepository(services(request).db).list(limit=100)
    response = ok([crawl_json(request, c) for c in crawls])
    response.headers.update(SECURITY_HEADERS)  # a UI route: the UI's headers, nosniff among them
    return response


async def crawl_page(request: web.Request) -> web.Response:
    svc = services(request)
    crawl = CrawlRepository(svc.db).get(path_int(request))
    images = MatchedImageRepository(svc.db).list(ImageFilter(crawl_id=crawl.id), limit=20)
    return page(request, "crawl.html.j2", crawl=crawl, c=crawl_json(request, crawl),
                live=svc.crawls.get(crawl.id), images=images)


async def crawl_stop(request: web.Request) -> web.Response:
    crawl_id = path_int(request)
    set_audit(request, f"crawl:{crawl_id}", op="stop")
    if not await services(request).crawls.stop(crawl_id):
        raise ApiError(409, f"crawl {crawl_id} is not running in this server")
    return redirect(request, "/crawls", f"Crawl {crawl_id} stopped; start it again to resume.")


MATCHES_PER_PAGE = 50


async def matches_page(request: web.Request) -> web.Response:
    svc = services(request)
    filters = image_filter(request)
    number = query_int(request, "page", 1, minimum=1, maximum=10**6)
    repo = MatchedImageRepository(svc.db)
    found = repo.list(filters, limit=MATCHES_PER_PAGE, offset=(number - 1) * MATCHES_PER_PAGE)
    chosen = {k: v for k in FILTER_FIELDS if (v := request.query.get(k, "").strip())}
    last = _page_count(found.total, MATCHES_PER_PAGE)
    return page(request, "matches.html.j2", found=found, number=number, last=last,
                chosen=chosen, sites=SiteRepository(svc.db).list(), lists=repo.list_names(),
                page_link=lambda n: "/matches?" + urlencode({**chosen, "page": n}))


async def match_image_page(request: web.Request) -> web.Response:
    image = MatchedImageRepository(services(request).db).get(path_int(request))
    return page(request, "match.html.j2", image=image, pending=awaits_decision(image))


def awaits_decision(image: MatchedImage) -> bool:
    return any(e.decision == "review" and e.status == "new" for e in image.evidence)


REVIEW_PER_PAGE = 20


async def review_page(request: web.Request) -> web.Response:
    number = query_int(request, "page", 1, minimum=1, maximum=10**6)
    notices = services(request).notices
    queue = notices.review_queue()
    start = (number - 1) * REVIEW_PER_PAGE
    needed = notices.review_consensus
    return page(request, "review.html.j2", items=queue[start:start + REVIEW_PER_PAGE],
                consensus=lambda item: consensus_of(item.reviews, needed),
                total=len(queue), number=number, last=_page_count(len(queue), REVIEW_PER_PAGE),
                page_link=lambda n: f"/review?page={n}")


def _page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


async def review_decide(request: web.Request) -> web.Response:
    image_id = path_int(request)
    form = await form_body(request)
    action = str(form.get("action", ""))
    note = str(form.get("note", "")).strip()
    back = _safe_next(str(form.get("next", "") or "/review"))
    set_audit(request, f"image:{image_id}", op=f"review.{action}", note=note)
    if action not in ("confirm", "reject"):
        raise ApiError(400, "choose confirm or reject")
    # The note rule (required to reject) is notices.review's, as for the CLI and the API.
    outcome = getattr(services(request).notices, action)(image_id, by=request[PRINCIPAL].actor,
                                                           note=note)
    if action == "reject":
        if outcome == PENDING:
            return redirect(request, back, f"Image {image_id}: your rejection is recorded; "
                                           f"{REJECT_OUTCOMES[outcome]}.")
        return redirect(request, back, f"Image {image_id} rejected; its URL + hashes are "
                                       "suppressed.")
    return redirect(request, back,
                    f"Image {image_id} confirmed: {CONFIRM_OUTCOMES[outcome]}.")


async def notices_page(request: web.Request) -> web.Response:
    return page(request, "notices.html.j2", notices=services(request).notices.list())


async def notice_page(request: web.Request) -> web.Response:
    svc = services(request)
    view = svc.notices.show(path_int(request))
    # Its window has ended but no outbox pass has sent it yet (is beat running?).
    overdue = view.sends_at is not None and seconds_between(svc.clock.now(), view.sends_at) <= 0
    return page(request, "notice.html.j2", notice=view, overdue=overdue,
                timeline=notice_timeline(svc.db, view))


async def notice_send_now(request: web.Request) -> web.Response:
    notice_id = path_int(request)
    set_audit(request, f"notice:{notice_id}", op="send_now")
    result = await services(request).notices.send_once(
        now=True, notice_ids=[notice_id], actor=request[PRINCIPAL].actor)
    if result.refused and result.held:  # sealed and queued: it goes out once configured
        return redirect(request, f"/notices/{notice_id}", f"Notice queued but not sent: "
                        f"{result.refused}.", error=True)
    return redirect(request, f"/notices/{notice_id}", f"Notice sent now: {len(result.sent)} "
                    f"delivered, {len(result.retrying)} to retry, {len(result.failed)} failed.")


async def notice_resend(request: web.Request) -> web.Response:
    notice_id = path_int(request)
    set_audit(request, f"notice:{notice_id}", op="resend")
    queued = services(request).notices.resend(notice_id, actor=request[PRINCIPAL].actor)
    return redirect(request, f"/notices/{notice_id}",
                    f"Notice queued again: {queued} deliveries (sent by the next outbox pass).")


async def notice_recheck(request: web.Request) -> web.Response:
    notice_id = path_int(request)
    set_audit(request, f"notice:{notice_id}", op="recheck")
    checked = await services(request).notices.recheck_notice(notice_id,
                                                             actor=request[PRINCIPAL].actor)
    return redirect(request, f"/notices/{notice_id}",
                    f"Rechecked {checked.checked} image(s): {len(checked.removed)} removed, "
                    f"{len(checked.present)} still up, {len(checked.unknown)} could not tell.")


async def audit_page(request: web.Request) -> web.Response:
    events = AuditLog(services(request).db).list(limit=300)
    return page(request, "audit.html.j2", events=events)


_HTML = "text/html"
_FORM = {"application/x-www-form-urlencoded": {"type": "object"}}
_NAME = path_param("name")


_CSRF = Param("csrf", description="The form's CSRF token, in the action URL (multipart "
                                   "forms) or as the form field `csrf`")


def _ui(method: str, path: str, handler, role: str | None, summary: str, **kw) -> Endpoint:
    if method == "POST" and "body" not in kw:
        kw["body"] = _FORM
    if method == "POST" and role is not None:
        kw["params"] = (*kw.get("params", ()), _CSRF)
    return Endpoint(method, path, handler, role, summary, kind="ui", produces=_HTML, **kw)


ENDPOINTS = [
    _ui("GET", "/login", login_form, None, "Log in with an API token"),
    _ui("POST", "/login", login, None, "Log in: sets the session cookie",
        body={"application/x-www-form-urlencoded": {"type": "object", "properties": {
            "token": {"type": "string"}, "csrf": {"type": "string"},
            "next": {"type": "string"}}}}),
    _ui("POST", "/logout", logout, "viewer", "Log out"),
    Endpoint("GET", "/static/app.css", static_css, None, "The stylesheet", kind="public",
             produces="text/css"),
    Endpoint("GET", "/static/crawls.js", static_crawls_js, None,
             "The crawls pages' live progress script", kind="public",
             produces="text/javascript"),
    _ui("GET", "/", dashboard, "viewer", "Dashboard"),
    _ui("GET", "/lists", lists_page, "viewer", "Hash lists and the import form"),
    _ui("POST", "/lists/import", lists_import, "analyst", "Import a list from a file",
        body={"multipart/form-data": {"type": "object"}}),
    _ui("GET", "/lists/{name}", list_page, "viewer", "One list: versions, retract",
        params=(_NAME,)),
    Endpoint("GET", "/lists/{name}/export", export_list_, "viewer", "Download a list",
             kind="ui", produces="text/csv", params=(_NAME,)),
    _ui("POST", "/lists/{name}/retract", list_retract, "analyst", "Retract a hash",
        params=(_NAME,)),
    _ui("POST", "/lists/{name}/delete", list_delete, "analyst", "Delete a list",
        params=(_NAME,)),
    _ui("GET", "/sites", sites_page, "viewer", "Sites"),
    _ui("POST", "/sites", sites_add, "admin", "Register a site"),
    _ui("POST", "/sites/{name}/delete", site_delete, "admin", "Remove a site", params=(_NAME,)),
    _ui("POST", "/sites/{name}/crawl", site_crawl, "analyst", "Start a crawl",
        params=(_NAME,)),
    _ui("GET", "/crawls", crawls_page, "viewer", "Crawls with live progress"),
    # Before /crawls/{id}: aiohttp tries routes in the order they were added.
    Endpoint("GET", "/crawls/progress", crawls_progress, "viewer",
             "The crawls' live figures as JSON (polled by the crawls pages)", kind="ui"),
    _ui("GET", "/crawls/{id}", crawl_page, "viewer",
        "One crawl: why it failed, counters, live progress, its matched images",
        params=(id_param(),)),
    _ui("POST", "/crawls/{id}/stop", crawl_stop, "analyst", "Stop a crawl",
        params=(id_param(),)),
    _ui("GET", "/matches", matches_page, "viewer",
        "Matched images, filtered (site, list, decision, dates) and paginated",
        params=tuple(Param(name) for name in (*FILTER_FIELDS, "page"))),
    _ui("GET", "/matches/{id}", match_image_page, "viewer",
        "One matched image: every list entry, listed vs image hash, notices",
        params=(id_param(),)),
    _ui("GET", "/review", review_page, "viewer", "Review queue: one item per image",
        params=(Param("page"),)),
    _ui("POST", "/review/{id}", review_decide, "analyst",
        "Confirm or reject an image (a rejection needs a note)", params=(id_param(),)),
    _ui("GET", "/notices", notices_page, "viewer", "Notices"),
    _ui("GET", "/notices/{id}", notice_page, "viewer", "A notice with its timeline",
        params=(id_param(),)),
    _ui("POST", "/notices/{id}/send-now", notice_send_now, "analyst",
        "Send an open notice now", params=(id_param(),)),
    _ui("POST", "/notices/{id}/resend", notice_resend, "analyst",
        "Queue a notice again to the site's current contacts", params=(id_param(),)),
    _ui("POST", "/notices/{id}/recheck", notice_recheck, "analyst",
        "Recheck a notice's images now", params=(id_param(),)),
    _ui("GET", "/audit", audit_page, "viewer", "Audit log"),
]

__all__ = ["ENDPOINTS", "TOKEN_ROLES", "error_page", "page", "redirect"]
