"""Typed states: every status, decision, kind and channel column refuses a value outside its
`records.states` vocabulary, on SQLite and on PostgreSQL (migration 0004)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from spinneret.records import states
from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import MIGRATIONS_DIR, Database
from spinneret.records.images import ImageRecorder
from spinneret.records.models import Delivery, Notice, NoticeItem, OwnerResponse
from spinneret.records.sites import SiteRepository
from spinneret.records.types import MatchRecordInput, NewSite

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# (table, column, vocabulary): every check constraint of migration 0004.
CHECKED = [
    ("crawls", "status", states.CrawlStatus),
    ("image_events", "status", states.ImageEventStatus),
    ("matches", "decision", states.MatchDecision),
    ("matches", "status", states.MatchStatus),
    ("notices", "status", states.NoticeStatus),
    ("notice_items", "status", states.NoticeItemStatus),
    ("deliveries", "channel", states.DeliveryChannel),
    ("deliveries", "kind", states.DeliveryKind),
    ("deliveries", "status", states.DeliveryStatus),
    ("owner_responses", "action", states.OwnerAction),
]


def _one_of_each(db: Database) -> None:
    """A row in every checked table, stored through the repositories where there is one."""
    site = SiteRepository(db).add(NewSite(base_url="https://example.org", name="example",
                                          owner_email="abuse@example.org"))
    crawl = CrawlRepository(db).create(site.id).id
    ImageRecorder(db).record_image(crawl, site.id, "https://example.org/", "https://example.org/a.png",
                                   "a" * 64, matches=[MatchRecordInput(
                                       list_name="demo", algorithm="pdq", entry_hash="f" * 64,
                                       query_hash="e" * 64, distance=3, decision="auto")])
    with db.session() as session:
        notice = Notice(site_id=site.id, window_start=NOW, window_end=NOW, reference="SPN-1")
        session.add(notice)
        session.flush()
        session.add_all([
            NoticeItem(notice_id=notice.id, image_url="https://example.org/a.png",
                       first_detected=NOW, list_name="demo", algorithm="pdq", distance=3),
            Delivery(notice_id=notice.id, channel="email", recipient="abuse@example.org",
                     message_id="spn-1", next_attempt_at=NOW),
            OwnerResponse(notice_id=notice.id, action=states.OwnerAction.ACKNOWLEDGE),
        ])


@pytest.mark.parametrize(("table", "column", "vocabulary"), CHECKED,
                         ids=[f"{t}.{c}" for t, c, _ in CHECKED])
def test_a_typo_cannot_be_stored(db: Database, table, column, vocabulary) -> None:
    _one_of_each(db)
    typo = f"{next(iter(vocabulary)).value}x"  # e.g. "queuedx"
    with pytest.raises(IntegrityError), db.session() as session:
        session.execute(text(f"UPDATE {table} SET {column} = :typo"), {"typo": typo})
    for state in vocabulary:  # and every word of the vocabulary can
        with db.session() as session:
            session.execute(text(f"UPDATE {table} SET {column} = :state"), {"state": state})
    with db.session(readonly=True) as session:
        stored = session.execute(text(f"SELECT {column} FROM {table}")).scalars().all()
    assert stored and set(stored) == {list(vocabulary)[-1].value}


def test_a_state_compares_and_stores_as_its_string(db: Database) -> None:
    _one_of_each(db)
    with db.session() as session:
        session.execute(text("UPDATE notices SET status = :s"), {"s": states.NoticeStatus.SENT})
    with db.session(readonly=True) as session:
        stored = session.scalar(select(Notice.status))
    assert stored == states.NoticeStatus.SENT == "sent" and type(stored) is str


def test_the_migration_lists_the_vocabularies_of_the_code() -> None:
    """0004 writes the values out; they must be the enums' values, column by column."""
    path = MIGRATIONS_DIR / "versions" / "0004_state_check_constraints.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected: dict[str, dict[str, tuple[str, ...]]] = {}
    for table, column, vocabulary in CHECKED:
        expected.setdefault(table, {})[column] = states.values(vocabulary)
    assert module.CHECKS == expected


def test_adding_the_checks_keeps_existing_rows(empty_db_url: str) -> None:
    """SQLite rebuilds `notices` to add its check: the items and deliveries that point at it
    must survive (a rebuild with foreign keys on would cascade-delete them)."""
    database = Database(empty_db_url)
    try:
        # Rows written through today's models, then the schema taken back to 0003 (later
        # migrations add columns the 0003 tables do not have).
        database.upgrade()
        _one_of_each(database)
        database.downgrade("0003")
        database.upgrade()
        assert database.current_revision() == Database.head_revision()
        with database.session(readonly=True) as session:
            counts = [session.scalar(select(func.count()).select_from(model))
                      for model in (Notice, NoticeItem, Delivery, OwnerResponse)]
        assert counts == [1, 1, 1, 1]
        database.downgrade("0003")
        with database.session() as session:  # the checks are gone again
            session.execute(text("UPDATE deliveries SET status = 'whatever'"))
    finally:
        database.dispose()


def test_a_stored_typo_stops_the_migration_and_changes_nothing(empty_db_url: str) -> None:
    database = Database(empty_db_url)
    try:
        # Rows written through today's models, then the schema taken back to 0003 (later
        # migrations add columns the 0003 tables do not have).
        database.upgrade()
        _one_of_each(database)
        database.downgrade("0003")
        with database.session() as session:
            session.execute(text("UPDATE deliveries SET status = 'sendng'"))
        with pytest.raises(IntegrityError):
            database.upgrade()
        assert database.current_revision() == "0003"
        with database.session(readonly=True) as session:
            assert session.scalar(select(Delivery.status)) == "sendng"
            assert session.scalar(select(func.count()).select_from(NoticeItem)) == 1
    finally:
        database.dispose()
