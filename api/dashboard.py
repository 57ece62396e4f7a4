"""Figures for the dashboard: images matched today, review queue, images still online, open
notices, time-to-removal, removals per day, and the server-rendered SVG bar chart of
removals. Everything counts images (an image is one URL + content), never match rows: a
crawl records a row per list entry and algorithm, and every re-crawl records them again."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from spinneret.notices.review import review_queue_depth
from spinneret.records.db import Database
from spinneret.records.matched_images import count_images
from spinneret.records.metrics import notice_figures
from spinneret.records.models import Match
from spinneret.records.states import NoticeStatus

OPEN_NOTICE_STATUSES = (NoticeStatus.OPEN, NoticeStatus.SENT, NoticeStatus.ACKNOWLEDGED,
                        NoticeStatus.DISPUTED, NoticeStatus.FAILED)


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    maximum: int
    bar_width: float


@dataclass(frozen=True)
class Figures:
    images_matched_today: int  # distinct images with a block-list match found today
    urls_matched_today: int  # their distinct URLs
    pending_review: int  # images waiting for an analyst
    still_online: int  # image URLs in live notice items (not removed yet)
    open_notices: int
    median_ttr_s: float | None
    removals: Chart


def figures(db: Database, *, now: datetime | None = None, days: int = 30) -> Figures:
    now = now or datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = (midnight - timedelta(days=days - 1)).date()
    with db.session(readonly=True) as session:
        images_today, urls_today = count_images(
            session, (Match.created_at >= midnight, Match.list_kind == "block"))
        pending_review = review_queue_depth(session)
        notices = notice_figures(
            session, open_statuses=OPEN_NOTICE_STATUSES,
            removed_since=datetime.combine(first_day, datetime.min.time(), UTC))
    still_online, open_notices = notices.still_online, notices.open_notices
    ttr, removed_at = notices.times_to_removal_s, notices.removed_at
    per_day: dict[date, int] = {}
    for at in removed_at:
        per_day[at.date()] = per_day.get(at.date(), 0) + 1
    counts = [(first_day + timedelta(days=i), 0) for i in range(days)]
    counts = [(day, per_day.get(day, 0)) for day, _ in counts]
    return Figures(images_today, urls_today, pending_review, still_online, open_notices, statistics.median(ttr) if ttr else None,
                   bar_chart(counts))


def bar_chart(counts: list[tuple[date, int]], width: int = 600, height: int = 160) -> Chart:
    """Bar geometry for an inline SVG (the template draws it; no JavaScript)."""
    maximum = max((c for _, c in counts), default=0)
    plot_height = height - 20  # room for the axis labels
    slot = width / max(len(counts), 1)
    bars = []
    for i, (day, count) in enumerate(counts):
        h = (count / maximum * (plot_height - 10)) if maximum else 0.0
        bars.append(Bar(day, count, round(i * slot + 1, 2), round(plot_height - h, 2),
                        round(h, 2)))
    return Chart(width, height, bars, maximum, round(max(slot - 2, 1), 2))
