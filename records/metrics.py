"""Read-only totals for the metrics endpoint and the dashboard, as dataclasses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spinneret.records.models import Crawl, Delivery, ImageEvent, Match, Notice, NoticeItem
from spinneret.records.states import CrawlStatus, ImageEventStatus, NoticeItemStatus
from spinneret.records.types import DeploymentCounts, NoticeFigures

LIVE_ITEM_STATUSES = (NoticeItemStatus.OPEN, NoticeItemStatus.REAPPEARED)


def _times_to_removal(session: Session) -> list[float]:
    return list(session.scalars(select(NoticeItem.time_to_removal_s).where(
        NoticeItem.time_to_removal_s.is_not(None))))


def deployment_counts(session: Session) -> DeploymentCounts:
    hashed = session.scalar(select(func.count()).select_from(ImageEvent)
                            .where(ImageEvent.status == ImageEventStatus.HASHED)) or 0
    by_decision = session.execute(
        select(Match.decision, func.count()).group_by(Match.decision)).all()
    deliveries = session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .group_by(Delivery.channel, Delivery.status)).all()
    pages = session.scalar(select(func.sum(Crawl.pages_fetched))) or 0
    running = session.execute(select(Crawl.id, Crawl.pages_fetched)
                              .where(Crawl.status == CrawlStatus.RUNNING)).all()
    return DeploymentCounts(
        images_hashed=hashed, matches_by_decision=dict(by_decision),
        deliveries=[tuple(row) for row in deliveries],
        times_to_removal_s=_times_to_removal(session), pages_fetched=pages,
        running_crawls=[tuple(row) for row in running],
    )


def notice_figures(session: Session, *, open_statuses: Iterable[str],
                   removed_since: datetime) -> NoticeFigures:
    still_online = session.scalar(
        select(func.count(func.distinct(NoticeItem.image_url)))
        .where(NoticeItem.status.in_(LIVE_ITEM_STATUSES))) or 0
    open_notices = session.scalar(select(func.count()).select_from(Notice)
                                  .where(Notice.status.in_(list(open_statuses)))) or 0
    removed_at = list(session.scalars(select(NoticeItem.removed_at).where(
        NoticeItem.removed_at >= removed_since)))
    return NoticeFigures(still_online, open_notices, _times_to_removal(session), removed_at)
