"""Per-site notice statistics: open / removed / disputed counts and time-to-removal."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from spinneret.records import notices as notices_repo
from spinneret.records.states import NoticeItemStatus, NoticeStatus


@dataclass(frozen=True)
class SiteStats:
    site: str
    open: int  # items still online (open or reappeared)
    removed: int
    disputed: int  # items in disputed notices
    notices: int
    median_time_to_removal_s: float | None
    p90_time_to_removal_s: float | None


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (same as numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def site_stats(session: Session) -> list[SiteStats]:
    rows = notices_repo.items_by_site(session)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    notices: dict[str, set[int]] = defaultdict(set)
    ttr: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        site, removed = row.site, row.item_status == NoticeItemStatus.REMOVED
        notices[site].add(row.notice_id)
        if row.notice_status == NoticeStatus.DISPUTED and not removed:
            counts[site]["disputed"] += 1
        elif removed:
            counts[site]["removed"] += 1
        else:
            counts[site]["open"] += 1
        if removed and row.time_to_removal_s is not None:
            ttr[site].append(row.time_to_removal_s)
    return [
        SiteStats(
            site=site, open=counts[site]["open"], removed=counts[site]["removed"],
            disputed=counts[site]["disputed"], notices=len(notices[site]),
            median_time_to_removal_s=statistics.median(ttr[site]) if ttr[site] else None,
            p90_time_to_removal_s=percentile(ttr[site], 0.9),
        )
        for site in sorted(notices)
    ]
