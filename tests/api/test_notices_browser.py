"""A real browser (Debian's chromium through Playwright) against a running `spinneret serve`:
an analyst sees when a waiting notice goes out and sends it now; the real SMTP server gets
it. `serve` started with loopback owner links warns about them. Screenshots go to
test-output/."""

from __future__ import annotations

import pytest

from spinneret.notices.service import NoticeService
from spinneret.records.audit import AuditLog
from spinneret.records.tokens import create_token
from tests.api.served import spinneret_serve
from tests.api.test_api_browser import CHROMIUM, OUTPUT, browser  # noqa: F401 - fixture
from tests.conftest import sender_env
from tests.notices.smtp_server import SmtpServer

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is absent (apt-get install chromium)")


def test_analyst_sends_a_waiting_notice_now(settings, context, record_match, browser,  # noqa: F811
                                            tmp_path):
    OUTPUT.mkdir(exist_ok=True)
    analyst = create_token(context.db, "analyst", "browser-analyst", actor="test").secret
    settings.notice_batch_window_s = 3600
    record_match("http://127.0.0.1:9/waiting.png", decision="auto", site="waiting-site")
    service = NoticeService(context.db, settings)
    service.apply_policy()
    [notice] = service.list()
    assert notice.status == "open"
    smtp = SmtpServer().start()
    env = {**sender_env(), "SPINNERET_SMTP_HOST": "127.0.0.1",
           "SPINNERET_SMTP_PORT": str(smtp.port), "SPINNERET_NOTICE_BATCH_WINDOW_S": "3600"}
    try:
        with spinneret_serve(settings, tmp_path / "serve.log", env) as base:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/notices")
            page.fill("input[name=token]", analyst)
            page.click("button:has-text('Log in')")
            page.wait_for_url(lambda url: url.startswith(f"{base}/notices"))
            row = page.locator(f"tr:has-text('{notice.reference}')")
            assert "UTC" in row.locator("td").nth(7).inner_text()  # the Goes out column
            page.click(f"text={notice.reference}")
            page.wait_for_selector("dd.sends-at")
            assert "when its batch window ends" in page.inner_text("dd.sends-at")
            page.screenshot(path=str(OUTPUT / "ui-notice-waiting.png"), full_page=True)
            page.click("button:has-text('Send now')")
            page.wait_for_selector("text=Notice sent now: 1 delivered")
            assert page.locator("button:has-text('Resend')").count() == 1
            assert page.locator("button:has-text('Recheck now')").count() == 1
            assert "notice.send_now" in page.inner_text("ol.timeline")
            page.screenshot(path=str(OUTPUT / "ui-notice-sent-now.png"), full_page=True)
        assert "warning:" not in (tmp_path / "serve.log").read_text()
    finally:
        smtp.stop()
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["owner@example.org"]
    assert "https://spinneret.hotline.test/owner/" in mail.message.get_body(
        ("plain",)).get_content()
    assert service.show(notice.id).status == "sent"
    [event] = AuditLog(context.db).list(action="notice.send_now")
    assert event.actor.startswith("api:browser-analyst#")


def test_serve_warns_at_start_about_loopback_links_and_placeholders(settings, tmp_path):
    unset = {name: "" for name in ("SPINNERET_NOTICE_SENDER_ORGANISATION",)}
    with spinneret_serve(settings, tmp_path / "serve.log", unset) as base:
        assert base.startswith("http://127.0.0.1:")
    log = (tmp_path / "serve.log").read_text()
    assert f"warning: SPINNERET_PUBLIC_BASE_URL {base} is a loopback address" in log
    assert "warning: SPINNERET_NOTICE_SENDER_ORGANISATION is not set" in log
