"""The recheck's ports, wired: the crawler's conditional GET and the matcher's crawl rules
(`notices.ports`). Everything that builds a `NoticeService` to run rechecks takes them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from spinneret.crawler.conditional import ConditionalFetcher
from spinneret.matcher.errors import MatcherError
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.matching import Thresholds
from spinneret.matcher.service import matches_listed
from spinneret.matcher.store import ListEntry
from spinneret.notices.clock import Clock
from spinneret.notices.ports import RecheckPorts
from spinneret.notices.service import NoticeService
from spinneret.records.db import Database
from spinneret.records.types import ListedEntry


def still_matches(body: bytes, evidence: Sequence[ListedEntry | ListEntry], settings) -> bool:
    """Does `body` still match the listed entries that matched the image (`evidence`), under
    exactly the rules the crawl used? A body that no longer decodes does not."""
    entries = [ListEntry(e.algorithm, e.hash, e.label, e.source_id) for e in evidence]
    try:
        return bool(matches_listed(
            body, entries, Thresholds.from_settings(settings),
            HashOptions.from_settings(settings), dihedral=settings.match_dihedral))
    except MatcherError:
        return False


def recheck_ports(settings) -> RecheckPorts:
    def compare(body: bytes, evidence: Sequence[ListedEntry]) -> bool:
        return still_matches(body, evidence, settings)

    return RecheckPorts(open_fetcher=partial(ConditionalFetcher.from_settings, settings),
                        still_matches=compare)


def notice_service(db: Database, settings, *, clock: Clock | None = None) -> NoticeService:
    """The notices service with the recheck wired in."""
    return NoticeService(db, settings, clock=clock, recheck=recheck_ports(settings))


def notice_service_from_settings(settings) -> NoticeService:
    """As `NoticeService.from_settings` (opens and migrates the database), recheck wired."""
    return NoticeService.from_settings(settings, recheck=recheck_ports(settings))
