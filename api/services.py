"""What the handlers share: settings, database, store, the following matcher, crawls."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from spinneret.api.audit_limit import RefusalAuditLimit
from spinneret.api.auth import Auth
from spinneret.api.crawls import CrawlManager
from spinneret.api.reports import ReportManager
from spinneret.matcher.following import FollowingMatcher
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.store import FingerprintStore
from spinneret.notices.clock import Clock
from spinneret.notices.links import OwnerLinks, load_secret_key
from spinneret.records.db import Database
from spinneret.runtime.recheck import notice_service

log = logging.getLogger(__name__)


class Services:
    def __init__(self, context: Any, db: Database, clock: Clock) -> None:
        self.context = context
        self.settings = context.settings
        self.db = db
        self.clock = clock
        self.secret_key = load_secret_key(self.settings)
        self.auth = Auth(db, self.secret_key)
        self.links = OwnerLinks.from_settings(self.settings, clock=clock)
        self.notices = notice_service(db, self.settings, clock=clock)
        self.hash_options = HashOptions.from_settings(self.settings)
        self.crawls = CrawlManager(context)
        self.reports = ReportManager(self)
        self.metrics = CollectorRegistry(auto_describe=False)
        self.api_images_hashed = Counter(
            "spinneret_api_images_hashed", "Images hashed by POST /api/v1/match",
            registry=self.metrics)
        self.refusal_audit = RefusalAuditLimit()
        self.audit_refusals_dropped = Counter(
            "spinneret_audit_refusals_dropped",
            "Refused calls without a valid token not audited: over the per-address cap",
            registry=self.metrics)
        self._matcher: FollowingMatcher | None = None
        self._matcher_lock = asyncio.Lock()

    @property
    def store(self) -> FingerprintStore:
        return self.context.store

    @property
    def matcher_built(self) -> FollowingMatcher | None:
        return self._matcher

    async def matcher(self) -> FollowingMatcher:
        """Built on first use (in a thread: it reads every list), started once, then kept
        in step with the store: a lookup first applies any change it has not seen yet."""
        if self._matcher is None:
            async with self._matcher_lock:
                if self._matcher is None:
                    self._matcher = await asyncio.to_thread(self.context.following_matcher)
        matcher = self._matcher
        if await asyncio.to_thread(self.store.version) != matcher.version:
            await asyncio.to_thread(matcher.sync_now)
        return matcher

    async def close(self) -> None:
        from spinneret.runtime.retro_match import drain_background

        await drain_background()  # a retro-match started by an import finishes first
        await self.crawls.close()
        await self.reports.close()
        if self._matcher is not None:
            await asyncio.to_thread(self._matcher.stop)
            self._matcher = None


SERVICES = web.AppKey("services", Services)
