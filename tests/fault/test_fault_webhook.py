"""A webhook receiver that answers 500 (and then drops the connection) before it answers 200:
the notice is retried with backoff and delivered exactly once, every attempt carrying the
same Idempotency-Key and a fresh signature. (SMTP down then up, and the sender killed
mid-send, are tests/notices/test_notices_delivery.py.)"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from spinneret.notices.service import NoticeService
from spinneret.notices.webhook import IDEMPOTENCY_HEADER, TIMESTAMP_HEADER, verify_request
from spinneret.records.models import Delivery
from tests.notices.conftest import clock, db, make_site, record_match  # noqa: F401 - fixtures
from tests.notices.smtp_server import free_port


async def test_webhook_500s_then_200_is_delivered_once(db, settings, clock, make_site,  # noqa: F811
                                                       record_match,  # noqa: F811
                                                       webhook_receiver):
    answers = [500, 503, "drop", 200]
    received: list[tuple[object, dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = answers[min(len(received), len(answers) - 1)]
        received.append((answer, dict(request.headers), body))
        if answer == "drop":
            request.transport.abort()
            raise ConnectionResetError
        return web.json_response({"answer": answer}, status=int(answer))

    url = await webhook_receiver(hook)
    settings.notice_batch_window_s = 0
    settings.smtp_port = free_port()  # no mail server: only the webhook can deliver
    settings.secret_key = settings.secret_key.__class__("test-secret-key")
    settings.delivery_backoff_base_s = 30
    service = NoticeService(db, settings, clock=clock)
    site = make_site(webhook_url=url)
    record_match(site, "http://x.test/flaky-receiver.png")
    delivered_after = None
    for attempt in range(1, 8):
        await service.send_once()
        hook_delivery = _webhook_delivery(db)
        if hook_delivery.status == "sent":
            delivered_after = attempt
            break
        assert hook_delivery.status == "pending" and hook_delivery.last_error
        step = (hook_delivery.next_attempt_at - clock.now()).total_seconds()
        assert step > 0, "backoff pushes the next attempt into the future"
        clock.advance(step)
    assert delivered_after == 4
    # Nothing more goes out, however long we wait.
    for _ in range(3):
        clock.advance(86_400)
        await service.send_once()
    assert [answer for answer, _, _ in received] == answers
    keys = {headers[IDEMPOTENCY_HEADER] for _, headers, _ in received}
    assert len(keys) == 1, "every attempt is the same delivery to the receiver"
    for _, headers, body in received:  # each signed afresh, at its own time
        verify_request(site.webhook_secret.encode(), headers, body,
                       now=float(headers[TIMESTAMP_HEADER]))
    final = _webhook_delivery(db)
    assert final.status == "sent" and final.attempts == 4


def _webhook_delivery(db) -> Delivery:  # noqa: F811
    with db.session() as session:
        [delivery] = session.scalars(select(Delivery).where(Delivery.channel == "webhook"))
        return delivery
