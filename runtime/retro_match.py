"""Retro-match: when a list is imported or grows, match what it added against every image
already seen (the hashes kept in `image_hashes`), not by re-crawling.

1. The new entries of list version v: what the store set aside at import
   (`FingerprintStore.added_entries`: entries v has and v-1 had not).
2. Candidates: an index over the stored hashes (`matcher.retro_index.SeenHashIndex`),
   searched with those entries out to each algorithm's widest live radius.
3. A candidate content's stored hashes go through the live `Matcher` (every list, allow-lists
   included; the same distances, quality floors and weak-entry rules); only matches of the
   new entries count, so a weak entry still never decides alone.
4. Each image URL serving that content is rechecked first (`notices.recheck`'s fetcher:
   conditional GET through the SSRF guard): 404/410 or a vanished host counts as gone; a
   body served now is hashed again and matched again by the same rules; still matching, its
   matches are recorded with no crawl (`ImageRecorder.record_retro_matches`), so `auto`
   ones become notices and `review` ones review items like a crawl's.

The outcome is kept in Redis next to the list (`{prefix}:list:{<name>}:retro:<version>`) for
the CLI, the API and the UI: "v3 of list X matched 41 images seen before".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from spinneret.crawler.conditional import ConditionalFetcher
from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.columns import EntryColumns
from spinneret.matcher.errors import ListNotFound, UnhashableImage
from spinneret.matcher.hashing import HashOptions, ImageHashes
from spinneret.matcher.matching import Match, Matcher, Thresholds
from spinneret.matcher.retro_index import SeenHashIndex
from spinneret.matcher.service import hash_for_matching, variant_algorithms
from spinneret.matcher.store import FingerprintStore
from spinneret.notices.ports import ImageFetcher
from spinneret.notices.recheck import GONE, PRESENT, verdict
from spinneret.records.image_hashes import ImageHashRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.types import MatchRecordInput, SeenImageRecord, StoredHash

log = logging.getLogger(__name__)

RESULT_TTL_S = 90 * 86400
STATUSES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class RetroResult:
    list: str
    version: int
    status: str = "done"  # one of STATUSES
    new_entries: int = 0
    #: Seen contents with a stored hash near a new entry, and those the live rules match.
    candidates: int = 0
    contents_matched: int = 0
    #: Image URLs rechecked; still online and matching (recorded); gone (404/410, host
    #: gone: no notice); served but no longer matching; could not tell (5xx, timeouts).
    checked: int = 0
    matched: int = 0
    gone: int = 0
    changed: int = 0
    unknown: int = 0
    matches_recorded: int = 0
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.status in ("queued", "running"):
            return f"v{self.version} of list {self.list}: retro-match {self.status}"
        if self.status == "failed":
            return f"v{self.version} of list {self.list}: retro-match failed: {self.error}"
        # Worded exactly as issue 21 gives it ("images" also for one: scripts grep it).
        return f"v{self.version} of list {self.list} matched {self.matched} images seen before"

    def as_json(self) -> dict:
        return {**asdict(self), "summary": self.summary}


class RetroResults:
    """Retro-match outcomes per list version, in Redis beside the list."""

    def __init__(self, store: FingerprintStore) -> None:
        self._store = store

    def _key(self, name: str, version: int) -> str:
        return f"{self._store.list_keys(name).base}:retro:{version}"

    def put(self, result: RetroResult) -> None:
        key = self._key(result.list, result.version)
        self._store.client.set(key, json.dumps(asdict(result)), ex=RESULT_TTL_S)
        self._store.note_list_key(result.list, key)

    def get(self, name: str, version: int) -> RetroResult | None:
        """The outcome of that version's retro-match; None if it never ran (a list deleted
        and created again starts its versions anew, and forgets the old outcomes)."""
        raw = self._store.client.get(self._key(name, version))
        if raw is None:
            return None
        return RetroResult(**json.loads(raw))


class RetroMatcher:
    """Runs one list version's retro-match. `matcher`: the live one (anything with `match`
    and `dihedral`; a worker's `FollowingMatcher`), else built from the store."""

    def __init__(self, store: FingerprintStore, db, settings, *, matcher=None,
                 fetcher: ImageFetcher | None = None) -> None:
        self.store = store
        self.settings = settings
        self.hashes = ImageHashRepository(db)
        self.recorder = ImageRecorder(db)
        self.thresholds = Thresholds.from_settings(settings)
        self.options = HashOptions.from_settings(settings)
        self._matcher = matcher
        self.fetcher = fetcher

    def matcher(self):
        if self._matcher is None:
            self._matcher = Matcher.from_store(self.store, self.thresholds,
                                               dihedral=self.settings.match_dihedral)
        elif hasattr(self._matcher, "sync_now"):
            self._matcher.sync_now()  # the list just changed: do not wait for the poll
        return self._matcher

    async def run(self, name: str, version: int) -> RetroResult:
        """Retro-match version `version` of list `name`, record and keep the outcome."""
        results = RetroResults(self.store)
        results.put(RetroResult(name, version, "running"))
        try:
            result = await self._run(name, version)
        except Exception as exc:
            log.exception("retro-match of %s v%s failed", name, version)
            result = RetroResult(name, version, "failed", error=f"{type(exc).__name__}: {exc}")
            results.put(result)
            raise
        results.put(result)
        log.info("%s", result.summary)
        return result

    async def _run(self, name: str, version: int) -> RetroResult:
        try:
            info = self.store.get_list(name)
        except ListNotFound:
            return RetroResult(name, version, notes=["the list was deleted"])
        added = await asyncio.to_thread(self.store.added_entries, name, version)
        new_entries = sum(len(part) for part in added.values())
        if not new_entries:
            return RetroResult(name, version)
        if info.kind == "allow":
            # An allow-list suppresses matches, it never makes one.
            return RetroResult(name, version, new_entries=new_entries,
                               notes=["allow-list: nothing to report"])
        wanted = _entry_keys(name, added)
        contents, matching, sightings, matcher = await asyncio.to_thread(
            self._prepare, added, wanted)
        counts = _Counts()
        if sightings:
            if self.fetcher is not None:
                await self._check_all(self.fetcher, sightings, matcher, wanted, counts)
            else:
                async with ConditionalFetcher.from_settings(self.settings) as fetcher:
                    await self._check_all(fetcher, sightings, matcher, wanted, counts)
        return RetroResult(
            name, version, new_entries=new_entries, candidates=len(contents),
            contents_matched=len(matching), checked=len(sightings), **asdict(counts))

    def _prepare(self, added: Mapping[str, EntryColumns], wanted: set[tuple[str, str, str]]):
        """The CPU and SQL part: candidate contents, those whose stored hashes the live rules
        match to a new entry, and every URL seen serving one of those."""
        contents = self._candidates(added)
        matcher = self.matcher()
        stored = self.hashes.hashes_of(contents)
        matching = {sha for sha in contents
                    if _new_matches(matcher.match(_image_hashes(sha, stored.get(sha, []))),
                                    wanted)}
        return contents, matching, self.hashes.sightings(matching), matcher

    def _candidates(self, added: Mapping[str, EntryColumns]) -> set[str]:
        index = SeenHashIndex(self.thresholds)
        for algorithm in added:
            if algorithm == "sha256":  # the content key itself: no hash row needed
                column_owners = self._sha256_owners(added[algorithm])
                index.add(algorithm, column_owners, column_owners)
                continue
            column = self.hashes.column(algorithm)
            index.add_packed(algorithm, column.owners, column.digests, column.digest_size)
        return index.candidates(added)

    def _sha256_owners(self, part: EntryColumns) -> list[str]:
        seen = {s.sha256 for s in self.hashes.sightings(part.hexes())}
        return sorted(seen)

    async def _check_all(self, fetcher: ImageFetcher, sightings: list[SeenImageRecord],
                         matcher, wanted: set[tuple[str, str, str]], counts: _Counts) -> None:
        semaphore = asyncio.Semaphore(8)

        async def one(seen: SeenImageRecord):
            async with semaphore:
                return seen, await fetcher.fetch(seen.url, etag=None, last_modified=None)

        for seen, fetched in await asyncio.gather(*(one(s) for s in sightings)):
            # Served or gone only: whether it still matches is the live matcher's call below.
            found, _reason = verdict(fetched, previous="open", evidence=None,
                                     still_matches=_never_asked)
            if found == GONE:
                counts.gone += 1
                continue
            if found != PRESENT or fetched.body is None:
                counts.unknown += 1
                if len(counts.notes) < 5:  # why, for the operator (SSRF refusal, 503, ...)
                    counts.notes.append(f"{seen.url}: could not check: "
                                        f"{fetched.error or fetched.status}")
                continue
            matches, sha256 = await asyncio.to_thread(
                self._rematch, fetched.body, matcher, wanted)
            if not matches:
                counts.changed += 1
                continue
            counts.matched += 1
            counts.matches_recorded += await asyncio.to_thread(
                self.recorder.record_retro_matches, seen.site_id, seen.page_url, seen.url,
                sha256, [MatchRecordInput.from_match(m) for m in matches])

    def _rematch(self, body: bytes, matcher, wanted: set[tuple[str, str, str]]
                 ) -> tuple[list[Match], str]:
        """The new entries' matches of what the URL serves now, hashed as a crawl hashes."""
        sha256 = hashlib.sha256(body).hexdigest()
        try:
            hashes = hash_for_matching(body, self.options, bool(matcher.dihedral),
                                       variant_algorithms(matcher))
        except UnhashableImage:
            return [], sha256
        return _new_matches(matcher.match(hashes), wanted), sha256


@dataclass
class _Counts:
    matched: int = 0
    gone: int = 0
    changed: int = 0
    unknown: int = 0
    matches_recorded: int = 0
    notes: list[str] = field(default_factory=list)


def _entry_keys(name: str, added: Mapping[str, EntryColumns]) -> set[tuple[str, str, str]]:
    return {(name, algorithm, value) for algorithm, part in added.items()
            for value in part.hexes()}


def _new_matches(matches: list[Match], wanted: set[tuple[str, str, str]]) -> list[Match]:
    return [m for m in matches if (m.list, m.algorithm, m.entry_hash) in wanted]


def _image_hashes(sha256: str, stored: list[StoredHash]) -> ImageHashes:
    """A seen content's stored hashes, shaped as the matcher's query (no variants: those
    are not stored)."""
    values = [HashValue("sha256", sha256)]
    values += [HashValue(h.algorithm, h.hash, h.quality) for h in stored]
    return ImageHashes(tuple(values), "", 0, 0, 0)


_background: set[asyncio.Task] = set()


async def start_retro_match_async(context, db, name: str, version: int, *,
                                  matcher=None) -> RetroResult:
    """`start_retro_match` for a server's event loop: it never waits for the rechecks. With
    the in-process pipeline the retro-match runs as a task on this loop (the outcome is
    kept in Redis when it ends); with Celery a worker runs it. Returns "queued"."""
    queued = RetroResult(name, version, "queued")
    if context.settings.pipeline == "celery":
        return await asyncio.to_thread(start_retro_match, context, name, version)
    await asyncio.to_thread(RetroResults(context.store).put, queued)
    retro = RetroMatcher(context.store, db, context.settings, matcher=matcher)
    task = asyncio.get_running_loop().create_task(_logged(retro.run(name, version)))
    _background.add(task)  # the loop keeps only a weak reference
    task.add_done_callback(_background.discard)
    return queued


async def drain_background() -> None:
    """Wait for this loop's running retro-matches (a server shutting down)."""
    if _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


async def _logged(run) -> None:
    try:
        await run
    except Exception:  # RetroMatcher.run logged it and kept "failed" as the outcome
        pass


def start_retro_match(context, name: str, version: int) -> RetroResult:
    """Retro-match a version just imported, where the deployment runs its image work: with
    the Celery pipeline, a task sent by name (returns "queued"; a worker records the
    outcome); in-process, here and now (returns the outcome)."""
    if context.settings.pipeline == "celery":
        from spinneret.runtime.celery_app import RETRO_MATCH_TASK, configure

        queued = RetroResult(name, version, "queued")
        RetroResults(context.store).put(queued)
        configure(context.settings, context.redis_url).send_task(
            RETRO_MATCH_TASK, args=[name, version])
        return queued
    return asyncio.run(RetroMatcher(context.store, context.db, context.settings).run(
        name, version))


def _never_asked(body: bytes, evidence) -> bool:
    # `verdict` compares bodies only when given evidence; retro-match gives none and lets the
    # live matcher decide on the fetched body instead.
    raise AssertionError("verdict compared a body without evidence")
