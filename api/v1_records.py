"""/api/v1/sites, /crawls, /matches: registered sites, crawl runs, recorded matches."""

from __future__ import annotations

from aiohttp import web

from spinneret.api.endpoints import API_PREFIX, Endpoint, Param, id_param, path_param
from spinneret.api.errors import ApiError
from spinneret.api.http import (
    MAX_SQL_ID,
    PRINCIPAL,
    field,
    json_body,
    ok,
    path_int,
    query_int,
    services,
    set_audit,
)
from spinneret.config.netpolicy import NetworkPolicy
from spinneret.records.crawls import CrawlRepository
from spinneret.records.matched_images import (
    ImageFilter,
    MatchedImageRepository,
    image_json,
    parse_day,
)
from spinneret.records.matches import MatchRepository
from spinneret.records.models import CRAWL_STATUSES, MATCH_DECISIONS, MATCH_STATUSES
from spinneret.records.sites import (
    UPDATABLE,
    SiteRepository,
    add_site,
    parse_site_fields,
    remove_site,
)
from spinneret.records.types import CrawlRecord, NewSite, SiteRecord


def site_json(site: SiteRecord, *, secret: bool = False) -> dict:
    out = {
        "id": site.id, "name": site.name, "url": site.base_url, "hosts": list(site.hosts),
        "include": list(site.include_patterns), "exclude": list(site.exclude_patterns),
        "owner_email": site.owner_email, "abuse_email": site.abuse_email,
        "webhook_url": site.webhook_url, "max_pages": site.max_pages,
        "max_depth": site.max_depth, "rate_per_s": site.rate_per_s,
        "ignore_robots": site.ignore_robots, "created_at": site.created_at,
        "updated_at": site.updated_at,
    }
    if secret:
        out["webhook_secret"] = site.webhook_secret
    return out


async def list_sites(request: web.Request) -> web.Response:
    return ok([site_json(s) for s in SiteRepository(services(request).db).list()])


async def create_site(request: web.Request) -> web.Response:
    data = await json_body(request)
    for required in ("url", "name"):  # and an owner e-mail or a webhook (records validates)
        field(data, required, str, required=True)
    set_audit(request, f"site:{data['name']}", op="add")
    svc = services(request)
    site = add_site(svc.db, NewSite(**parse_site_fields(data)), actor=request[PRINCIPAL].actor,
                    network_policy=NetworkPolicy.from_settings(svc.settings))
    return ok(site_json(site, secret=True), 201)


async def get_site(request: web.Request) -> web.Response:
    site = SiteRepository(services(request).db).get(request.match_info["name"])
    return ok(site_json(site, secret=request[PRINCIPAL].may("admin")))


async def update_site(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    changes = parse_site_fields(await json_body(request))
    if "name" in changes:
        raise ApiError(400, "a site cannot be renamed")
    set_audit(request, f"site:{name}", op="update", fields=sorted(changes))
    changes = {k: v for k, v in changes.items() if k in UPDATABLE}
    svc = services(request)
    site = SiteRepository(svc.db, network_policy=NetworkPolicy.from_settings(svc.settings)
                          ).update(name, **changes)
    return ok(site_json(site, secret=True))


async def delete_site(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    set_audit(request, f"site:{name}", op="remove")
    remove_site(services(request).db, name, actor=request[PRINCIPAL].actor)
    return ok({"deleted": name})


def crawl_json(request: web.Request, crawl: CrawlRecord) -> dict:
    live = services(request).crawls.get(crawl.id)
    out = {
        "id": crawl.id, "site": crawl.site_name, "site_id": crawl.site_id,
        "status": crawl.status, "created_at": crawl.created_at,
        "started_at": crawl.started_at, "finished_at": crawl.finished_at,
        "pages_fetched": crawl.pages_fetched, "images_found": crawl.images_found,
        "images_hashed": crawl.images_hashed, "images_skipped": crawl.images_skipped,
        "skipped_reasons": crawl.skipped_reasons, "errors": crawl.errors,
        "duration_s": crawl.duration_s, "urls_skipped": crawl.urls_skipped,
        "failure_reason": crawl.failure_reason,
        "running_here": live is not None,
        "progress": live.to_json() if live else None,
    }
    if crawl.status == "running" and live is None:
        out["note"] = "interrupted: start the site's crawl again to resume it"
    return out


async def list_crawls(request: web.Request) -> web.Response:
    db = services(request).db
    site = request.query.get("site")
    site_id = SiteRepository(db).get(site).id if site else None
    status = request.query.get("status") or None
    limit = query_int(request, "limit", 50, minimum=1, maximum=1000)
    crawls = CrawlRepository(db).list(site_id=site_id, status=status, limit=limit)
    return ok([crawl_json(request, c) for c in crawls])


async def start_crawl(request: web.Request) -> web.Response:
    data = await json_body(request)
    site = field(data, "site", str)
    if bool(site) == field(data, "all", bool, default=False):
        raise ApiError(400, 'give one site ("site": "name") or every site ("all": true)')
    svc = services(request)
    if site:
        set_audit(request, f"site:{site}", op="crawl")
        crawl = svc.crawls.start(site)
        set_audit(request, f"crawl:{crawl.id}", op="start", site=site)
        return ok(crawl_json(request, crawl), 202)
    # Like `spinneret crawl --all`: every registered site, except those crawling here now.
    running = {live.site_name for live in svc.crawls.live()}
    names = [s.name for s in SiteRepository(svc.db).list(origin="registered")]
    started = [svc.crawls.start(name) for name in names if name not in running]
    skipped = [name for name in names if name in running]
    set_audit(request, "crawls:all", op="start", crawls=[c.id for c in started],
              already_running=skipped)
    return ok({"crawls": [crawl_json(request, c) for c in started],
               "already_running": skipped}, 202)


async def get_crawl(request: web.Request) -> web.Response:
    crawl = CrawlRepository(services(request).db).get(path_int(request))
    return ok(crawl_json(request, crawl))


async def stop_crawl(request: web.Request) -> web.Response:
    crawl_id = path_int(request)
    set_audit(request, f"crawl:{crawl_id}", op="stop")
    repo = CrawlRepository(services(request).db)
    repo.get(crawl_id)
    if not await services(request).crawls.stop(crawl_id):
        raise ApiError(409, f"crawl {crawl_id} is not running in this server")
    return ok(crawl_json(request, repo.get(crawl_id)))


async def list_matches(request: web.Request) -> web.Response:
    db = services(request).db
    site = request.query.get("site")
    matches = MatchRepository(db).list(
        site_id=SiteRepository(db).get(site).id if site else None,
        crawl_id=query_int(request, "crawl_id", None, maximum=MAX_SQL_ID),
        decision=request.query.get("decision") or None,
        status=request.query.get("status") or None,
        limit=query_int(request, "limit", 100, minimum=1, maximum=1000),
        offset=query_int(request, "offset", 0, maximum=10**9),
    )
    return ok(matches)


async def get_match(request: web.Request) -> web.Response:
    return ok(MatchRepository(services(request).db).get(path_int(request)))


FILTER_FIELDS = ("site", "list", "decision", "since", "until", "crawl_id")


def image_filter(request: web.Request) -> ImageFilter:
    """The matched-images filters of a query string (API and UI: the same names)."""
    site = request.query.get("site") or None
    return ImageFilter(
        site_id=SiteRepository(services(request).db).get(site).id if site else None,
        crawl_id=query_int(request, "crawl_id", None, minimum=1, maximum=MAX_SQL_ID),
        list_name=request.query.get("list") or None,
        decision=request.query.get("decision") or None,
        since=parse_day("since", request.query.get("since")),
        until=parse_day("until", request.query.get("until")))


async def list_images(request: web.Request) -> web.Response:
    page = MatchedImageRepository(services(request).db).list(
        image_filter(request), limit=query_int(request, "limit", 50, minimum=1, maximum=1000),
        offset=query_int(request, "offset", 0, maximum=10**9))
    return ok({"total": page.total, "limit": page.limit, "offset": page.offset,
               "images": [image_json(i) for i in page.images]})


async def get_image(request: web.Request) -> web.Response:
    return ok(image_json(MatchedImageRepository(services(request).db).get(path_int(request))))


_SITE_PROPS = {
    "url": {"type": "string"}, "name": {"type": "string"},
    "owner_email": {"type": "string"}, "abuse_email": {"type": "string"},
    "webhook_url": {"type": "string"}, "max_pages": {"type": "integer", "minimum": 1},
    "max_depth": {"type": "integer", "minimum": 0}, "rate_per_s": {"type": "number"},
    "ignore_robots": {"type": "boolean"},
    "include": {"type": "array", "items": {"type": "string"}},
    "exclude": {"type": "array", "items": {"type": "string"}},
    "hosts": {"type": "array", "items": {"type": "string"}},
}
_NAME = path_param("name")
_DAY = {"type": "string", "format": "date"}
IMAGE_FILTER_PARAMS = (
    Param("site"), Param("crawl_id", schema={"type": "integer", "minimum": 1}),
    Param("list", description="Only images that matched this hash list"),
    Param("decision", schema={"type": "string", "enum": list(MATCH_DECISIONS)},
          description="auto: an entry decided auto; review: every entry needs review"),
    Param("since", schema=_DAY, description="Found on or after this day (UTC)"),
    Param("until", schema=_DAY, description="Found on or before this day (UTC)"),
    Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
    Param("offset", schema={"type": "integer", "minimum": 0}),
)
P = API_PREFIX
ENDPOINTS = [
    Endpoint("GET", f"{P}/sites", list_sites, "viewer", "Registered sites"),
    Endpoint("POST", f"{P}/sites", create_site, "admin", "Register a site",
             body={"application/json": {"type": "object", "properties": _SITE_PROPS,
                                         "required": ["url", "name"]}},
             responses={201: "Created (with its webhook secret)", 409: "Name taken"}),
    Endpoint("GET", f"{P}/sites/{{name}}", get_site, "viewer",
             "One site (the webhook secret only for admins)", params=(_NAME,)),
    Endpoint("PATCH", f"{P}/sites/{{name}}", update_site, "admin", "Change a site's fields",
             params=(_NAME,),
             body={"application/json": {"type": "object", "properties": _SITE_PROPS}}),
    Endpoint("DELETE", f"{P}/sites/{{name}}", delete_site, "admin",
             "Remove a site with its crawls, matches and notices", params=(_NAME,)),
    Endpoint("GET", f"{P}/crawls", list_crawls, "viewer", "Crawls, newest first",
             params=(Param("site"), Param("status", schema={"type": "string",
                                                            "enum": list(CRAWL_STATUSES)}),
                     Param("limit", schema={"type": "integer", "minimum": 1,
                                            "maximum": 1000}))),
    Endpoint("POST", f"{P}/crawls", start_crawl, "analyst",
             "Start (or resume) a crawl of a site, or of every site (all: true), in the "
             "server process",
             body={"application/json": {"type": "object", "properties": {
                 "site": {"type": "string"}, "all": {"type": "boolean"}}}},
             responses={202: "Started", 409: "Already running"}),
    Endpoint("GET", f"{P}/crawls/{{id}}", get_crawl, "viewer",
             "One crawl with its live progress", params=(id_param(),)),
    Endpoint("POST", f"{P}/crawls/{{id}}/stop", stop_crawl, "analyst",
             "Stop a running crawl (it stays resumable)", params=(id_param(),),
             responses={409: "Not running here"}),
    Endpoint("GET", f"{P}/matches", list_matches, "viewer", "Recorded matches, oldest first",
             params=(Param("site"), Param("crawl_id", schema={"type": "integer", "minimum": 1}),
                     Param("decision", schema={"type": "string",
                                               "enum": list(MATCH_DECISIONS)}),
                     Param("status", schema={"type": "string", "enum": list(MATCH_STATUSES)}),
                     Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
                     Param("offset", schema={"type": "integer", "minimum": 0}))),
    Endpoint("GET", f"{P}/matches/{{id}}", get_match, "viewer", "One match",
             params=(id_param(),)),
    Endpoint("GET", f"{P}/images", list_images, "viewer",
             "Matched images (one per crawled image, with every list entry it matched), "
             "the most recently found first; a page of them with the total",
             params=IMAGE_FILTER_PARAMS),
    Endpoint("GET", f"{P}/images/{{id}}", get_image, "viewer",
             "One matched image with its evidence and notice items", params=(id_param(),)),
]
