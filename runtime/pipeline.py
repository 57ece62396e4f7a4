"""Hash, match and record one crawled image: the step the in-process pool and the Celery
task both run, so the two pipelines behave the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from spinneret.matcher.errors import UnhashableImage
from spinneret.matcher.flood import FloodGuard, Tripped
from spinneret.matcher.hash_cache import HashCache
from spinneret.matcher.hashing import HashOptions, ImageHashes
from spinneret.matcher.matching import Match
from spinneret.matcher.service import hash_for_matching, variant_algorithms
from spinneret.records.audit import AuditLog
from spinneret.records.db import Database
from spinneret.records.images import ImageRecorder, MatchRecordInput
from spinneret.records.types import StoredHash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageJob:
    """Where an image was found; its bytes travel beside it."""

    crawl_id: int
    site_id: int
    page_url: str
    image_url: str
    via: str = ""


@dataclass(frozen=True)
class ImageOutcome:
    status: str  # "hashed" | "skipped"
    sha256: str
    reason: str | None = None
    matches: list[Match] = field(default_factory=list)
    recorded: bool = True
    reused_hashes: bool = False


def stored_hashes(hashes: ImageHashes) -> list[StoredHash]:
    """What is kept of an image for retro-match: its hashes but the SHA-256 (the row's key
    already); never the bytes, nor the query variants (crop guesses, border trims, turns:
    up to 40 an image, and recomputed by the recheck anyway)."""
    return [StoredHash(v.algorithm, v.hex, v.quality) for v in hashes.values
            if v.algorithm != "sha256"]


class ImageProcessor:
    """Hash (or reuse hashes by SHA-256), match against the index, record the outcome."""

    def __init__(
        self,
        matcher,  # Matcher or FollowingMatcher: anything with match() and dihedral
        recorder: ImageRecorder,
        options: HashOptions,
        cache: HashCache | None = None,
        flood: FloodGuard | None = None,
    ) -> None:
        self._matcher = matcher
        self._recorder = recorder
        self._options = options
        self._cache = cache
        self._flood = flood

    def hashes_for(self, data: bytes, sha256: str) -> tuple[ImageHashes, bool]:
        """Hashes of `data` (whose SHA-256 is `sha256`) with every query variant matching
        needs (PDQ's rotations/flips among them with dihedral matching on), and whether they
        were reused from the cache."""
        dihedral = bool(getattr(self._matcher, "dihedral", False))
        with_variants = variant_algorithms(self._matcher)
        if self._cache is not None:
            cached = self._cache.get(sha256, self._options.algorithms, with_variants, dihedral)
            if cached is not None:
                return cached, True
        hashes = hash_for_matching(data, self._options, dihedral, with_variants)
        if self._cache is not None:
            self._cache.put(hashes, self._options.algorithms, with_variants, dihedral)
        return hashes, False

    def process(self, job: ImageJob, data: bytes) -> ImageOutcome:
        sha256 = HashCache.sha256_of(data)
        try:
            hashes, reused = self.hashes_for(data, sha256)
        except UnhashableImage as exc:
            return self.skip(job, sha256, exc.reason)
        matches = self._hold_flooding(self._matcher.match(hashes))
        recorded = self._recorder.record_image(
            crawl_id=job.crawl_id,
            site_id=job.site_id,
            page_url=job.page_url,
            image_url=job.image_url,
            sha256=sha256,
            width=hashes.width,
            height=hashes.height,
            format=hashes.format,
            matches=[MatchRecordInput.from_match(m) for m in matches],
            hashes=stored_hashes(hashes),
        )
        return ImageOutcome("hashed", sha256, matches=matches, recorded=recorded, reused_hashes=reused)

    def _hold_flooding(self, matches: list[Match]) -> list[Match]:
        """Count the image for the flood guard; a quarantined list's auto matches become
        review here at once (the matcher does the same once it has synced the quarantine)."""
        if self._flood is None:
            return matches
        held = self._flood.observe(m.list for m in matches if m.list_kind == "block")
        if not held:
            return matches
        return [replace(m, decision="review") if m.list in held and m.decision == "auto"
                else m for m in matches]

    def skip(self, job: ImageJob, sha256: str, reason: str) -> ImageOutcome:
        """Record that an image was not hashed, and why (idempotent like every record)."""
        recorded = self._recorder.record_skipped(
            crawl_id=job.crawl_id,
            site_id=job.site_id,
            page_url=job.page_url,
            image_url=job.image_url,
            sha256=sha256,
            reason=reason,
        )
        return ImageOutcome("skipped", sha256, reason=reason, recorded=recorded)


def audit_quarantine(db: Database, tripped: Tripped) -> None:
    """The flood guard quarantined a list: say so in the log and the audit log."""
    log.warning("list %s version %d quarantined: it matched %d of the %d images hashed since "
                "its import; its auto matches go to review until released", tripped.list,
                tripped.version, tripped.matches, tripped.images)
    AuditLog(db).write("flood-guard", "list.quarantine", f"list:{tripped.list}", {
        "version": tripped.version, "matches": tripped.matches, "images": tripped.images})
