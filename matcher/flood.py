"""The flood guard: a hash list version that suddenly matches an outsized share of the images
crawled (a bad import: a blank image's hash, a wrong algorithm) is quarantined, so its
matches go to review instead of into notices.

Counting is two Redis counters, cheap enough for every image: the store-wide count of images
hashed (one INCR per image), and per list version the images it matched (one script call per
list an image matched, in the list's own slot). The window of a version starts at the image
count its import recorded (`ListInfo.images_at_import`) and lasts `window` images. Within
it, once the version has matched at least `min_matches` images and at least `share` of the
images hashed since its import, the script marks the list quarantined (`matcher.controls`):
its `auto` decisions become `review` until an analyst releases it (`lists release`), and
that version is not quarantined again. A version imported before the guard existed has no
window start and is never quarantined (its next import has one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from spinneret.matcher.store import FingerprintStore

# KEYS: meta, controls, flood. ARGV: images now, share, min matches, window, now.
# Returns 0 (nothing held), 1 (already quarantined) or 2 (quarantined by this call).
_OBSERVE_LUA = """
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return 0 end
if redis.call('HGET', KEYS[2], 'quarantined') then return 1 end
if redis.call('HGET', KEYS[2], 'released') == version then return 0 end
local base = redis.call('HGET', KEYS[1], 'images_at_import')
if not base then return 0 end  -- imported before the guard existed: no window
local seen = tonumber(ARGV[1]) - tonumber(base)
if seen <= 0 or seen > tonumber(ARGV[4]) then return 0 end
local n = redis.call('HINCRBY', KEYS[3], 'v' .. version, 1)
if n >= tonumber(ARGV[3]) and n >= tonumber(ARGV[2]) * seen then
  redis.call('HSET', KEYS[2], 'quarantined', version, 'quarantined_at', ARGV[5],
             'quarantined_matches', n, 'quarantined_images', seen)
  return 2
end
return 0
"""


@dataclass(frozen=True)
class Tripped:
    """The guard quarantined a list just now."""

    list: str
    version: int
    matches: int
    images: int


class FloodGuard:
    def __init__(self, store: FingerprintStore, *, share: float, min_matches: int,
                 window: int, on_trip: Callable[[Tripped], None] | None = None) -> None:
        self._store = store
        self._share = share
        self._min_matches = min_matches
        self._window = window
        self._on_trip = on_trip
        self._observe = store.client.register_script(_OBSERVE_LUA)

    @classmethod
    def from_settings(cls, store: FingerprintStore, settings,
                      on_trip: Callable[[Tripped], None] | None = None) -> FloodGuard | None:
        """None when the guard is off (`list_flood_share` 0)."""
        share = float(getattr(settings, "list_flood_share", 0) or 0)
        if share <= 0:
            return None
        return cls(store, share=share, min_matches=settings.list_flood_min_matches,
                   window=settings.list_flood_window, on_trip=on_trip)

    def observe(self, matched_lists: Iterable[str]) -> set[str]:
        """Count one hashed image and the block lists it matched; the lists among them that
        are quarantined (their auto matches must go to review)."""
        images = int(self._store.client.incr(self._store.images_key))
        held: set[str] = set()
        for name in sorted(set(matched_lists)):
            keys = self._store.list_keys(name)
            state = int(self._observe(
                keys=[keys.meta, keys.controls, keys.flood],
                args=[images, self._share, self._min_matches, self._window, time.time()]))
            if state:
                held.add(name)
            if state == 2:
                self._store.note_quarantine(name)  # followers reread the list's controls
                info = self._store.get_list(name)
                quarantine = info.controls.quarantine
                tripped = Tripped(name, info.version, quarantine.matches if quarantine else 0,
                                  quarantine.images if quarantine else 0)
                if self._on_trip is not None:
                    self._on_trip(tripped)
        return held
