"""The notices and deliveries repositories on SQLite and PostgreSQL: dataclasses out, and the
outbox's conditional state changes (the attempt number is the fencing token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spinneret.records import deliveries, notices
from spinneret.records.db import Database
from spinneret.records.models import Notice, NoticeItem
from spinneret.records.sites import SiteRepository
from spinneret.records.states import DeliveryStatus, NoticeItemStatus, NoticeStatus
from spinneret.records.types import DeliveryRecord, NewSite, NoticeRecord

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)


def _notice(db: Database) -> int:
    site = SiteRepository(db).add(NewSite(base_url="https://example.org", name="example",
                                          owner_email="abuse@example.org"))
    with db.session() as session:
        row = Notice(site_id=site.id, status="sent", window_start=NOW, window_end=NOW,
                     reference="SPN-1", created_at=NOW, updated_at=NOW)
        session.add(row)
        session.flush()
        session.add(NoticeItem(notice_id=row.id, image_url="https://example.org/a.png",
                               first_detected=NOW, list_name="demo", algorithm="pdq",
                               distance=3))
        return row.id


def _queue_one(db: Database, notice_id: int, kind: str = "initial") -> DeliveryRecord:
    with db.session() as session:
        assert deliveries.queue(session, notice_id, [("email", "abuse@example.org", "registered")],
                                kind=kind, now=NOW, message_ids=iter([f"spn-{kind}"])) == 1
        [row] = [d for d in deliveries.of_notice(session, notice_id) if d.kind == kind]
    return row


def test_a_claim_fences_out_a_second_sender(db: Database) -> None:
    notice_id = _notice(db)
    queued = _queue_one(db, notice_id)
    assert (queued.status, queued.attempts) == ("pending", 0)
    with db.session() as session:
        [due] = deliveries.due(session, NOW, 10)
        assert deliveries.claim(session, due, lease_until=LEASE)
        assert not deliveries.claim(session, due, lease_until=LEASE)  # the row moved on
    with db.session() as session:
        assert deliveries.due(session, NOW, 10) == []  # leased
        assert not deliveries.mark_sent(session, due.id, attempt=0, now=NOW)  # stale token
        assert deliveries.mark_sent(session, due.id, attempt=1, now=NOW)
        sent = deliveries.get(session, due.id)
    assert (sent.status, sent.attempts, sent.sent_at, sent.next_attempt_at) == (
        DeliveryStatus.SENT, 1, NOW, None)


def test_retry_failure_and_the_notice_failing_with_its_last_initial(db: Database) -> None:
    notice_id = _notice(db)
    queued = _queue_one(db, notice_id)
    with db.session() as session:
        assert deliveries.claim(session, queued, lease_until=LEASE)
        assert deliveries.mark_retry(session, queued.id, 1, "x" * 5000, LEASE)
        retried = deliveries.get(session, queued.id)
        assert retried.status == "pending" and len(retried.last_error) == 2000
        assert not deliveries.every_initial_failed(session, notice_id)
        assert deliveries.claim(session, retried, lease_until=LEASE)
        assert deliveries.mark_failed(session, queued.id, 2, "refused")
        assert deliveries.every_initial_failed(session, notice_id)
        assert deliveries.first_sent_at(session, notice_id) is None


def test_reminder_numbers_and_held_deliveries(db: Database) -> None:
    notice_id = _notice(db)
    _queue_one(db, notice_id)
    first = _queue_one(db, notice_id, "reminder")
    with db.session() as session:
        assert deliveries.reminder_number(session, notice_id, "email", first.id) == 1
        assert deliveries.hold_due(session, NOW, 10, "no sender configured") == [
            d.id for d in deliveries.of_notice(session, notice_id)]
        assert {d.last_error for d in deliveries.of_notice(session, notice_id)} == {
            "held: no sender configured"}
        assert {d.status for d in deliveries.of_notice(session, notice_id)} == {"pending"}


def test_notices_and_items_come_out_as_records(db: Database) -> None:
    notice_id = _notice(db)
    later = NOW + timedelta(hours=1)
    with db.session() as session:
        notice = notices.get(session, notice_id)
        assert isinstance(notice, NoticeRecord) and notice.status == NoticeStatus.SENT
        [due] = notices.due_for_recheck(session, open_before=NOW, removed_before=NOW, limit=5)
        assert due.evidence is None  # no match recorded behind the item
        notices.record_check(session, due.item_id, NOW, etag='"v1"', last_modified=None)
        notices.close_item(session, due.item_id, later, reason="HTTP 404",
                           time_to_removal_s=3600.0)
        notices.set_status(session, notice_id, NoticeStatus.REMOVED, later)
    with db.session() as session:
        [item] = notices.items_of(session, notice_id)
        assert (item.status, item.etag, item.closed_reason, item.removed_at) == (
            NoticeItemStatus.REMOVED, '"v1"', "HTTP 404", later)
        assert notices.item_statuses(session, notice_id) == {"removed"}
        assert notices.get(session, notice_id).status == "removed"
        assert [n.id for n in notices.listed(session, site="example",
                                             statuses=["removed"])] == [notice_id]


def test_a_status_outside_the_vocabulary_is_refused_before_the_database(db: Database) -> None:
    notice_id = _notice(db)
    with db.session() as session, pytest.raises(ValueError, match="sentt"):
        notices.set_status(session, notice_id, "sentt", NOW)
    with db.session() as session, pytest.raises(ValueError, match="fax"):
        deliveries.queue(session, notice_id, [("fax", "0123", "registered")], kind="initial", now=NOW,
                         message_ids=iter(["spn-fax"]))
    with db.session() as session:
        assert notices.get(session, notice_id).status == "sent"
        assert deliveries.of_notice(session, notice_id) == []
