"""Per-site notice statistics: open / removed / disputed counts and time-to-removal."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinneret.records.models import Notice, NoticeItem, Site


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
    rows = session.execute(
        select(Site.name, Notice.id, Notice.status, NoticeItem.status,
               NoticeItem.time_to_removal_s)
        .join(Notice, Notice.site_id == Site.id)
        .join(NoticeItem, NoticeItem.notice_id == Notice.id)
    ).all()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    notices: dict[str, set[int]] = defaultdict(set)
    ttr: dict[str, list[float]] = defaultdict(list)
    for site, notice_id, notice_status, item_status, time_to_removal in rows:
        notices[site].add(notice_id)
        if notice_status == "disputed" and item_status != "removed":
            counts[site]["disputed"] += 1
        elif item_status == "removed":
            counts[site]["removed"] += 1
        else:
            counts[site]["open"] += 1
        if item_status == "removed" and time_to_removal is not None:
            ttr[site].append(time_to_removal)
    return [
        SiteStats(
            site=site, open=counts[site]["open"], removed=counts[site]["removed"],
            disputed=counts[site]["disputed"], notices=len(notices[site]),
            median_time_to_removal_s=statistics.median(ttr[site]) if ttr[site] else None,
            p90_time_to_removal_s=percentile(ttr[site], 0.9),
        )
        for site in sorted(notices)
    ]
