"""Match an image's hashes against every loaded hash list and decide auto / review.

One index per (list, algorithm), so a change to one list rebuilds or updates only that
list's indexes. Decisions (see docs/matching.md):

- a perceptual hash within the algorithm's `auto` distance is decision "auto", within its
  `review` distance "review"; farther is no match;
- exact (cryptographic) hashes match only when equal and are always "auto";
- a low-information hit — the image's hash (or query variant) below the algorithm's minimum
  quality, or a weak list entry (degenerate hash, or below the minimum by the list's own
  quality) — never decides: within the review distance it is kept as "review" evidence only
  when another algorithm matches the same listed image (same list and source id) on its own
  strength; alone it is dropped;
- beyond the review distance but within the algorithm's `corroborate` distance (pHash and
  dHash; 0 = off), a match is "review" only when another algorithm matches the same image
  (same list and source id) too: two weak signals agreeing, one alone is dropped;
- a hit on any allow-list (within that algorithm's review distance, not low-information)
  suppresses every block match of the image;
- every query variant (cropdct's crop guesses, the hashes without a uniform border, PDQ's
  rotations/flips with dihedral matching on) goes through these same rules, and each entry
  reports its best distance;
- a hash listed for several images (two variants of one design) reports every one of them;
- per-list controls (`matcher.controls`): a disabled list or entry matches nothing, a list's
  threshold overrides replace the algorithm's auto / review distances for that list, and a
  quarantined list (flood guard) decides "review" where it would decide "auto".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from spinneret.matcher.algorithms import (
    AlgorithmRegistry,
    HashAlgorithm,
    HashValue,
    default_registry,
)
from spinneret.matcher.columns import EntryColumns, PayloadRecord, Payloads
from spinneret.matcher.controls import ListControls
from spinneret.matcher.errors import ListNotFound, MatcherError
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.index import HashIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    list: str
    list_kind: str
    category: str
    source: str
    algorithm: str
    entry_hash: str
    query_hash: str
    distance: int
    label: str
    source_id: str
    decision: str  # "auto" | "review"


@dataclass(frozen=True)
class AlgorithmThresholds:
    auto: int
    review: int
    min_quality: int = 0
    #: Up to this distance a match counts (as review) when another algorithm agrees; 0 = off.
    corroborate: int = 0

    @property
    def radius(self) -> int:
        return max(self.auto, self.review, self.corroborate)


@dataclass(frozen=True)
class Thresholds:
    """Per-algorithm distances; algorithms not named use their plug-in's defaults."""

    per_algorithm: Mapping[str, AlgorithmThresholds] = field(default_factory=dict)
    dihedral: bool = False

    def get(self, algorithm: HashAlgorithm) -> AlgorithmThresholds:
        found = self.per_algorithm.get(algorithm.name)
        if found is not None:
            return found
        return AlgorithmThresholds(
            algorithm.default_auto_distance,
            algorithm.default_review_distance,
            algorithm.default_min_quality,
            algorithm.default_corroborate_distance,
        )

    @classmethod
    def defaults(cls) -> Thresholds:
        return cls()

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        """`{name}_auto_distance` and `{name}_review_distance` of each perceptual algorithm,
        and its `{name}_min_quality` / `{name}_corroborate_distance` where the settings have
        one (0 otherwise)."""
        per_algorithm = {}
        # Every installed perceptual plug-in the settings name; the others keep their defaults.
        for name in (a.name for a in default_registry() if not a.exact):
            if not hasattr(settings, f"{name}_auto_distance"):
                continue
            auto = getattr(settings, f"{name}_auto_distance")
            review = getattr(settings, f"{name}_review_distance")
            if review < auto:
                raise MatcherError(
                    f"{name}_review_distance ({review}) is below {name}_auto_distance ({auto})"
                )
            corroborate = getattr(settings, f"{name}_corroborate_distance", 0)
            if corroborate and corroborate < review:
                raise MatcherError(
                    f"{name}_corroborate_distance ({corroborate}) is below "
                    f"{name}_review_distance ({review}); use 0 to turn it off"
                )
            min_quality = getattr(settings, f"{name}_min_quality",
                                  default_registry().get(name).default_min_quality)
            per_algorithm[name] = AlgorithmThresholds(auto, review, min_quality, corroborate)
        return cls(per_algorithm, dihedral=settings.match_dihedral)


def min_qualities(settings) -> dict[str, int]:
    """Each algorithm's minimum quality from the settings: what matching holds a hash to, and
    what a list import counts weak entries by."""
    return {name: limits.min_quality
            for name, limits in Thresholds.from_settings(settings).per_algorithm.items()}


@dataclass
class _AlgorithmIndex:
    """One list's entries of one algorithm; labels and source ids are indexed by entry id
    (packed, decoded only for matches)."""

    algorithm: HashAlgorithm
    index: HashIndex
    payloads: Payloads


@dataclass
class _LoadedList:
    info: object  # matcher.store.ListInfo (duck-typed: name, kind, source, category)
    by_algorithm: dict[str, _AlgorithmIndex]

    @property
    def controls(self) -> ListControls:
        return getattr(self.info, "controls", None) or _NO_CONTROLS


_NO_CONTROLS = ListControls()


class Matcher:
    """In-memory indexes of every hash list, kept at store version `version`."""

    def __init__(
        self,
        thresholds: Thresholds,
        registry: AlgorithmRegistry | None = None,
        dihedral: bool = False,
    ) -> None:
        self.thresholds = thresholds
        self.registry = registry or default_registry()
        self.dihedral = dihedral or thresholds.dihedral
        self.version = 0
        self._lists: dict[str, _LoadedList] = {}

    # -- loading ----------------------------------------------------------------------

    @classmethod
    def from_store(cls, store, thresholds: Thresholds, dihedral: bool = False,
                   registry: AlgorithmRegistry | None = None) -> Matcher:
        matcher = cls(thresholds, registry, dihedral)
        matcher._load_all(store)
        return matcher

    def _load_all(self, store, guard: contextlib.AbstractContextManager | None = None) -> None:
        # Read the version first: a change made while loading is applied again by the next
        # sync, and applying a change twice is harmless.
        version = store.version()
        lists: dict[str, _LoadedList] = {}
        for info in store.lists():
            try:
                lists[info.name] = self._build_columns(info, store.entry_columns(info.name))
            except ListNotFound:
                continue  # deleted meanwhile
        with guard or contextlib.nullcontext():
            self._lists = lists
            self.version = version

    def load_list(self, info, entries: Iterable) -> None:
        """Build this list's indexes from `entries` (`ListEntry`s) and swap them in (other
        lists untouched)."""
        # One index position per hash; a hash listed for several images keeps them all.
        grouped: dict[str, dict[str, list[PayloadRecord]]] = {}
        for entry in entries:
            record = PayloadRecord(entry.label, entry.source_id, getattr(entry, "quality", None))
            records = grouped.setdefault(entry.algorithm, {}).setdefault(entry.hash, [])
            if record not in records:
                records.append(record)
        by_algorithm: dict[str, _AlgorithmIndex] = {}
        for name, by_hash in grouped.items():
            algorithm = self._installed(info, name, len(by_hash))
            if algorithm is None:
                continue
            index = self._new_index(algorithm)
            index.add(list(by_hash))
            by_algorithm[algorithm.name] = _AlgorithmIndex(
                algorithm, index, Payloads.from_record_lists(list(by_hash.values())))
        self._lists[info.name] = _LoadedList(info, by_algorithm)

    def load_columns(self, info, columns: Mapping[str, EntryColumns]) -> None:
        """Like `load_list`, from `FingerprintStore.entry_columns` (the fast warm-start path:
        hashes go to the index as one uint64 array, payloads stay packed)."""
        self._lists[info.name] = self._build_columns(info, columns)

    def _build_columns(self, info, columns: Mapping[str, EntryColumns]) -> _LoadedList:
        by_algorithm: dict[str, _AlgorithmIndex] = {}
        for name, part in columns.items():
            algorithm = self._installed(info, name, len(part))
            if algorithm is None:
                continue
            index = self._new_index(algorithm)
            index.add_digests(part.digests)
            by_algorithm[algorithm.name] = _AlgorithmIndex(algorithm, index, part.payloads)
        return _LoadedList(info, by_algorithm)

    def _installed(self, info, name: str, count: int) -> HashAlgorithm | None:
        if name not in self.registry:
            log.warning("list %s: skipping %d %s entries (algorithm not installed)",
                        info.name, count, name)
            return None
        return self.registry.get(name)

    def _new_index(self, algorithm: HashAlgorithm) -> HashIndex:
        # The plug-in picks its index; it is planned for the farthest distance that counts.
        return algorithm.new_index(self.thresholds.get(algorithm).radius)

    def remove_list(self, name: str) -> None:
        self._lists.pop(name, None)

    def retract(self, name: str, algorithm: str | None, hash: str) -> int:
        """Remove `hash` from list `name` (every algorithm of that hash length if None)."""
        loaded = self._lists.get(name)
        if loaded is None:
            return 0
        removed = 0
        value = hash.strip().lower()
        for alg_name, part in loaded.by_algorithm.items():
            if algorithm is not None and alg_name != algorithm:
                continue
            if len(value) != part.algorithm.hex_length:
                continue
            removed += len(part.index.remove_hashes([value]))
        return removed

    def sync(self, store, lock: contextlib.AbstractContextManager | None = None) -> int:
        """Apply the store's changes since `version`, per list; returns how many were applied.

        With `lock` (the one `match` callers hold), lists are read and indexed outside it and
        only swapped in under it: matching never waits for a large list to reload."""
        guard = lock or contextlib.nullcontext()
        changes = store.changes_since(self.version)
        # A replace is superseded by a later replace or delete of the same list (each reload
        # reads the list's current state).
        last_reload = {}
        for position, change in enumerate(changes):
            if change.op in ("replace", "delete"):
                last_reload[change.list] = position
        for position, change in enumerate(changes):
            if change.op == "resync":
                self._load_all(store, guard)
                return len(changes)
            if change.op == "replace":
                if last_reload.get(change.list) == position:
                    self._reload(store, change.list, guard)
            elif change.op == "delete":
                with guard:
                    self.remove_list(change.list)
            elif change.op == "retract":
                if change.hash:
                    with guard:
                        self.retract(change.list, change.algorithm, change.hash)
            elif change.op == "controls":
                if last_reload.get(change.list, -1) < position:
                    self._reread_controls(store, change.list, guard)
            else:
                log.warning("ignoring unknown store change %r", change.op)
            self.version = change.version
        return len(changes)

    def _reread_controls(self, store, name: str,
                         guard: contextlib.AbstractContextManager) -> None:
        """A list's switches or overrides changed: new info, same indexes."""
        loaded = self._lists.get(name)
        if loaded is None:
            return
        try:
            info = store.get_list(name)
        except ListNotFound:
            return  # its delete follows in the changelog
        with guard:
            self._lists[name] = _LoadedList(info, loaded.by_algorithm)

    def limits(self, loaded: _LoadedList, algorithm: HashAlgorithm) -> AlgorithmThresholds:
        """The algorithm's distances for this list: the deployment's, with the list's
        overrides (never wider than the deployment's review distance: the index radius)."""
        base = self.thresholds.get(algorithm)
        override = loaded.controls.thresholds.get(algorithm.name)
        if override is None or algorithm.exact:
            return base
        review = base.review if override.review is None else min(override.review, base.review)
        auto = base.auto if override.auto is None else override.auto
        return AlgorithmThresholds(min(auto, review), review, base.min_quality,
                                   base.corroborate)

    def _reload(self, store, name: str, guard: contextlib.AbstractContextManager) -> None:
        try:
            info = store.get_list(name)
            loaded = self._build_columns(info, store.entry_columns(name))
        except ListNotFound:
            with guard:
                self.remove_list(name)
            return
        with guard:
            self._lists[name] = loaded

    # -- matching ---------------------------------------------------------------------

    def match(
        self, hashes: ImageHashes, dihedral: list[HashValue] | None = None
    ) -> list[Match]:
        """The image's block matches (none if an allow-list matches it). `dihedral`: extra
        query variants (PDQ rotations/flips) for callers that computed them apart; they are
        used only with dihedral matching on, like the ones in `hashes.variants`."""
        queries = self._queries(hashes, dihedral)
        best: dict[tuple[str, str, int], _Hit] = {}
        for name, loaded in self._lists.items():
            if not loaded.controls.enabled:
                continue
            is_allow = getattr(loaded.info, "kind", "block") == "allow"
            for alg_name, values in queries.items():
                part = loaded.by_algorithm.get(alg_name)
                if part is None or not len(part.index):
                    continue
                limits = self.limits(loaded, part.algorithm)
                hexes = [value for value, _ in values]
                for (value, informative), (ids, found) in zip(
                        values, part.index.search_many(hexes, limits.radius), strict=True):
                    if not len(ids):
                        continue
                    if is_allow:
                        if informative and self._allows(loaded, part, ids, found, limits, value):
                            return []
                        continue
                    for entry_id, distance in zip(ids.tolist(), found.tolist(), strict=True):
                        key = (name, alg_name, entry_id)
                        hit = _Hit(distance, value, informative)
                        if key not in best or hit.rank < best[key].rank:
                            best[key] = hit
        return self._matches(best)

    def _queries(self, hashes: ImageHashes, dihedral: list[HashValue] | None
                 ) -> dict[str, list[tuple[str, bool]]]:
        """Per algorithm: each distinct query hash, and whether it is informative (at or
        above the algorithm's minimum quality; a plug-in without a quality is judged by its
        hash's shape)."""
        queries: dict[str, dict[str, bool]] = {}
        extra = list(dihedral) if (dihedral and self.dihedral) else []
        for value in [*hashes.values, *hashes.variants, *extra]:
            if value.algorithm not in self.registry:
                continue
            algorithm = self.registry.get(value.algorithm)
            informative = algorithm.exact or _quality(algorithm, value) >= (
                self.thresholds.get(algorithm).min_quality)
            seen = queries.setdefault(algorithm.name, {})
            seen[value.hex] = seen.get(value.hex, False) or informative
        return {name: list(values.items()) for name, values in queries.items()}

    def _allows(self, loaded: _LoadedList, part: _AlgorithmIndex, ids: np.ndarray,
                found: np.ndarray, limits: AlgorithmThresholds, query: str) -> bool:
        """Does an allow-list entry within the review distance, not itself weak (nor
        disabled), match?"""
        close = ids[found <= limits.review]
        if not len(close):
            return False
        disabled = loaded.controls.disabled_entries
        if part.algorithm.exact:  # an exact hit's entry is the query hash itself
            return (part.algorithm.name, query) not in disabled
        hexes = part.index.hashes_of(close.tolist())
        return any((part.algorithm.name, hex_) not in disabled
                   and not self._weak_entry(part, hex_, part.payloads.records(entry_id))
                   for hex_, entry_id in zip(hexes, close.tolist(), strict=True))

    def _weak_entry(self, part: _AlgorithmIndex, entry_hash: str,
                    records: list[PayloadRecord]) -> bool:
        """A listed hash too weak to match alone: degenerate, or below the minimum quality by
        the list's own figure (the lowest of its records)."""
        if part.algorithm.exact:
            return False
        listed = [r.quality for r in records if r.quality is not None]
        quality = part.algorithm.entry_quality(entry_hash, min(listed) if listed else None)
        return quality < self.thresholds.get(part.algorithm).min_quality

    def _matches(self, best: dict[tuple[str, str, int], _Hit]) -> list[Match]:
        evidence: list[_Evidence] = []
        for key, hit in best.items():
            name, alg_name, entry_id = key
            loaded = self._lists[name]
            part = loaded.by_algorithm[alg_name]
            limits = self.limits(loaded, part.algorithm)
            entry_hash = part.index.hashes_of([entry_id])[0]
            if (alg_name, entry_hash) in loaded.controls.disabled_entries:
                continue  # an analyst switched this entry off
            records = part.payloads.records(entry_id)
            low = not hit.informative or self._weak_entry(part, entry_hash, records)
            if low:
                strength = _LOW if hit.distance <= limits.review else None
            elif part.algorithm.exact or hit.distance <= limits.review:
                strength = _STRONG
            else:
                strength = _FAR
            if strength is None:
                continue  # low-information and beyond review: says nothing
            auto = strength == _STRONG and (part.algorithm.exact or hit.distance <= limits.auto)
            if loaded.controls.quarantined:
                auto = False  # flood guard: held for review until an analyst releases it
            for record in records:
                evidence.append(_Evidence(name, part, entry_hash, hit, record, strength, auto))
        strong: dict[tuple[str, str], set[str]] = {}
        informative: dict[tuple[str, str], set[str]] = {}
        for item in evidence:
            if item.record.source_id and item.strength != _LOW:
                image = (item.list, item.record.source_id)
                informative.setdefault(image, set()).add(item.part.algorithm.name)
                if item.strength == _STRONG:
                    strong.setdefault(image, set()).add(item.part.algorithm.name)
        matches = []
        for item in evidence:
            if item.strength != _STRONG:
                # Kept only next to another algorithm's match of the same listed image: a far
                # hit needs any informative one, a low-information hit a strong one.
                others = strong if item.strength == _LOW else informative
                image = (item.list, item.record.source_id)
                if not item.record.source_id or not (
                        others.get(image, set()) - {item.part.algorithm.name}):
                    continue
            info = self._lists[item.list].info
            matches.append(Match(
                list=item.list, list_kind=getattr(info, "kind", "block"),
                category=getattr(info, "category", ""), source=getattr(info, "source", ""),
                algorithm=item.part.algorithm.name, entry_hash=item.entry_hash,
                query_hash=item.hit.query, distance=item.hit.distance,
                label=item.record.label, source_id=item.record.source_id,
                decision="auto" if item.auto else "review",
            ))
        matches.sort(key=lambda m: (m.decision != "auto", m.distance, m.list, m.algorithm,
                                    m.entry_hash, m.source_id))
        return matches

    # -- introspection ----------------------------------------------------------------

    def lists(self) -> list[str]:
        return sorted(self._lists)

    def size(self) -> dict[str, int]:
        """Entries loaded per algorithm, over all lists."""
        sizes: dict[str, int] = {}
        for loaded in self._lists.values():
            for name, part in loaded.by_algorithm.items():
                sizes[name] = sizes.get(name, 0) + len(part.index)
        return sizes

    def memory_bytes(self) -> int:
        """Index bytes (labels and source ids not counted)."""
        return sum(part.index.memory_bytes() for loaded in self._lists.values()
                   for part in loaded.by_algorithm.values())


def estimate_index_bytes(counts: dict[str, int], registry: AlgorithmRegistry | None = None) -> int:
    """Rough memory a Matcher needs for lists of these sizes (entries per algorithm), on the
    safe side of what `Matcher.memory_bytes` measures: Hamming indexes take about 4x the raw
    hash bytes (PDQ 125 B, pHash 36 B per entry), exact ones a sorted digest array of about
    2x (md5 33 B, sha256 49 B), and every entry its packed label and source id (23-24 B).
    Sizes worker memory limits before loading."""
    registry = registry or default_registry()
    total = 0
    for name, count in counts.items():
        if name not in registry:
            continue
        algorithm = registry.get(name)
        raw = algorithm.bits // 8
        per_entry = (2 * raw if algorithm.exact else 4 * raw) + 8
        total += count * (per_entry + _PAYLOAD_BYTES)
    return total


_PAYLOAD_BYTES = 24  # a packed label + source id offset per entry (matcher/columns.py)


_STRONG, _FAR, _LOW = "strong", "far", "low"


@dataclass(frozen=True, slots=True)
class _Hit:
    """One list entry's best hit: its distance, the query hash that found it, and whether
    that query hash was informative (informative hits rank before closer uninformative ones)."""

    distance: int
    query: str
    informative: bool

    @property
    def rank(self) -> tuple[bool, int]:
        return (not self.informative, self.distance)


@dataclass(frozen=True, slots=True)
class _Evidence:
    """A hit on one listed image (a record behind the entry), with its strength: `strong`
    (informative, within review), `far` (informative, in the corroborate band) or `low`
    (low-information, within review)."""

    list: str
    part: _AlgorithmIndex
    entry_hash: str
    hit: _Hit
    record: PayloadRecord
    strength: str
    auto: bool


def _quality(algorithm: HashAlgorithm, value: HashValue) -> int:
    if value.quality is not None:
        return value.quality
    return algorithm.hash_quality(value.hex)

