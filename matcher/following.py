"""A matcher that follows the fingerprint store: built at start, then updated incrementally.

A background thread listens on the store's pub/sub channel and also polls the store version
(pub/sub drops messages while disconnected), applying each change with `Matcher.sync`.
Matching and applying a change take the same lock, so a lookup never sees a half-applied
change; a changed list is read and indexed outside that lock (a 10M-entry reload takes
seconds) and only swapped in under it.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.matching import Match, Matcher, Thresholds
from spinneret.matcher.store import FingerprintStore

log = logging.getLogger(__name__)


class FollowingMatcher:
    def __init__(
        self,
        store: FingerprintStore,
        thresholds: Thresholds,
        *,
        dihedral: bool = False,
        poll_interval_s: float = 0.5,
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # one sync at a time (thread and sync_now callers)
        self._matcher = Matcher.from_store(store, thresholds, dihedral=dihedral)
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: monotonic time of the last applied change, for measuring sync lag
        self.last_applied_at: float | None = None

    @property
    def dihedral(self) -> bool:
        return self._matcher.dihedral

    @property
    def version(self) -> int:
        return self._matcher.version

    def match(self, hashes: ImageHashes, dihedral: list[HashValue] | None = None) -> list[Match]:
        with self._lock:
            return self._matcher.match(hashes, dihedral)

    def size(self) -> dict[str, int]:
        with self._lock:
            return self._matcher.size()

    def sync_now(self) -> int:
        """Apply pending store changes now; returns how many were applied."""
        with self._sync_lock:
            applied = self._matcher.sync(self._store, lock=self._lock)
        if applied:
            self.last_applied_at = time.monotonic()
            log.info("index synced to store version %s (%d changes)", self.version, applied)
        return applied

    # -- background following -------------------------------------------------
    def start(self) -> FollowingMatcher:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._follow, name="spinneret-index-sync", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _follow(self) -> None:
        pubsub = None
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self._store.client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self._store.channel)
                    self.sync_now()  # catch up on what happened while not subscribed
                # Wake on a publish, or at the poll interval at the latest.
                message = pubsub.get_message(timeout=self._poll_interval_s)
                if message is not None or self._store.version() != self.version:
                    self.sync_now()
            except redis.RedisError as exc:
                log.warning("index sync: %s; retrying", exc)
                pubsub = None
                self._stop.wait(min(5.0, self._poll_interval_s * 4))
            except Exception:  # never let the sync thread die silently
                log.exception("index sync failed; retrying")
                self._stop.wait(min(5.0, self._poll_interval_s * 4))
        if pubsub is not None:
            pubsub.close()
