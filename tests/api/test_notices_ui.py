"""The notices pages: when an open notice goes out, and the Send now / Resend / Recheck
buttons (CSRF-checked, audited, analyst only), against a real SMTP server and a real image
server on loopback; the timeline lists each removal once."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from spinneret.records.audit import AuditLog


@pytest.fixture
async def gone_server():
    """An image host where every image has been taken down (404)."""
    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", gone)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


async def test_open_notice_shows_when_it_goes_out_and_send_now_sends_it(api, smtp,
                                                                        record_match):
    api.svc.settings.notice_batch_window_s = 3600
    api.svc.settings.smtp_port = smtp.port
    record_match("http://127.0.0.1:9/waiting.png", decision="auto", site="waiting")
    api.svc.notices.apply_policy()
    [notice] = api.svc.notices.list()
    assert notice.status == "open" and notice.sends_at is not None

    viewer, _ = api.session("viewer")
    page = await (await api.client.get(f"/notices/{notice.id}", headers=viewer)).text()
    assert "Goes out" in page and "when its batch window ends" in page
    assert "Send now" not in page  # a viewer may not
    listing = await (await api.client.get("/notices", headers=viewer)).text()
    assert "<th>Goes out</th>" in listing
    api.svc.settings.notice_batch_window_s = 0  # a shorter window applies at once
    page = await (await api.client.get(f"/notices/{notice.id}", headers=viewer)).text()
    assert "now: its batch window ended" in page
    api.svc.settings.notice_batch_window_s = 3600

    headers, csrf = api.session("analyst")
    page = await (await api.client.get(f"/notices/{notice.id}", headers=headers)).text()
    assert "Send now" in page and "Resend" not in page
    response = await api.client.post(f"/notices/{notice.id}/send-now", data={"csrf": "x"},
                                     headers=headers)
    assert response.status == 403 and smtp.messages == []
    response = await api.client.post(f"/notices/{notice.id}/send-now", data={"csrf": csrf},
                                     headers=headers)
    page = await response.text()
    assert response.status == 200
    assert "Notice sent now: 1 delivered, 0 to retry, 0 failed." in page
    assert len(smtp.messages) == 1 and "Resend" in page and "Goes out" not in page
    [event] = AuditLog(api.db).list(action="notice.send_now")
    assert event.actor.startswith("api:analyst-test#")
    assert event.target == f"notice:{notice.id}"

    response = await api.client.post(f"/notices/{notice.id}/send-now", data={"csrf": csrf},
                                     headers=headers)
    assert response.status == 400 and "not waiting to be sent" in await response.text()
    detail = await (await api.client.get(f"/api/v1/notices/{notice.id}",
                                         headers=api.bearer("viewer"))).json()
    assert detail["status"] == "sent" and detail["sends_at"] is None
    whats = [e["what"] for e in detail["timeline"]]
    assert whats.count("notice.send_now") == 1, whats
    # The refused second try stays; the request entry of the successful one is not repeated.
    assert whats.count("ui.notice_send_now") == 1, whats


async def test_api_send_now_and_the_refusal_while_unconfigured(api, smtp, record_match):
    api.svc.settings.notice_batch_window_s = 3600
    api.svc.settings.smtp_port = smtp.port
    record_match("http://127.0.0.1:9/api.png", decision="auto", site="api-site")
    api.svc.notices.apply_policy()
    [notice] = api.svc.notices.list()
    listed = await (await api.client.get("/api/v1/notices", headers=api.bearer("viewer"))).json()
    assert listed[0]["sends_at"] == listed[0]["window_ends_at"]

    api.svc.settings.notice_contact_email = ""
    response = await api.client.post(f"/api/v1/notices/{notice.id}/send-now",
                                     headers=api.bearer("analyst"))
    assert response.status == 409 and smtp.messages == []
    assert (await response.json())["error"] == (
        "1 deliveries held: notices are not sent until this deployment is configured: "
        "SPINNERET_NOTICE_CONTACT_EMAIL is not set")
    api.svc.settings.notice_contact_email = "reports@hotline.test"
    response = await api.client.post("/api/v1/notices/send", params={"now": "true"},
                                     headers=api.bearer("analyst"))
    assert response.status == 200 and (await response.json())["sent"] == 1
    assert len(smtp.messages) == 1
    response = await api.client.post("/api/v1/notices/send", params={"now": "maybe"},
                                     headers=api.bearer("analyst"))
    assert response.status == 400


async def test_recheck_and_resend_buttons_and_one_removal_in_the_timeline(
        api, smtp, record_match, gone_server):
    api.svc.settings.notice_batch_window_s = 0
    api.svc.settings.smtp_port = smtp.port
    record_match(f"{gone_server}/taken-down.png", decision="auto", site="gone")
    await api.svc.notices.send_once()
    [notice] = api.svc.notices.list()
    headers, csrf = api.session("analyst")

    response = await api.client.post(f"/notices/{notice.id}/recheck", data={"csrf": csrf},
                                     headers=headers)
    page = await response.text()
    assert "Rechecked 1 image(s): 1 removed, 0 still up, 0 could not tell." in page
    assert api.svc.notices.show(notice.id).status == "removed"
    detail = await (await api.client.get(f"/api/v1/notices/{notice.id}",
                                         headers=api.bearer("viewer"))).json()
    whats = [e["what"] for e in detail["timeline"]]
    assert whats.count("image removed") == 1, whats
    assert not [w for w in whats if "removed" in w and w != "image removed"], whats
    assert "notice.recheck" in whats

    response = await api.client.post(f"/notices/{notice.id}/resend", data={"csrf": csrf},
                                     headers=headers)
    assert "Notice queued again: 1 deliveries" in await response.text()
    [event] = AuditLog(api.db).list(action="notice.resend")
    assert event.actor.startswith("api:analyst-test#")
    assert event.target == f"notice:{notice.id}"
