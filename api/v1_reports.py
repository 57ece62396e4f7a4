"""/api/v1/reports: report a URL (fetched once, matched, noticed), and what became of it."""

from __future__ import annotations

from aiohttp import web

from spinneret.api.endpoints import API_PREFIX, Endpoint, Param, id_param
from spinneret.api.errors import ApiError
from spinneret.api.http import (
    PRINCIPAL,
    error_response,
    field,
    json_body,
    ok,
    path_int,
    query_int,
    services,
    set_audit,
)
from spinneret.api.reports import ReportLimited
from spinneret.records.models import REPORT_STATUSES
from spinneret.records.reports import MAX_NOTE_CHARS, ReportRepository
from spinneret.records.types import ReportRecord


def report_json(report: ReportRecord) -> dict:
    return {
        "id": report.id, "url": report.url, "note": report.note, "reporter": report.reporter,
        "status": report.status, "reason": report.reason,
        "site": report.site_name, "site_origin": report.site_origin,
        "crawl_id": report.crawl_id, "pages_fetched": report.pages_fetched,
        "images_found": report.images_found, "images_hashed": report.images_hashed,
        "images_skipped": report.images_skipped, "matches": report.matches,
        "notice_ids": list(report.notice_ids), "created_at": report.created_at,
        "started_at": report.started_at, "finished_at": report.finished_at,
    }


def too_many(exc: ReportLimited) -> web.Response:
    response = error_response(429, str(exc))
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def create_report(request: web.Request) -> web.Response:
    data = await json_body(request)
    unknown = set(data) - {"url", "note"}
    if unknown:
        raise ApiError(400, f"unknown report field(s): {', '.join(sorted(unknown))}")
    url = field(data, "url", str, required=True)
    note = field(data, "note", str, default="")
    who = request[PRINCIPAL]
    set_audit(request, "reports", op="report", url=url)
    try:
        report = await services(request).reports.submit(url, note, who.token_id, who.name)
    except ReportLimited as exc:
        return too_many(exc)
    set_audit(request, f"report:{report.id}", op="report", url=report.url)
    return ok(report_json(report), 202)


async def get_report(request: web.Request) -> web.Response:
    return ok(report_json(ReportRepository(services(request).db).get(path_int(request))))


async def list_reports(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    reports = ReportRepository(services(request).db).list(status=status, limit=limit)
    return ok([report_json(r) for r in reports])


P = API_PREFIX
ENDPOINTS = [
    Endpoint("POST", f"{P}/reports", create_report, "analyst",
             "Report a URL: its page and the images on it are fetched once (SSRF guard and "
             "caps as in crawls), matched, and a match is noticed to the site's contacts",
             body={"application/json": {"type": "object", "properties": {
                 "url": {"type": "string"},
                 "note": {"type": "string", "maxLength": MAX_NOTE_CHARS}},
                 "required": ["url"]}},
             responses={202: "Queued", 429: "Over the hourly limit of reports per token "
                                             "(Retry-After: seconds)"}),
    Endpoint("GET", f"{P}/reports", list_reports, "viewer",
             "Reports, newest first, with their status as of now",
             params=(Param("status", schema={"type": "string", "enum": list(REPORT_STATUSES)}),
                     Param("limit", schema={"type": "integer", "minimum": 1,
                                            "maximum": 1000}))),
    Endpoint("GET", f"{P}/reports/{{id}}", get_report, "viewer",
             "One report: status (queued, fetched, matched, noticed, removed, no_match, "
             "failed), why, counts, site and notices", params=(id_param(),)),
]
