"""Grouping matches into notices, the review queue, reminders and escalation (real SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from spinneret.notices.errors import (
    NoticeError,
    ReviewAlreadyDecided,
    ReviewNoteRequired,
    ReviewNotFound,
)
from spinneret.notices.review import ALREADY_NOTIFIED, review_queue_depth
from spinneret.notices.service import NoticeService
from spinneret.records.models import Delivery, Match, Notice, Suppression
from tests.notices.conftest import image_of


@pytest.fixture
def service(db, settings, clock) -> NoticeService:
    settings.notice_batch_window_s = 600
    settings.reminder_after_s = 3 * 86400
    settings.max_reminders = 2
    return NoticeService(db, settings, clock=clock)


def _deliveries(db) -> list[Delivery]:
    with db.session() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_one_notice_per_site_per_window(service, make_site, record_match, clock, db):
    a = make_site("site-a", webhook_url="http://127.0.0.1:9/hook")
    b = make_site("site-b")
    record_match(a, "http://a.test/1.png", algorithm="sha256", distance=0)
    record_match(a, "http://a.test/2.png")
    record_match(b, "http://b.test/1.png")
    first = service.apply_policy()
    assert first.collected.items_added == 3
    assert first.sealed == []  # window still collecting: nothing queued yet
    assert _deliveries(db) == []

    clock.advance(300)
    record_match(a, "http://a.test/3.png", category="policy-violating")
    service.apply_policy()
    clock.advance(301)
    sealed = service.apply_policy().sealed
    assert len(sealed) == 2

    notices = {n.site_name: n for n in service.list()}
    assert sorted(i.image_url for i in notices["site-a"].items) == [
        "http://a.test/1.png", "http://a.test/2.png", "http://a.test/3.png"]
    assert notices["site-a"].status == "sent"
    kinds = {i.image_url: i.match_kind for i in notices["site-a"].items}
    assert kinds["http://a.test/1.png"] == "exact"
    assert kinds["http://a.test/2.png"] == "perceptual"
    refs = [i.reference for i in notices["site-a"].items]
    assert len(set(refs)) == 3 and all(r.startswith(notices["site-a"].reference) for r in refs)
    # site-a: e-mail + webhook, site-b: e-mail; one message per channel, not per image.
    assert sorted((d.channel, d.recipient) for d in _deliveries(db)) == [
        ("email", "owner@example.org"), ("email", "owner@example.org"),
        ("webhook", "http://127.0.0.1:9/hook")]


def _window_passes(service, clock) -> None:
    """Collect, let the 600 s window end, seal."""
    service.apply_policy()
    clock.advance(601)
    service.apply_policy()


def test_url_in_open_notice_is_not_notified_again(service, make_site, record_match, clock):
    site = make_site()
    record_match(site, "http://x.test/1.png")
    _window_passes(service, clock)
    record_match(site, "http://x.test/1.png")  # found again by the next crawl
    record_match(site, "http://x.test/2.png")
    result = service.apply_policy()
    assert result.collected.duplicates == 1
    assert result.collected.items_added == 1
    notices = service.list()
    assert [len(n.items) for n in notices] == [1, 1]
    assert notices[1].items[0].image_url == "http://x.test/2.png"


def test_window_zero_seals_immediately(service, settings, make_site, record_match, db):
    settings.notice_batch_window_s = 0
    site = make_site()
    record_match(site, "http://x.test/1.png")
    result = service.apply_policy()
    assert len(result.sealed) == 1
    assert [d.status for d in _deliveries(db)] == ["pending"]


def test_review_confirm_and_reject(service, make_site, record_match, clock, db):
    site = make_site()
    record_match(site, "http://x.test/borderline.png", decision="review", distance=35)
    record_match(site, "http://x.test/false-positive.png", decision="review", distance=38)
    service.apply_policy()
    assert service.list() == []  # review matches wait for an analyst
    queue = service.review_queue()
    assert [e.image_url for e in queue] == [
        "http://x.test/borderline.png", "http://x.test/false-positive.png"]
    assert _queue_depth(db) == 2

    service.confirm(queue[0].id, by="analyst")
    with pytest.raises(ReviewNoteRequired):  # a rejection says why, in every front end
        service.reject(queue[1].id, by="analyst", note="  ")
    service.reject(queue[1].id, by="analyst", note="a cat, not a match")
    assert service.review_queue() == []
    with pytest.raises(ReviewAlreadyDecided):
        service.confirm(queue[1].id, by="analyst")
    with pytest.raises(ReviewNotFound):
        service.confirm(99999, by="analyst")

    service.apply_policy()
    [notice] = service.list()
    assert [i.image_url for i in notice.items] == ["http://x.test/borderline.png"]
    with db.session() as session:
        sup = session.scalars(select(Suppression)).one()
        assert sup.image_url == "http://x.test/false-positive.png"
        rejected = session.get(Match, queue[1].best.match_id)
        assert rejected.status == "reviewed_rejected"

    # The same URL + entry found again is suppressed, not queued or noticed.
    with db.session() as session:
        entry_hash = session.get(Match, queue[1].best.match_id).entry_hash
    record_match(site, "http://x.test/false-positive.png", decision="review",
                 entry_hash=entry_hash)
    record_match(site, "http://x.test/false-positive.png", decision="auto",
                 entry_hash=entry_hash)
    assert service.review_queue() == []
    service.apply_policy()
    assert len(service.list()[0].items) == 1


def test_reminders_then_escalation_follow_the_clock(service, settings, make_site,
                                                     record_match, clock, db):
    settings.notice_batch_window_s = 0
    site = make_site(abuse_email="abuse@host.example")
    record_match(site, "http://x.test/1.png")
    service.apply_policy()
    day = 86400
    clock.advance(3 * day - 1)
    assert service.follow_up().reminders == []
    clock.advance(1)
    assert len(service.follow_up().reminders) == 1
    assert service.follow_up().reminders == []  # not twice for the same silence
    clock.advance(3 * day)
    assert len(service.follow_up().reminders) == 1
    clock.advance(3 * day - 1)
    follow = service.follow_up()
    assert follow.reminders == [] and follow.escalations == []
    clock.advance(1)
    follow = service.follow_up()
    assert follow.reminders == [] and len(follow.escalations) == 1
    clock.advance(30 * day)
    follow = service.follow_up()
    assert follow.reminders == [] and follow.escalations == []
    kinds = [(d.kind, d.recipient) for d in _deliveries(db)]
    assert kinds == [("initial", "owner@example.org"), ("reminder", "owner@example.org"),
                     ("reminder", "owner@example.org"), ("escalation", "abuse@host.example")]
    [notice] = service.list()
    assert notice.reminders_sent == 2
    assert notice.escalated_at == clock.now() - timedelta(seconds=30 * day)


def test_url_found_again_alone_opens_no_notice(service, make_site, record_match, clock, db):
    site = make_site()
    record_match(site, "http://x.test/1.png")
    _window_passes(service, clock)
    [first] = service.list()
    record_match(site, "http://x.test/1.png")  # the next crawl finds only the same image
    result = service.apply_policy()
    assert (result.collected.duplicates, result.collected.notices_touched) == (1, [])
    clock.advance(601)
    assert service.apply_policy().sealed == []
    assert [n.id for n in service.list()] == [first.id]
    assert [d.kind for d in _deliveries(db)] == ["initial"]


def test_confirming_a_review_of_a_url_already_in_a_live_notice_sends_nothing(
        service, make_site, record_match, clock, db):
    site = make_site()
    record_match(site, "http://x.test/crop.png", algorithm="dhash", distance=2)
    record_match(site, "http://x.test/crop.png", algorithm="phash", distance=14,
                 decision="review")
    _window_passes(service, clock)
    assert service.review_queue() == []  # its URL is in a live notice: nothing to decide
    assert _queue_depth(db) == 0  # what /metrics reports counts the same way
    with db.session() as session:
        review_id = session.scalar(select(Match.id).where(Match.decision == "review"))
    assert service.confirm(image_of(db, review_id), by="analyst") == ALREADY_NOTIFIED
    service.apply_policy()
    clock.advance(601)
    assert service.apply_policy().sealed == []
    [notice] = service.list()
    assert [i.algorithm for i in notice.items] == ["dhash"]
    assert [d.kind for d in _deliveries(db)] == ["initial"]
    with db.session() as session:
        assert session.get(Match, review_id).status == "in_notice"


def test_a_notice_without_items_is_closed_not_sent(service, make_site, clock, db):
    """collect never opens one; a database from before that fix may still hold some."""
    site = make_site()
    with db.session() as session:
        session.add(Notice(site_id=site.id, status="open", window_start=clock.now(),
                           window_end=clock.now() + timedelta(seconds=600),
                           reference="SPN-EMPTY", reminder_count=0))
    clock.advance(601)
    assert service.apply_policy().sealed == []
    [notice] = service.list()
    assert notice.status == "closed" and _deliveries(db) == []
    with pytest.raises(NoticeError, match="no items"):
        service.resend(notice.id)
    assert _deliveries(db) == []


def _queue_depth(db) -> int:
    with db.session(readonly=True) as session:
        return review_queue_depth(session)
