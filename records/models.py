"""SQLAlchemy 2 ORM models. Repositories hand out `records.types` dataclasses, never these rows.

Every timestamp is timezone-aware UTC (`UTCDateTime`). Unique constraints make recording
idempotent: a retried or duplicated task hits them and is counted as "already recorded".
Status columns are strings holding a `records.states` vocabulary; a check constraint per
column (migration 0004) refuses anything else. The `*_STATUSES` tuples are their values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spinneret.records.sqltypes import UTCDateTime, utcnow
from spinneret.records.states import (
    CrawlStatus,
    DeliveryChannel,
    DeliveryKind,
    DeliveryStatus,
    ImageEventStatus,
    MatchDecision,
    MatchStatus,
    NoticeItemStatus,
    NoticeStatus,
    OwnerAction,
    ReviewDecision,
    check_sql,
    values,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CRAWL_STATUSES = values(CrawlStatus)
IMAGE_EVENT_STATUSES = values(ImageEventStatus)
MATCH_DECISIONS = values(MatchDecision)
MATCH_STATUSES = values(MatchStatus)
REVIEW_DECISIONS = values(ReviewDecision)
NOTICE_STATUSES = values(NoticeStatus)
NOTICE_ITEM_STATUSES = values(NoticeItemStatus)
DELIVERY_CHANNELS = values(DeliveryChannel)
DELIVERY_KINDS = values(DeliveryKind)
DELIVERY_STATUSES = values(DeliveryStatus)
OWNER_ACTIONS = values(OwnerAction)
TOKEN_ROLES = ("admin", "analyst", "viewer")
CONTACT_SOURCES = ("override", "registered", "security.txt", "rdap")
SITE_ORIGINS = ("registered", "reported")  # reported: created for a reported URL's host
# queued -> fetched -> matched / no_match (stored); noticed / removed are derived when read
# (records.reports); failed: the page could not be fetched or read, with the reason.
REPORT_STATUSES = ("queued", "fetched", "matched", "noticed", "removed", "no_match", "failed")

SHA256_LEN = 64
SHORT = 255


def one_of(column: str, states) -> CheckConstraint:
    """The column admits only `states` (named ck_<table>_<column> by the convention)."""
    return CheckConstraint(check_sql(column, states), name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON,
                           list[Any]: JSON}


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_url: Mapped[str] = mapped_column(Text)
    hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude_patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_email: Mapped[str] = mapped_column(String(SHORT))
    abuse_email: Mapped[str | None] = mapped_column(String(SHORT))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(SHORT))
    # None = use the settings' default_max_pages / default_max_depth / default_rate_per_s.
    max_pages: Mapped[int | None] = mapped_column(Integer)
    max_depth: Mapped[int | None] = mapped_column(Integer)
    rate_per_s: Mapped[float | None] = mapped_column(Float)
    ignore_robots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # "reported": made for a reported URL whose host no registered site covers; never
    # crawled on schedule, and its owner e-mail may be empty (see records.reports). A server
    # default only, so inserts that do not name it work on every schema revision.
    origin: Mapped[str] = mapped_column(String(20), server_default=text("'registered'"))


class Crawl(Base):
    __tablename__ = "crawls"
    __table_args__ = (
        Index("ix_crawls_site_id_created_at", "site_id", "created_at"),
        Index("ix_crawls_status", "status"),
        one_of("status", CrawlStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=CrawlStatus.QUEUED.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    images_found: Mapped[int] = mapped_column(Integer, default=0)
    images_hashed: Mapped[int] = mapped_column(Integer, default=0)
    images_skipped: Mapped[int] = mapped_column(Integer, default=0)
    skipped_reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float | None] = mapped_column(Float)
    # Pages and links not followed, by reason (robots, out_of_scope, ssrf_blocked, ...).
    urls_skipped: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'"))
    failure_reason: Mapped[str | None] = mapped_column(Text)  # why it ended "failed"


class SeenImage(Base):
    """One row per (image URL, content SHA-256) ever seen: first and last sighting."""

    __tablename__ = "images_seen"
    __table_args__ = (
        UniqueConstraint("url_key", "sha256"),
        Index("ix_images_seen_sha256", "sha256"),
        Index("ix_images_seen_site_id_last_seen", "site_id", "last_seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(SHA256_LEN))
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_crawl_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawls.id", ondelete="SET NULL")
    )
    page_url: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(20))


class ImageHash(Base):
    """One hash of one image content (by SHA-256): what retro-match searches when a list
    grows. Never the image bytes."""

    __tablename__ = "image_hashes"
    __table_args__ = (Index("ix_image_hashes_algorithm", "algorithm"),)

    sha256: Mapped[str] = mapped_column(String(SHA256_LEN), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(50), primary_key=True)
    hash: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    quality: Mapped[int | None] = mapped_column(Integer)


class ImageEvent(Base):
    """What happened to one image in one crawl: hashed, or skipped with a reason.

    Skipped images without a hash carry sha256 "" (not NULL, so the unique key still holds).
    """

    __tablename__ = "image_events"
    __table_args__ = (
        UniqueConstraint("crawl_id", "url_key", "sha256"),
        Index("ix_image_events_crawl_id_status", "crawl_id", "status"),
        one_of("status", ImageEventStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_id: Mapped[int] = mapped_column(ForeignKey("crawls.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(SHA256_LEN))
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN), default="")
    page_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    skip_reason: Mapped[str | None] = mapped_column(String(SHORT))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint(
            "crawl_id", "image_url_key", "sha256", "list_name", "algorithm", "entry_hash",
            name="uq_matches_crawl_image_entry",
        ),
        Index("ix_matches_site_id_status", "site_id", "status"),
        Index("ix_matches_status_decision", "status", "decision"),
        Index("ix_matches_image_url_key", "image_url_key"),
        Index("ix_matches_entry_hash", "entry_hash"),
        # Retro-match's matches have no crawl (migration 0005).
        Index("uq_matches_retro_image_entry", "image_url_key", "sha256", "list_name",
              "algorithm", "entry_hash", unique=True, sqlite_where=text("crawl_id IS NULL"),
              postgresql_where=text("crawl_id IS NULL")),
        one_of("decision", MatchDecision),
        one_of("status", MatchStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawls.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    image_url: Mapped[str] = mapped_column(Text)
    image_url_key: Mapped[str] = mapped_column(String(SHA256_LEN))
    page_url: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    list_name: Mapped[str] = mapped_column(String(SHORT))
    list_kind: Mapped[str] = mapped_column(String(20), default="block")
    category: Mapped[str] = mapped_column(String(SHORT), default="")
    source: Mapped[str] = mapped_column(String(SHORT), default="")
    algorithm: Mapped[str] = mapped_column(String(50))
    entry_hash: Mapped[str] = mapped_column(String(SHORT))
    query_hash: Mapped[str] = mapped_column(String(SHORT))
    distance: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(Text, default="")
    source_id: Mapped[str] = mapped_column(String(SHORT), default="")
    decision: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), default=MatchStatus.NEW.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(SHORT))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """A rejected match: the same image URL + list entry is not reported again."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("image_url_key", "list_name", "algorithm", "entry_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_url: Mapped[str] = mapped_column(Text)
    image_url_key: Mapped[str] = mapped_column(String(SHA256_LEN))
    list_name: Mapped[str] = mapped_column(String(SHORT))
    algorithm: Mapped[str] = mapped_column(String(50))
    entry_hash: Mapped[str] = mapped_column(String(SHORT))
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EntryFeedback(Base):
    """A list entry an analyst rejected (a false positive), kept so it can go back to the
    list's authority (`spinneret lists feedback NAME`)."""

    __tablename__ = "entry_feedback"
    __table_args__ = (
        Index("ix_entry_feedback_list_name_at", "list_name", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_name: Mapped[str] = mapped_column(String(SHORT))
    algorithm: Mapped[str] = mapped_column(String(50))
    entry_hash: Mapped[str] = mapped_column(String(SHORT))
    source_id: Mapped[str] = mapped_column(String(SHORT), default="")
    label: Mapped[str] = mapped_column(Text, default="")
    match_id: Mapped[int | None] = mapped_column(ForeignKey("matches.id", ondelete="SET NULL"))
    image_url: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(SHORT))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_site_id_status", "site_id", "status"),
        one_of("status", NoticeStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=NoticeStatus.OPEN.value)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    reminder_count: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None]
    owner_token_nonce: Mapped[str | None] = mapped_column(String(100))


class NoticeItem(Base):
    __tablename__ = "notice_items"
    __table_args__ = (
        UniqueConstraint("notice_id", "match_id"),
        Index("ix_notice_items_status_last_checked_at", "status", "last_checked_at"),
        one_of("status", NoticeItemStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    match_id: Mapped[int | None] = mapped_column(ForeignKey("matches.id", ondelete="SET NULL"))
    image_url: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    first_detected: Mapped[datetime]
    list_name: Mapped[str] = mapped_column(String(SHORT))
    source: Mapped[str] = mapped_column(String(SHORT), default="")
    category: Mapped[str] = mapped_column(String(SHORT), default="")
    label: Mapped[str] = mapped_column(Text, default="")
    algorithm: Mapped[str] = mapped_column(String(50))
    distance: Mapped[int] = mapped_column(Integer)
    reference_id: Mapped[str] = mapped_column(String(SHORT), default="")
    status: Mapped[str] = mapped_column(String(20), default=NoticeItemStatus.OPEN.value)
    removed_at: Mapped[datetime | None]
    #: Why the recheck closed the item (e.g. "HTTP 404", "no longer matches"); None if open.
    closed_reason: Mapped[str | None] = mapped_column(Text)
    time_to_removal_s: Mapped[float | None] = mapped_column(Float)
    last_checked_at: Mapped[datetime | None]
    etag: Mapped[str | None] = mapped_column(String(SHORT))
    last_modified: Mapped[str | None] = mapped_column(String(100))


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_notice_id", "notice_id"),
        one_of("channel", DeliveryChannel),
        one_of("kind", DeliveryKind),
        one_of("status", DeliveryStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default=DeliveryKind.INITIAL.value)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Also the idempotency key sent with webhooks and the e-mail Message-ID.
    message_id: Mapped[str] = mapped_column(String(SHORT), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # Where the recipient came from (CONTACT_SOURCES): the site's registration, a manual
    # override, the host's security.txt or the network's RDAP abuse contact.
    recipient_source: Mapped[str] = mapped_column(
        String(20), default="registered", server_default=text("'registered'"))


class ContactCacheEntry(Base):
    """What a lookup found for one host (security.txt, then RDAP), kept until `expires_at`.

    `source` is the lookup that gave the contacts, or "none" when nothing was found (a
    negative entry, kept for a shorter time); `errors` says what failed on the way."""

    __tablename__ = "contact_cache"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(SHORT), unique=True)
    contacts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(20))
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ContactOverride(Base):
    """An operator's choice of recipient for a host: it wins over everything else."""

    __tablename__ = "contact_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(SHORT), unique=True)
    email: Mapped[str] = mapped_column(String(SHORT))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(SHORT))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OwnerResponse(Base):
    __tablename__ = "owner_responses"
    __table_args__ = (one_of("action", OwnerAction),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_target", "target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(SHORT))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(SHORT), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Report(Base):
    """A URL someone reported: its page and the images on it fetched once (one hop), matched
    like crawled images. `crawl_id` is the one-page crawl record its images are recorded
    under; `site_id` the site its host belongs to (registered, or made for the report)."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_created_at", "created_at"),
        Index("ix_reports_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(SHORT))  # token name, or "cli"
    status: Mapped[str] = mapped_column(String(20), default="queued")
    reason: Mapped[str | None] = mapped_column(Text)  # why failed / why matched went no further
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawls.id", ondelete="SET NULL"))
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    images_found: Mapped[int] = mapped_column(Integer, default=0)
    images_hashed: Mapped[int] = mapped_column(Integer, default=0)
    images_skipped: Mapped[int] = mapped_column(Integer, default=0)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
