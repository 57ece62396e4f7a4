"""One review item per crawled image, with all its evidence (real SQLite / PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from spinneret.notices.errors import ReviewNoteRequired
from spinneret.notices.review import QUEUED, review_queue_depth
from spinneret.notices.service import NoticeService
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.models import Match, Review, Suppression
from spinneret.records.types import MatchRecordInput

SHA = "ab" * 32
PDQ_ENTRY, PDQ_IMAGE = "f" * 64, "f" * 60 + "0000"
PHASH_ENTRY, PHASH_IMAGE = "0123456789abcdef", "0123456789abcd00"


@pytest.fixture
def service(db, settings, clock) -> NoticeService:
    settings.notice_batch_window_s = 0
    return NoticeService(db, settings, clock=clock)


def _hit(list_name: str, algorithm: str, entry: str, image: str, distance: int, *,
         decision: str = "review", label: str = "") -> MatchRecordInput:
    return MatchRecordInput(list_name=list_name, algorithm=algorithm, entry_hash=entry,
                            query_hash=image, distance=distance, decision=decision,
                            category="illegal", source="authority", label=label,
                            source_id=f"{list_name}-{algorithm}")


def _crawl(db, site, url: str, hits: list[MatchRecordInput], sha256: str = SHA) -> None:
    crawl = CrawlRepository(db).create(site.id)
    ImageRecorder(db).record_image(crawl.id, site.id, f"{site.base_url}page.html", url,
                                   sha256, matches=hits)


def _borderline(db, site, url: str = "http://x.test/border.png") -> None:
    """The issue's case: one image, two lists, two algorithms; crawled twice."""
    hits = [_hit("list-a", "pdq", PDQ_ENTRY, PDQ_IMAGE, 16, label="entry a"),
            _hit("list-a", "phash", PHASH_ENTRY, PHASH_IMAGE, 8),
            _hit("list-b", "pdq", PDQ_ENTRY, PDQ_IMAGE, 16, label="entry b")]
    _crawl(db, site, url, hits)
    _crawl(db, site, url, hits)  # the re-crawl records every row again


def test_an_image_with_many_rows_is_one_review_item_with_all_its_evidence(
        service, make_site, db):
    site = make_site()
    _borderline(db, site)
    with db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Match)) == 6
        assert review_queue_depth(session) == 1
    [item] = service.review_queue()
    assert (item.image_url, item.sha256, item.crawls) == ("http://x.test/border.png", SHA, 2)
    assert [(e.list_name, e.algorithm, e.distance, e.entry_hash, e.image_hash, e.label,
             e.source_id, e.sightings) for e in item.evidence] == [
        ("list-a", "phash", 8, PHASH_ENTRY, PHASH_IMAGE, "", "list-a-phash", 2),
        ("list-a", "pdq", 16, PDQ_ENTRY, PDQ_IMAGE, "entry a", "list-a-pdq", 2),
        ("list-b", "pdq", 16, PDQ_ENTRY, PDQ_IMAGE, "entry b", "list-b-pdq", 2),
    ]
    assert item.state == "waiting for review"


def test_confirming_the_item_confirms_every_match_of_the_image(service, make_site, db):
    site = make_site()
    _borderline(db, site)
    _crawl(db, site, "http://x.test/other.png", [_hit("list-a", "pdq", "e" * 64, "e" * 64, 20)],
           sha256="cd" * 32)
    [item, other] = service.review_queue()
    assert service.confirm(item.id, by="analyst", note="") == QUEUED
    assert [i.id for i in service.review_queue()] == [other.id]
    service.apply_policy()
    [notice] = service.list()
    # One item per image URL and list (the grouping policy's rule), none for the other image.
    assert sorted((i.image_url, i.list_name) for i in notice.items) == [
        ("http://x.test/border.png", "list-a"), ("http://x.test/border.png", "list-b")]
    with db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 6


def test_a_rejection_needs_a_note_and_suppresses_each_entry_once(service, make_site, db):
    site = make_site()
    _borderline(db, site)
    [item] = service.review_queue()
    with pytest.raises(ReviewNoteRequired, match="needs a note"):
        service.reject(item.id, by="analyst", note="")
    assert [i.id for i in service.review_queue()] == [item.id]  # nothing changed
    service.reject(item.id, by="analyst", note="a landscape, not the listed image")
    assert service.review_queue() == []
    with db.session(readonly=True) as session:
        assert sorted(session.execute(select(Suppression.list_name, Suppression.algorithm))
                      ) == [("list-a", "pdq"), ("list-a", "phash"), ("list-b", "pdq")]
        notes = set(session.scalars(select(Review.note)))
    assert notes == {"a landscape, not the listed image"}
    # Found again by the next crawl: suppressed, not back in the queue.
    _borderline(db, site)
    assert service.review_queue() == []


def test_an_image_that_also_matched_automatically_needs_no_review(service, make_site, db):
    site = make_site()
    _crawl(db, site, "http://x.test/both.png", [
        _hit("list-a", "pdq", PDQ_ENTRY, PDQ_IMAGE, 16),
        _hit("list-a", "sha256", SHA, SHA, 0, decision="auto")])
    assert service.review_queue() == []
    with db.session(readonly=True) as session:
        assert review_queue_depth(session) == 0
