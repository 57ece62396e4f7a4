"""The notices operations the CLI, API and worker call: one object built from settings."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.contacts import ContactResolver, Resolution
from spinneret.notices.errors import NoticeError
from spinneret.notices.outbox import Outbox, OutboxResult, resend
from spinneret.notices.policy import (
    CollectResult,
    FollowUpResult,
    audit,
    collect,
    follow_up,
    seal_due,
    send_now,
)
from spinneret.notices.ports import RecheckPorts
from spinneret.notices.queries import list_notices, notice_view
from spinneret.notices.recheck import Rechecker, RecheckResult
from spinneret.notices.recipients import sites_needing_lookup
from spinneret.notices.review import ReviewItem, confirm_review, reject_review, review_queue
from spinneret.notices.stats import SiteStats, site_stats
from spinneret.notices.types import NoticeView
from spinneret.records.db import Database
from spinneret.records.sites import to_record
from spinneret.records.states import NoticeStatus

log = logging.getLogger(__name__)


@dataclass
class PolicyResult:
    collected: CollectResult
    sealed: list[int]
    sent_now: list[int] = field(default_factory=list)


class NoticeService:
    """`recheck`: the recheck's fetcher and hasher (`spinneret.runtime.recheck` wires them);
    without them everything but the recheck works."""

    def __init__(self, db: Database, settings, *, clock: Clock | None = None,
                 rng: random.Random | None = None, recheck: RecheckPorts | None = None,
                 contact_lookup: dict | None = None) -> None:
        """`contact_lookup`: `ContactResolver` options (tests: `http_resolver`,
        `addresses`)."""
        self.contact_lookup = dict(contact_lookup or {})
        self.db = db
        self.settings = settings
        self.clock = clock or SystemClock()
        self.rng = rng
        self.recheck_ports = recheck

    @classmethod
    def from_settings(cls, settings, *, clock: Clock | None = None,
                      recheck: RecheckPorts | None = None) -> NoticeService:
        db = Database.from_settings(settings)
        db.upgrade()
        return cls(db, settings, clock=clock, recheck=recheck)

    def rechecker(self) -> Rechecker:
        return Rechecker(self.db, self.settings, ports=self.recheck_ports, clock=self.clock)

    # --- grouping and outbox ------------------------------------------------------------

    def apply_policy(self, *, now: bool = False, actor: str = "cli",
                     notice_ids: list[int] | None = None) -> PolicyResult:
        """Group new matches into notices and seal notices whose window has ended; with
        `now`, also seal the open ones (or `notice_ids`) at once, audited as `actor`."""
        window_s = self.settings.notice_batch_window_s
        with self.db.session() as session:
            collected = collect(session, clock=self.clock, window_s=window_s)
            sealed = seal_due(session, clock=self.clock, window_s=window_s)
            early = send_now(session, clock=self.clock, actor=actor, window_s=window_s,
                             notice_ids=notice_ids) if now else []
        return PolicyResult(collected, sealed, early)

    def outbox(self) -> Outbox:
        return Outbox.from_settings(self.db, self.settings, clock=self.clock, rng=self.rng)

    async def send_once(self, limit: int = 100, *, now: bool = False, actor: str = "cli",
                        notice_ids: list[int] | None = None) -> OutboxResult:
        """One outbox pass: apply the grouping policy, then send every due delivery. `now`:
        open notices (all, or `notice_ids`) do not wait for their window to end."""
        await self.prepare_contacts()
        self.apply_policy(now=now, actor=actor, notice_ids=notice_ids)
        return await self.outbox().run_once(limit)

    def contacts(self) -> ContactResolver:
        return ContactResolver.from_settings(self.db, self.settings, clock=self.clock,
                                             **self.contact_lookup)

    async def prepare_contacts(self) -> list[Resolution]:
        """Look up (or take from the cache) the contacts of every site without registered
        ones that is about to be notified, so the policy finds them. Never raises: a
        lookup that fails is recorded in the host's cache entry, and such a site's notice
        is sealed without a recipient (`failed`, as any notice without a channel)."""
        with self.db.session(readonly=True) as session:
            sites = [to_record(site) for site in sites_needing_lookup(session)]
        if not sites:
            return []
        resolver = self.contacts()
        found = []
        for site in sites:
            try:
                found.append(await resolver.resolve(site.base_url, site=site))
            except Exception:  # one site's lookup must not keep the others' notices back
                log.exception("contact lookup for site %s failed", site.name)
        return found

    async def recheck_once(self, limit: int = 500) -> tuple[RecheckResult, FollowUpResult]:
        """One recheck pass over due items, then reminders/escalations for what is still up."""
        checked = await self.rechecker().run_once(limit)
        return checked, self.follow_up()

    async def recheck_notice(self, notice_id: int, *, actor: str) -> RecheckResult:
        """Recheck every item of one sent notice now, whatever its schedule (audited)."""
        view = self.show(notice_id)  # NoticeNotFound
        if view.status == NoticeStatus.OPEN:
            raise NoticeError(f"notice {notice_id} has not been sent yet: nothing to recheck")
        checked = await self.rechecker().run_once(len(view.items), notice_id)
        with self.db.session() as session:
            audit(session, self.clock.now(), actor, "notice.recheck", f"notice:{notice_id}",
                  checked=checked.checked, removed=len(checked.removed),
                  still_up=len(checked.present), unknown=len(checked.unknown))
        return checked

    def follow_up(self) -> FollowUpResult:
        with self.db.session() as session:
            return follow_up(session, clock=self.clock,
                             reminder_after_s=self.settings.reminder_after_s,
                             max_reminders=self.settings.max_reminders)

    # --- reading -------------------------------------------------------------------------

    def list(self, *, site: str | None = None, statuses: tuple[str, ...] = ()) -> list[NoticeView]:
        with self.db.session() as session:
            return list_notices(session, site=site, statuses=statuses,
                                window_s=self.settings.notice_batch_window_s)

    def show(self, notice_id: int) -> NoticeView:
        with self.db.session() as session:
            return notice_view(session, notice_id, window_s=self.settings.notice_batch_window_s)

    def resend(self, notice_id: int, *, actor: str = "cli") -> int:
        with self.db.session() as session:
            return resend(session, notice_id, clock=self.clock, actor=actor)

    def stats(self) -> list[SiteStats]:
        with self.db.session() as session:
            return site_stats(session)

    # --- review --------------------------------------------------------------------------

    def review_queue(self, *, site_id: int | None = None) -> list[ReviewItem]:
        """One item per image waiting for a decision, oldest first."""
        with self.db.session() as session:
            return review_queue(session, site_id=site_id)

    @property
    def review_consensus(self) -> int:
        """How many distinct analysts decide a review item (`review_consensus`)."""
        return int(getattr(self.settings, "review_consensus", 1))

    def confirm(self, image_id: int, *, by: str, note: str = "") -> str:
        """QUEUED, ALREADY_NOTIFIED / ALREADY_REMOVED, or PENDING while the consensus is
        not reached (see `notices.review`)."""
        with self.db.session() as session:
            return confirm_review(session, image_id, by=by, note=note, clock=self.clock,
                                  consensus=self.review_consensus)

    def reject(self, image_id: int, *, by: str, note: str = "") -> str:
        """REJECTED, or PENDING. Needs a note (`ReviewNoteRequired` without one)."""
        with self.db.session() as session:
            return reject_review(session, image_id, by=by, note=note, clock=self.clock,
                                 consensus=self.review_consensus)
