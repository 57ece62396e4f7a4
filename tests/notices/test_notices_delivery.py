"""Delivery through a real SMTP server (aiosmtpd) and a real webhook receiver (aiohttp)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from spinneret.notices.links import OwnerLinks
from spinneret.notices.service import NoticeService
from spinneret.notices.webhook import (
    DEFAULT_TOLERANCE_S,
    DELIVERY_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_request,
)
from spinneret.records.models import Delivery
from tests.notices.conftest import sending_now
from tests.notices.smtp_server import SmtpServer, free_port


@pytest.fixture
def service(db, settings, clock, smtp) -> NoticeService:
    sending_now(settings, smtp)
    settings.delivery_backoff_base_s = 30
    settings.secret_key = settings.secret_key.__class__("test-secret-key")
    return NoticeService(db, settings, clock=clock)


def _deliveries(db) -> list[Delivery]:
    with db.session() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


async def test_email_lists_every_url_with_a_signed_link_and_no_image(
        service, smtp, make_site, record_match, settings, clock):
    site = make_site(abuse_email="abuse@host.example")
    urls = [f"http://x.test/img/{n}.png" for n in range(3)]
    record_match(site, urls[0], algorithm="sha256", distance=0, category="illegal")
    record_match(site, urls[1], algorithm="pdq", distance=12, category="policy-violating")
    record_match(site, urls[2], algorithm="phash", distance=4, category="illegal")
    result = await service.send_once()
    assert len(result.sent) == 1
    [received] = smtp.messages
    assert received.rcpt_tos == ["owner@example.org"]
    message = received.message
    assert "3 images on example" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert not any(p.get_content_disposition() == "attachment" for p in message.walk())
    text, html = parts[0].get_content(), parts[1].get_content()
    for url in urls:
        assert url in text and url in html
    assert "exact match (sha256" in text and "perceptual match (PDQ, Hamming distance 12)" in text
    assert "Category: illegal" in text and "Category: policy-violating" in text
    assert "<img" not in html and "data:image" not in html
    link = next(line.strip() for line in text.splitlines() if "/owner/" in line)
    token = link.rsplit("/", 1)[1]
    links = OwnerLinks.from_settings(settings, clock=clock)
    assert links.verify(token).notice_id == service.list()[0].id
    [delivery] = service.list()[0].deliveries
    assert delivery.status == "sent" and message["Message-ID"].startswith(
        f"<{delivery.idempotency_key}@")


async def test_smtp_down_for_ten_minutes_then_delivered_once(service, smtp, make_site,
                                                              record_match, settings, clock, db):
    port = smtp.port
    smtp.stop()  # the server is down
    site = make_site()
    record_match(site, "http://x.test/1.png")
    elapsed = 0
    while elapsed < 600:
        result = await service.send_once()
        assert result.sent == []
        [delivery] = _deliveries(db)
        assert delivery.status == "pending" and delivery.last_error
        step = (delivery.next_attempt_at - clock.now()).total_seconds()
        assert step > 0  # backoff pushes the next attempt into the future
        clock.advance(step)
        elapsed += step
    attempts = _deliveries(db)[0].attempts
    assert attempts >= 3
    restarted = SmtpServer(port=port).start()
    try:
        result = await service.send_once()
        assert len(result.sent) == 1
        assert len(restarted.messages) == 1
        assert (await service.send_once()).sent == []
        clock.advance(86400)
        assert (await service.send_once()).sent == []
        assert len(restarted.messages) == 1
    finally:
        restarted.stop()


async def test_delivery_marked_failed_after_max_attempts(service, smtp, make_site,
                                                         record_match, settings, clock, db):
    smtp.stop()
    settings.delivery_max_attempts = 3
    site = make_site()
    record_match(site, "http://x.test/1.png")
    for _ in range(3):
        await service.send_once()
        clock.advance(settings.delivery_backoff_max_s)
    [delivery] = _deliveries(db)
    assert delivery.status == "failed" and delivery.attempts == 3
    [notice] = service.list(statuses=("failed",))
    assert notice.deliveries[0].status == "failed"


def test_sender_killed_mid_send_resends_once_with_same_message_id(
        service, smtp, make_site, record_match, settings, clock, db, cli_env):
    site = make_site()
    record_match(site, "http://x.test/1.png")
    service.apply_policy()
    smtp.handler.stall = True
    env = {**os.environ, **cli_env, "SPINNERET_SMTP_PORT": str(smtp.port),
           "SPINNERET_SECRET_KEY": "test-secret-key", "SPINNERET_SMTP_TIMEOUT_S": "60"}
    sender = subprocess.Popen([sys.executable, "-m", "spinneret", "notices", "send"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert smtp.handler.data_seen.wait(60), "the sender never reached DATA"
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
    [claimed] = _deliveries(db)
    assert claimed.status == "sending" and claimed.attempts == 1
    assert smtp.messages == []  # the stalled DATA was never acknowledged

    smtp.handler.stall = False
    # While the dead sender's lease runs, nobody else takes the delivery.
    assert service.outbox().claim() == []
    lease_end = claimed.next_attempt_at
    clock.set(lease_end + timedelta(seconds=1))
    assert len(_run(service.send_once()).sent) == 1
    assert len(smtp.messages) == 1
    assert smtp.messages[0].message["Message-ID"] == smtp.handler.stalled[0].message["Message-ID"]
    [done] = _deliveries(db)
    assert done.status == "sent" and done.attempts == 2
    clock.advance(3600)
    assert _run(service.send_once()).sent == []
    assert len(smtp.messages) == 1


def _run(coro):
    import asyncio
    return asyncio.run(coro)


async def test_webhook_signed_and_replay_refused(db, settings, clock, make_site, record_match):
    received: list[dict] = []
    secret_holder: dict[str, bytes] = {}
    receiver_clock = {"offset_s": 0.0}  # the receiver's own clock, moved by the test

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_request(secret_holder["secret"], request.headers, body,
                           now=time.time() + receiver_clock["offset_s"])
        except Exception as exc:  # noqa: BLE001 - the receiver answers 401 to any bad request
            return web.json_response({"error": str(exc)}, status=401)
        received.append({"headers": dict(request.headers), "body": body})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site_ = web.TCPSite(runner, "127.0.0.1", port)
    await site_.start()
    try:
        settings.notice_batch_window_s = 0
        settings.smtp_port = free_port()  # nobody listens: e-mail fails, webhook goes through
        settings.secret_key = settings.secret_key.__class__("test-secret-key")
        service = NoticeService(db, settings, clock=clock)
        site = make_site(webhook_url=f"http://127.0.0.1:{port}/hook")
        secret_holder["secret"] = site.webhook_secret.encode()
        record_match(site, "http://x.test/hooked.png")
        clock.set(clock.now().__class__.fromtimestamp(time.time(), tz=clock.now().tzinfo))
        result = await service.send_once()
        assert len(result.sent) == 1 and len(result.retrying) == 1
        [got] = received
        payload = json.loads(got["body"])
        assert payload["type"] == "spinneret.notice.initial"
        assert [i["image_url"] for i in payload["items"]] == ["http://x.test/hooked.png"]
        request = payload["request"]  # who asks, on what basis, by when (docs/webhooks.md)
        assert request["organisation"] == settings.notice_sender_organisation
        assert request["legal_basis"] == settings.notice_legal_basis
        assert request["contact_email"] == "reports@hotline.test" and not request["demo"]
        created = datetime.fromisoformat(payload["notice"]["created_at"])
        assert datetime.fromisoformat(request["remove_by"]) - created >= timedelta(
            seconds=settings.notice_removal_deadline_s)
        assert got["headers"][SIGNATURE_HEADER].startswith("sha256=")
        assert got["headers"]["Idempotency-Key"] == got["headers"]["X-Spinneret-Delivery"]

        captured = {k: got["headers"][k] for k in (
            "Content-Type", TIMESTAMP_HEADER, SIGNATURE_HEADER, DELIVERY_HEADER,
            IDEMPOTENCY_HEADER)}
        url = f"http://127.0.0.1:{port}/hook"
        async with aiohttp.ClientSession() as session:
            # The exact captured request, replayed once the receiver's clock is past the
            # tolerance, is refused for its age...
            receiver_clock["offset_s"] = DEFAULT_TOLERANCE_S + 5
            async with session.post(url, data=got["body"], headers=captured) as response:
                assert response.status == 401
                assert "outside the allowed window" in (await response.json())["error"]
            # ...which is the only thing wrong with it: the same bytes verify in the window
            # (a receiver deduplicates those on Idempotency-Key).
            receiver_clock["offset_s"] = 0.0
            async with session.post(url, data=got["body"], headers=captured) as response:
                assert response.status == 200
            # A tampered body fails on the signature.
            async with session.post(url, data=got["body"].replace(b"hooked", b"h00ked"),
                                    headers=captured) as response:
                assert response.status == 401
                assert "signature does not match" in (await response.json())["error"]
        assert len(received) == 2 and received[1]["body"] == got["body"]
    finally:
        await runner.cleanup()


async def test_reminders_count_from_one_then_escalation_goes_to_the_abuse_contact(
        service, smtp, make_site, record_match, settings, clock):
    settings.reminder_after_s = 3 * 86400
    settings.max_reminders = 2
    site = make_site(abuse_email="abuse@host.example")
    record_match(site, "http://x.test/still-up.png")
    assert len((await service.send_once()).sent) == 1
    reference = service.list()[0].reference
    for number in (1, 2):
        clock.advance(settings.reminder_after_s)
        assert len(service.follow_up().reminders) == 1
        assert len((await service.send_once()).sent) == 1
        reminder = smtp.messages[-1]
        assert reminder.rcpt_tos == ["owner@example.org"]
        assert reminder.message["Subject"].startswith(f"Reminder: [{reference}]")
        text = reminder.message.get_body(("plain",)).get_content()
        html = " ".join(reminder.message.get_body(("html",)).get_content().split())
        expected = f"This is reminder {number} for notice {reference}."
        assert expected in text and expected in html
        assert "http://x.test/still-up.png" in text

    clock.advance(settings.reminder_after_s)
    follow = service.follow_up()
    assert follow.reminders == [] and len(follow.escalations) == 1
    assert len((await service.send_once()).sent) == 1
    escalation = smtp.messages[-1]
    assert escalation.rcpt_tos == ["abuse@host.example"]
    assert escalation.message["Subject"].startswith(f"Escalation: [{reference}]")
    text = " ".join(escalation.message.get_body(("plain",)).get_content().split())
    assert "as the abuse contact for example" in text and "reminded 2 time(s)" in text
    assert "http://x.test/still-up.png" in text
    assert [m.rcpt_tos for m in smtp.messages] == [["owner@example.org"]] * 3 + [
        ["abuse@host.example"]]
