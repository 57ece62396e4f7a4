"""Plain frozen dataclasses that cross the records boundary (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class NewSite:
    """What a caller gives to register a site. None limits mean "the settings' default"."""

    base_url: str
    name: str
    owner_email: str = ""  # "" = none: notices then go only to the webhook
    abuse_email: str | None = None
    webhook_url: str | None = None
    max_pages: int | None = None
    max_depth: int | None = None
    rate_per_s: float | None = None
    ignore_robots: bool = False
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # empty = the base URL's host


@dataclass(frozen=True)
class SiteRecord:
    id: int
    name: str
    base_url: str
    hosts: tuple[str, ...]
    include_patterns: tuple[str, ...]
    exclude_patterns: tuple[str, ...]
    owner_email: str
    abuse_email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    max_pages: int | None
    max_depth: int | None
    rate_per_s: float | None
    ignore_robots: bool
    created_at: datetime
    updated_at: datetime
    origin: str = "registered"  # or "reported": made for a reported URL (records.reports)


@dataclass(frozen=True)
class CrawlRecord:
    id: int
    site_id: int
    site_name: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pages_fetched: int
    images_found: int
    images_hashed: int
    images_skipped: int
    skipped_reasons: dict[str, int]  # images not hashed, by reason
    errors: dict[str, int]
    duration_s: float | None
    urls_skipped: dict[str, int] = field(default_factory=dict)  # pages/links not followed
    failure_reason: str | None = None  # why a "failed" crawl failed


@dataclass(frozen=True)
class CrawlFinish:
    """Counters a crawl ends with. None hashed/skipped counts are taken from recorded images."""

    status: str = "finished"
    pages_fetched: int = 0
    images_found: int = 0
    images_hashed: int | None = None
    images_skipped: int | None = None
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    duration_s: float | None = None
    urls_skipped: dict[str, int] = field(default_factory=dict)
    failure_reason: str | None = None


class _MatchLike(Protocol):
    list: str
    list_kind: str
    category: str
    source: str
    algorithm: str
    entry_hash: str
    query_hash: str
    distance: int
    label: str
    source_id: str
    decision: str


@dataclass(frozen=True)
class MatchRecordInput:
    """One list hit of an image, as the matcher reports it (`matcher.matching.Match`)."""

    list_name: str
    algorithm: str
    entry_hash: str
    query_hash: str
    distance: int
    decision: str
    list_kind: str = "block"
    category: str = ""
    source: str = ""
    label: str = ""
    source_id: str = ""

    @classmethod
    def from_match(cls, match: _MatchLike) -> MatchRecordInput:
        """Copy a `matcher.matching.Match` (duck-typed: records does not import matcher)."""
        return cls(
            list_name=match.list, list_kind=match.list_kind, category=match.category,
            source=match.source, algorithm=match.algorithm, entry_hash=match.entry_hash,
            query_hash=match.query_hash, distance=match.distance, label=match.label,
            source_id=match.source_id, decision=match.decision,
        )


@dataclass(frozen=True)
class MatchRecord:
    id: int
    crawl_id: int | None
    site_id: int
    image_url: str
    page_url: str | None
    sha256: str
    list_name: str
    list_kind: str
    category: str
    source: str
    algorithm: str
    entry_hash: str
    query_hash: str
    distance: int
    label: str
    source_id: str
    decision: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SeenImageRecord:
    id: int
    url: str
    sha256: str
    site_id: int
    first_seen: datetime
    last_seen: datetime
    last_crawl_id: int | None
    page_url: str | None
    width: int | None
    height: int | None
    format: str | None


@dataclass(frozen=True)
class ImageEventRecord:
    id: int
    crawl_id: int
    site_id: int
    url: str
    sha256: str
    page_url: str | None
    status: str
    skip_reason: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Evidence:
    """One list entry an image matched: the listed hash next to the image's own."""

    match_id: int
    list_name: str
    list_kind: str
    category: str
    source: str
    algorithm: str
    entry_hash: str  # the hash in the list
    image_hash: str  # the image's hash (of the variant that matched)
    distance: int
    label: str
    source_id: str
    decision: str
    status: str
    status_label: str
    found_at: datetime
    crawl_id: int | None
    sightings: int = 1  # recorded rows (crawls) of this entry + algorithm


@dataclass(frozen=True)
class ImageNoticeItem:
    notice_id: int
    notice_reference: str
    reference: str
    status: str
    removed_at: datetime | None
    list_name: str


@dataclass(frozen=True)
class ImageReview:
    """An analyst's decision about an image (recorded once per match it covered)."""

    decision: str  # confirm | reject
    note: str
    by: str
    at: datetime


@dataclass(frozen=True)
class MatchedImage:
    """One crawled image (URL + content SHA-256) with every list entry it matched."""

    id: int  # the images_seen row: also the id of its review item
    site_id: int
    site_name: str
    image_url: str
    page_url: str | None
    sha256: str
    first_found: datetime
    last_found: datetime
    decision: str  # auto when any entry decided auto, else review
    state: str  # what happened to it, in words
    evidence: tuple[Evidence, ...]
    crawls: int = 1
    notice_items: tuple[ImageNoticeItem, ...] = ()
    reviews: tuple[ImageReview, ...] = ()

    @property
    def best(self) -> Evidence:
        return self.evidence[0]


@dataclass(frozen=True)
class ReportRecord:
    """A reported URL. `status` is derived when read: a matched report whose images are in a
    notice reads "noticed", and "removed" once the recheck closed all those items."""

    id: int
    url: str
    note: str
    reporter: str
    status: str
    reason: str | None
    site_id: int | None
    site_name: str | None
    site_origin: str | None
    crawl_id: int | None
    pages_fetched: int
    images_found: int
    images_hashed: int
    images_skipped: int
    matches: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    notice_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class StoredHash:
    """One hash of a seen image's content (`records.image_hashes`), never its bytes."""

    algorithm: str
    hash: str
    quality: int | None = None


@dataclass(frozen=True)
class StoredHashColumn:
    """Every stored hash of one algorithm, packed: what the retro-match index is built from.
    `owners[i]` (ASCII bytes) is the content SHA-256 that digest i of `digests` (each
    `digest_size` bytes, concatenated) belongs to. Packed because 10M of them as Python
    strings would take ~2.5 GB."""

    algorithm: str
    owners: Any  # numpy array of dtype S64
    digests: bytes
    digest_size: int

    def __len__(self) -> int:
        return len(self.owners)


@dataclass(frozen=True)
class ListedEntry:
    """A listed hash as a match recorded it: what a recheck compares the served image with."""

    algorithm: str
    hash: str
    label: str = ""
    source_id: str = ""


@dataclass(frozen=True)
class DeliveryRecord:
    """One outbox row: one message of one notice to one recipient on one channel."""

    id: int
    notice_id: int
    channel: str
    recipient: str
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    message_id: str  # also the webhook idempotency key and the e-mail Message-ID
    created_at: datetime
    sent_at: datetime | None
    recipient_source: str = "registered"  # override, registered, security.txt or rdap


@dataclass(frozen=True)
class NoticeRecord:
    id: int
    site_id: int
    status: str
    window_start: datetime
    window_end: datetime
    reference: str
    created_at: datetime
    updated_at: datetime
    reminder_count: int
    escalated_at: datetime | None
    owner_token_nonce: str | None


@dataclass(frozen=True)
class NoticeItemRecord:
    id: int
    notice_id: int
    match_id: int | None
    image_url: str
    page_url: str | None
    first_detected: datetime
    list_name: str
    source: str
    category: str
    label: str
    algorithm: str
    distance: int
    reference_id: str
    status: str
    removed_at: datetime | None
    closed_reason: str | None
    time_to_removal_s: float | None
    last_checked_at: datetime | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class RecheckDue:
    """A notice item due a recheck, with what the recheck compares the served image with."""

    item_id: int
    url: str
    status: str
    #: The listed entries that matched the image when it was found (None: not recorded).
    evidence: list[ListedEntry] | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class OwnerResponseRecord:
    """What a site owner answered through the notice's signed link."""

    id: int
    notice_id: int
    action: str
    comment: str
    at: datetime
    ip: str | None


@dataclass(frozen=True)
class SiteItemRow:
    """One notice item with its notice and site, for per-site statistics."""

    site: str
    notice_id: int
    notice_status: str
    item_status: str
    time_to_removal_s: float | None


@dataclass(frozen=True)
class DeploymentCounts:
    """Whole-deployment totals for the metrics scrape."""

    images_hashed: int
    matches_by_decision: dict[str, int]
    deliveries: list[tuple[str, str, int]]  # (channel, status, count)
    times_to_removal_s: list[float]
    pages_fetched: int  # as recorded in SQL
    running_crawls: list[tuple[int, int]]  # (crawl id, pages recorded so far)


@dataclass(frozen=True)
class NoticeFigures:
    """The dashboard's notice figures."""

    still_online: int  # distinct image URLs in live items
    open_notices: int
    times_to_removal_s: list[float]
    removed_at: list[datetime]  # removals since the day asked for
