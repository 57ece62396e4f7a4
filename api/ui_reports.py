"""The UI's reports page: the report form and the reports with their status."""

from __future__ import annotations

from aiohttp import web

from spinneret.api.endpoints import Param
from spinneret.api.http import PRINCIPAL, form_body, services, set_audit
from spinneret.api.reports import ReportLimited
from spinneret.api.ui import _ui as ui_endpoint  # the UI's route helper (form body, CSRF)
from spinneret.api.ui import page, redirect
from spinneret.records.models import REPORT_STATUSES
from spinneret.records.reports import ReportRepository


async def reports_page(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    reports = ReportRepository(services(request).db).list(status=status, limit=200)
    return page(request, "reports.html.j2", reports=reports, statuses=REPORT_STATUSES,
                chosen=status or "")


async def reports_submit(request: web.Request) -> web.Response:
    form = await form_body(request)
    url, note = str(form.get("url", "")), str(form.get("note", ""))
    who = request[PRINCIPAL]
    set_audit(request, "reports", op="report", url=url)
    try:
        report = await services(request).reports.submit(url, note, who.token_id, who.name)
    except ReportLimited as exc:
        return redirect(request, "/reports", str(exc), error=True)
    set_audit(request, f"report:{report.id}", op="report", url=report.url)
    return redirect(request, "/reports", f"Report {report.id} queued: {report.url}")


ENDPOINTS = [
    ui_endpoint("GET", "/reports", reports_page, "viewer", "Reported URLs and the report form",
                params=(Param("status"),)),
    ui_endpoint("POST", "/reports", reports_submit, "analyst",
                "Report a URL (fetched once, matched, noticed)"),
]
