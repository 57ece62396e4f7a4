"""Reports submitted through the API and the UI: the per-token hourly limit, and where the
work runs (Celery workers when the pipeline is Celery, else an asyncio task in this server,
as crawls started here run)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from spinneret.records.reports import ReportRepository, check_report_url
from spinneret.records.types import ReportRecord
from spinneret.runtime.reports import HourlyLimit, build_processor, dispatch, run_report

log = logging.getLogger(__name__)


class ReportLimited(Exception):
    """Over the per-token hourly limit; `retry_after_s` until the next report is taken."""

    def __init__(self, per_hour: int, retry_after_s: int) -> None:
        super().__init__(f"at most {per_hour} reports per hour per token "
                         f"(SPINNERET_REPORTS_PER_HOUR); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ReportManager:
    def __init__(self, services: Any) -> None:
        self._svc = services
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, url: str, note: str, token_id: int, reporter: str) -> ReportRecord:
        """Check the URL, count it against the token's limit, record it queued, start it."""
        svc = self._svc
        url = check_report_url(url)  # a refused URL does not use up the caller's limit
        per_hour = svc.settings.reports_per_hour
        limit = HourlyLimit(svc.context.redis, svc.settings.redis_key_prefix, per_hour)
        retry = await asyncio.to_thread(limit.take, f"token{token_id}")
        if retry is not None:
            raise ReportLimited(per_hour, retry)
        report = ReportRepository(svc.db).create(url, note, reporter)
        if not await asyncio.to_thread(dispatch, svc.context, report.id):
            task = asyncio.create_task(self._run_here(report.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return report

    async def _run_here(self, report_id: int) -> None:
        try:
            processor = build_processor(self._svc.context, await self._svc.matcher())
            await run_report(self._svc.context, report_id, processor)
        except Exception:  # run_report records its own failures; this is the unexpected
            log.exception("report %s could not be run", report_id)

    async def wait(self) -> None:
        """Until every report started here has ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
