"""A notice fit for a real takedown (who asks, on what basis, by when, how to handle the
material), and the refusal to send while the deployment still has placeholder values or
loopback owner links: against the real aiosmtpd server on loopback."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from spinneret.config import Settings
from spinneret.notices.clock import as_utc
from spinneret.notices.readiness import deployment_warnings, sending_problems
from spinneret.notices.service import NoticeService
from spinneret.records.models import Delivery
from tests.notices.conftest import sending_now


@pytest.fixture
def service(db, settings, clock, smtp) -> NoticeService:
    return NoticeService(db, sending_now(settings, smtp), clock=clock)


def _deliveries(db) -> list[Delivery]:
    with db.session() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def _text(received) -> str:
    return received.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _html(received) -> str:
    """The HTML part's words, tags left out."""
    html = received.message.get_body(("html",)).get_content()
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


async def test_notice_states_sender_request_deadline_basis_guidance_and_signature(
        service, smtp, settings, clock, db, make_site, record_match):
    settings.notice_contact_phone = "+44 20 7946 0000"
    settings.notice_policy_url = "https://hotline.test/legal"
    settings.notice_removal_deadline_s = 48 * 3600
    record_match(make_site(), "http://x.test/listed.png")
    assert len((await service.send_once()).sent) == 1
    [received] = smtp.messages
    message, text, html = received.message, _text(received), _html(received)
    assert message["From"] == "Spinneret Test Hotline <notices@hotline.test>"
    assert message["Reply-To"] == "reports@hotline.test"
    assert message["Subject"].endswith("Removal request: 1 image on example matched "
                                       "known-image lists")
    [delivery] = _deliveries(db)
    deadline = (as_utc(delivery.created_at) + timedelta(hours=48)).strftime(
        "%Y-%m-%d %H:%M UTC")
    for body in (text, html):
        assert "Spinneret Test Hotline found images on example" in body
        assert f"by {deadline}" in body
        assert "48 hours after this notice" in body
        assert "Legal basis: Test policy 1.2 (removal of listed images)" in body
        assert "https://hotline.test/legal" in body
        assert "Do not open, download, copy or forward the listed images" in body
        assert "reports@hotline.test" in body and "+44 20 7946 0000" in body
        assert "DEMO" not in body
    assert "\n-- \nSpinneret Test Hotline\nreports@hotline.test · +44 20 7946 0000\n" in text

    # A reminder repeats the first deadline; it does not move it.
    clock.advance(settings.reminder_after_s + 1)
    assert service.follow_up().reminders
    assert len((await service.send_once()).sent) == 1
    reminder = _text(smtp.messages[1])
    assert f"by {deadline}." in reminder and "after this notice" not in reminder


async def test_operator_signature_replaces_the_default_one(service, smtp, settings,
                                                           make_site, record_match):
    settings.notice_signature = "Jane Doe\nHead of Notices, Test Hotline\n1 Test Street"
    record_match(make_site(), "http://x.test/signed.png")
    await service.send_once()
    text = _text(smtp.messages[0])
    assert "\n-- \nJane Doe\nHead of Notices, Test Hotline\n1 Test Street\n" in text
    assert "Jane Doe" in _html(smtp.messages[0])


async def test_placeholder_sender_holds_deliveries_then_sends_once_fixed(
        service, smtp, settings, clock, db, make_site, record_match):
    settings.notice_sender_organisation = ""
    settings.mail_from = "Spinneret <spinneret@localhost>"
    record_match(make_site(), "http://x.test/held.png")
    for _ in range(3):  # beat runs again and again: nothing is used up
        result = await service.send_once()
        assert result.sent == [] and result.failed == [] and len(result.held) == 1
        clock.advance(settings.delivery_backoff_max_s)
    assert "SPINNERET_NOTICE_SENDER_ORGANISATION is not set" in result.refused
    assert "SPINNERET_MAIL_FROM 'Spinneret <spinneret@localhost>' is a placeholder" in (
        result.refused)
    assert smtp.messages == []
    [delivery] = _deliveries(db)
    assert delivery.status == "pending" and delivery.attempts == 0
    assert delivery.last_error.startswith("held: notices are not sent until this deployment "
                                          "is configured: SPINNERET_NOTICE_SENDER_ORGANISATION")

    settings.notice_sender_organisation = "Spinneret Test Hotline"
    settings.mail_from = "Spinneret Test Hotline <notices@hotline.test>"
    assert len((await service.send_once()).sent) == 1
    assert len(smtp.messages) == 1 and _deliveries(db)[0].status == "sent"


async def test_loopback_public_url_is_refused_outside_the_demo(
        service, smtp, settings, db, make_site, record_match):
    settings.public_base_url = "http://127.0.0.1:8080"
    record_match(make_site(), "http://x.test/loop.png")
    result = await service.send_once()
    assert result.held and smtp.messages == []
    assert ("SPINNERET_PUBLIC_BASE_URL http://127.0.0.1:8080 is a loopback address"
            in result.refused)

    settings.notice_demo = True  # what `spinneret demo` sets: sent, and marked as a demo
    assert len((await service.send_once()).sent) == 1
    [received] = smtp.messages
    assert received.message["Subject"].startswith("[DEMO] [")
    assert "*** DEMO: sent by `spinneret demo`" in _text(received)
    assert "This is not a real takedown notice" in _html(received)
    assert "http://127.0.0.1:8080/owner/" in _text(received)


def test_the_shipped_defaults_are_refused_with_every_reason(monkeypatch):
    for name in ("SPINNERET_PUBLIC_BASE_URL", "SPINNERET_MAIL_FROM", "SPINNERET_CONTACT_URL"):
        monkeypatch.delenv(name, raising=False)
    problems = sending_problems(Settings(_env_file=None))
    assert problems == [
        "SPINNERET_NOTICE_SENDER_ORGANISATION is not set",
        "SPINNERET_NOTICE_CONTACT_EMAIL is not set",
        "SPINNERET_MAIL_FROM 'Spinneret <spinneret@localhost>' is a placeholder address "
        "(localhost)",
        "SPINNERET_NOTICE_LEGAL_BASIS is not set",
        "SPINNERET_PUBLIC_BASE_URL http://127.0.0.1:8080 is a loopback address: site owners "
        "cannot open their links",
    ]
    warnings = deployment_warnings(Settings(_env_file=None))
    assert warnings[-1].startswith("SPINNERET_CONTACT_URL https://example.org/spinneret-contact"
                                   " is a placeholder")


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("notice_contact_email", "abuse@example.com", "placeholder address (example.com)"),
    ("notice_contact_email", "not an address", "is not an e-mail address"),
    ("mail_from", "Hotline <n@mail.hotline.invalid>", "placeholder address"),
    ("public_base_url", "http://localhost:8080", "loopback address"),
    ("public_base_url", "https://[::1]/", "loopback address"),
    ("public_base_url", "https://spinneret.example.org", "placeholder host"),
    ("public_base_url", "spinneret.hotline.org", "is not an absolute URL"),
])
def test_each_placeholder_is_named(settings, field, value, reason):
    assert sending_problems(settings) == []
    setattr(settings, field, value)
    [problem] = sending_problems(settings)
    assert reason in problem and problem.startswith(f"SPINNERET_{field.upper()}")
