"""Consensus review (`review_consensus` distinct analysts decide) and the false positives a
rejection records against list entries, on real SQLite / PostgreSQL
(SPINNERET_TEST_DATABASE=postgres)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from spinneret.notices.errors import ReviewAlreadyDecided, ReviewDuplicateDecision
from spinneret.notices.review import PENDING, QUEUED, REJECTED
from spinneret.notices.service import NoticeService
from spinneret.records.audit import AuditLog
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.reviews import FeedbackRepository
from spinneret.records.types import MatchRecordInput

ENTRY = "0123456789abcdef"


def _hit(list_name: str = "list-a", source_id: str = "A-1") -> MatchRecordInput:
    return MatchRecordInput(list_name=list_name, algorithm="phash", entry_hash=ENTRY,
                            query_hash="0123456789abcd00", distance=8, decision="review",
                            category="illegal", source="authority", label="listed photo",
                            source_id=source_id)


def _image(db, site, url="http://x.test/border.png", hits=None) -> int:
    crawl = CrawlRepository(db).create(site.id)
    ImageRecorder(db).record_image(crawl.id, site.id, f"{site.base_url}page.html", url,
                                   "ab" * 32, matches=hits or [_hit()])
    return crawl.id


@pytest.fixture
def service(db, settings, clock) -> NoticeService:
    settings.notice_batch_window_s = 0
    settings.review_consensus = 2
    return NoticeService(db, settings, clock=clock)


def test_two_analysts_must_confirm_and_one_cannot_confirm_twice(service, make_site, db):
    _image(db, make_site())
    [item] = service.review_queue()
    assert service.confirm(item.id, by="alice") == PENDING
    with pytest.raises(ReviewDuplicateDecision, match="alice has already decided"):
        service.confirm(item.id, by="alice")
    [still] = service.review_queue()  # still waiting, showing who decided
    assert [(r.by, r.decision) for r in still.reviews] == [("alice", "confirm")]
    assert service.apply_policy().collected.items_added == 0  # nothing goes out yet

    assert service.confirm(item.id, by="bob", note="agreed") == QUEUED
    assert service.review_queue() == []
    assert service.apply_policy().collected.items_added == 1
    with pytest.raises(ReviewAlreadyDecided):
        service.confirm(item.id, by="carol")
    [final] = AuditLog(service.db).list(action="review.confirm", limit=1)
    assert (final.actor, final.details["outcome"], final.details["confirmed_by"]) == (
        "bob", QUEUED, ["alice", "bob"])


def test_a_disagreement_is_shown_and_audited_and_rejections_become_feedback(
        service, make_site, db):
    site = make_site()
    _image(db, site, hits=[_hit(), _hit("list-b", "B-9")])
    _image(db, site, hits=[_hit(), _hit("list-b", "B-9")])  # re-crawled: rows again
    [item] = service.review_queue()
    assert service.confirm(item.id, by="alice") == PENDING
    assert service.reject(item.id, by="bob", note="a different photo") == PENDING
    [shown] = service.review_queue()
    assert sorted((r.by, r.decision) for r in shown.reviews) == [
        ("alice", "confirm"), ("bob", "reject")]
    [dispute] = AuditLog(service.db).list(action="review.dispute")
    assert (dispute.actor, dispute.target) == ("bob", f"image:{item.id}")
    assert (dispute.details["confirmed_by"], dispute.details["rejected_by"],
            dispute.details["disputed"]) == (["alice"], ["bob"], True)
    assert FeedbackRepository(service.db).for_list("list-a") == []  # not decided yet

    assert service.reject(item.id, by="carol", note="logo, not listed") == REJECTED
    assert service.review_queue() == []
    statuses = {m.status for m in MatchRepository(service.db).list()}
    assert statuses == {"reviewed_rejected"}
    feedback = FeedbackRepository(service.db).for_list("list-a")
    # One row per rejecting analyst per list entry (not per crawl's row), with its note.
    assert [(f.algorithm, f.entry_hash, f.source_id, f.label, f.by, f.note)
            for f in feedback] == [
        ("phash", ENTRY, "A-1", "listed photo", "bob", "a different photo"),
        ("phash", ENTRY, "A-1", "listed photo", "carol", "logo, not listed")]
    assert [f.source_id for f in FeedbackRepository(service.db).for_list("list-b")] == [
        "B-9", "B-9"]
    [final] = AuditLog(service.db).list(action="review.reject", limit=1)
    assert final.details["confirmed_by"] == ["alice"]  # the dissent stays on record


def test_with_the_default_one_rejection_decides_and_is_feedback(db, settings, clock,
                                                               make_site):
    settings.notice_batch_window_s = 0
    service = NoticeService(db, settings, clock=clock)
    assert service.review_consensus == 1
    _image(db, make_site())
    [item] = service.review_queue()
    assert service.reject(item.id, by="alice", note="false positive") == REJECTED
    [row] = FeedbackRepository(db).for_list("list-a")
    assert (row.entry_hash, row.by, row.note, row.image_url) == (
        ENTRY, "alice", "false positive", "http://x.test/border.png")


def test_cli_consensus_and_feedback_export(cli, cli_env, monkeypatch, db, make_site,
                                           redis_client, key_prefix):
    from spinneret.config import reset_settings_cache
    from spinneret.matcher.store import FingerprintStore, ListEntry

    store = FingerprintStore(redis_client, key_prefix)
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setenv("SPINNERET_REVIEW_CONSENSUS", "2")
    reset_settings_cache()
    store.replace_list("list-a", [ListEntry("phash", ENTRY, "listed photo", "A-1")])
    _image(db, make_site())
    code, out, err = cli("review", "ls", "--format", "json")
    [item] = [json.loads(line) for line in out.splitlines()]
    assert item["consensus"] == {"needed": 2, "confirmed_by": [], "rejected_by": [],
                                 "disputed": False}
    code, out, err = cli("review", "confirm", str(item["id"]))
    assert code == 0, err
    assert "confirmation recorded" in out
    code, out, err = cli("review", "confirm", str(item["id"]))
    assert code == 2
    assert "has already decided it" in err
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli("review", "ls")
    assert "1/2 confirmed" in out

    monkeypatch.setenv("LOGNAME", "bob")  # another analyst disagrees: disputed
    code, out, err = cli("review", "reject", str(item["id"]), "--note", "not it")
    assert code == 0, err
    assert "rejection recorded" in out
    code, out, err = cli("review", "ls")
    assert "disputed" in out
    monkeypatch.setenv("LOGNAME", "carol")
    code, out, err = cli("review", "reject", str(item["id"]), "--note", "not it either")
    assert code == 0, err
    assert "URL + hash suppressed" in out
    code, out, err = cli("lists", "feedback", "list-a", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["entry_hash"], r["source_id"], r["by"], r["note"]) for r in rows] == [
        (ENTRY, "A-1", "cli:bob", "not it"), (ENTRY, "A-1", "cli:carol", "not it either")]
    code, out, err = cli("lists", "feedback", "list-a", "--format", "json")
    assert json.loads(out.splitlines()[0])["entry_hash"] == ENTRY
    code, out, err = cli("lists", "feedback", "no-such-list")
    assert code == 2
