"""When an open notice goes out: shown by the CLI and the API, moved by a changed batch
window, and `notices send --now` / `POST /notices/{id}/send-now` (audited) do not wait."""

from __future__ import annotations

import json
from datetime import timedelta

from spinneret.config import reset_settings_cache
from spinneret.notices.clock import as_utc
from spinneret.notices.service import NoticeService
from spinneret.records.audit import AuditLog


def test_a_changed_window_moves_the_send_time_of_a_waiting_notice(
        db, settings, clock, smtp, make_site, record_match):
    settings.notice_batch_window_s = 3600
    settings.smtp_port = smtp.port
    service = NoticeService(db, settings, clock=clock)
    record_match(make_site(), "http://x.test/waiting.png")
    service.apply_policy()
    [notice] = service.list()
    assert notice.status == "open"
    start = as_utc(notice.created_at)
    assert as_utc(notice.sends_at) == start + timedelta(hours=1)

    settings.notice_batch_window_s = 600  # the operator shortens the window
    assert as_utc(service.show(notice.id).sends_at) == start + timedelta(minutes=10)
    clock.advance(601)
    service.apply_policy()
    sealed = service.show(notice.id)
    assert sealed.status == "sent" and sealed.sends_at is None
    assert as_utc(sealed.window_ends_at) == clock.now()

    # A longer window keeps a new notice open past the old end.
    settings.notice_batch_window_s = 7200
    record_match(make_site("later"), "http://y.test/later.png")
    service.apply_policy()
    clock.advance(3601)
    service.apply_policy()
    assert [n.status for n in service.list(site="later")] == ["open"]


def test_send_says_when_waiting_notices_go_out_and_now_sends_them(
        db, settings, smtp, make_site, record_match, cli, cli_env, monkeypatch):
    monkeypatch.setenv("SPINNERET_NOTICE_BATCH_WINDOW_S", "3600")
    monkeypatch.setenv("SPINNERET_SMTP_PORT", str(smtp.port))
    reset_settings_cache()
    record_match(make_site("waiting-site"), "http://x.test/w.png")

    code, out, err = cli("notices", "send")
    assert code == 0, err
    [notice] = NoticeService(db, settings).list()
    assert out.startswith("sent 0, retrying 0, failed 0\n")
    assert (f"1 notice(s) waiting for their batch window (SPINNERET_NOTICE_BATCH_WINDOW_S); "
            f"the next, {notice.reference} to waiting-site, goes out ") in out
    assert "(in 60 minutes)" in out or "(in 59 minutes)" in out
    assert "`spinneret notices send --now` sends them now" in out

    code, out, _ = cli("notices", "ls", "--format", "json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert listed["status"] == "open" and listed["sends_at"] == listed["window_ends_at"]
    code, out, _ = cli("notices", "show", str(notice.id))
    assert "Goes out " in out and "send --now" in out

    code, out, err = cli("notices", "send", "--now")
    assert code == 0 and out.startswith("sent 1, retrying 0, failed 0"), out + err
    assert "waiting" not in out
    assert len(smtp.messages) == 1
    [event] = AuditLog(db).list(action="notice.send_now")
    assert event.actor == "cli" and event.target == f"notice:{notice.id}"
    assert event.details["window_was_to_end"]
    code, _, err = cli("notices", "send", "--now")  # nothing open: nothing more is sent
    assert code == 0 and len(smtp.messages) == 1


def test_send_refused_by_placeholders_is_one_line_and_keeps_the_delivery(
        db, settings, smtp, make_site, record_match, cli, cli_env, monkeypatch):
    monkeypatch.setenv("SPINNERET_NOTICE_BATCH_WINDOW_S", "0")
    monkeypatch.setenv("SPINNERET_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("SPINNERET_NOTICE_LEGAL_BASIS", "")
    reset_settings_cache()
    record_match(make_site(), "http://x.test/held.png")
    code, out, err = cli("notices", "send")
    assert code == 2 and smtp.messages == []
    assert err.strip() == ("error: 1 deliveries held: notices are not sent until this "
                           "deployment is configured: SPINNERET_NOTICE_LEGAL_BASIS is not set")
    [notice] = NoticeService(db, settings).list()
    [delivery] = notice.deliveries
    assert delivery.status == "pending" and delivery.attempts == 0
    assert "SPINNERET_NOTICE_LEGAL_BASIS is not set" in delivery.last_error
    code, out, err = cli("notices", "show", str(notice.id), "--format", "json")
    assert "SPINNERET_NOTICE_LEGAL_BASIS" in json.loads(out)["deliveries"][0]["last_error"]

    monkeypatch.setenv("SPINNERET_NOTICE_LEGAL_BASIS", "Test policy 1.2")
    reset_settings_cache()
    code, out, err = cli("notices", "send")
    assert code == 0 and out.startswith("sent 1,") and len(smtp.messages) == 1
