"""Per-list controls an analyst sets over a hash list, beside its entries in the store:

- an enable switch for the list, and one per entry (algorithm + hash): disabled ones match
  nothing in live matching;
- threshold overrides per algorithm (auto / review distance) over the algorithm's defaults;
- the flood quarantine (`matcher.flood`): a list version that matched an outsized share of
  the images hashed after its import has its `auto` decisions turned into `review` until an
  analyst releases it.

They live in their own keys (`{list}:controls`, `{list}:disabled`), so a re-import of the
list keeps them. Overrides are checked against the deployment's thresholds when set
(`check_override`): a list may tighten any distance, and may raise its `auto` distance up to
the algorithm's `review` distance (it trusts the list to notice what would otherwise be
reviewed), but never widen the `review` distance: the index is built for the deployment's
radius, and a list must not find what the deployment would never consider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spinneret.matcher.errors import MatcherError


@dataclass(frozen=True)
class ThresholdOverride:
    """A list's distances for one algorithm; None keeps the deployment's."""

    auto: int | None = None
    review: int | None = None


@dataclass(frozen=True)
class Quarantine:
    """Why a list's auto decisions are held for review (the flood guard tripped)."""

    version: int  # the list version that flooded
    at: float
    matches: int  # images it had matched ...
    images: int  # ... of the images hashed since its import


@dataclass(frozen=True)
class ListControls:
    enabled: bool = True
    thresholds: dict[str, ThresholdOverride] = field(default_factory=dict)
    disabled_entries: frozenset[tuple[str, str]] = frozenset()  # (algorithm, hash)
    quarantine: Quarantine | None = None
    #: The list version an analyst released from quarantine (not quarantined again).
    released_version: int | None = None

    @property
    def quarantined(self) -> bool:
        return self.quarantine is not None

    def to_json(self) -> dict:
        return {
            "enabled": self.enabled,
            "thresholds": {alg: {"auto": o.auto, "review": o.review}
                           for alg, o in sorted(self.thresholds.items())},
            "disabled_entries": [{"algorithm": a, "hash": h}
                                 for a, h in sorted(self.disabled_entries)],
            "quarantined": self.quarantined,
            "quarantine": None if self.quarantine is None else {
                "version": self.quarantine.version, "at": self.quarantine.at,
                "matches": self.quarantine.matches, "images": self.quarantine.images},
            "released_version": self.released_version,
        }


def parse_controls(raw: dict[str, str], disabled: set[str]) -> ListControls:
    """From the `{list}:controls` hash and the `{list}:disabled` set ("algorithm:hash")."""
    thresholds: dict[str, dict[str, int]] = {}
    for key, value in raw.items():
        head, _, algorithm = key.partition(":")
        if head in ("auto", "review") and algorithm and value != "":
            thresholds.setdefault(algorithm, {})[head] = int(value)
    quarantine = None
    if raw.get("quarantined"):
        quarantine = Quarantine(int(raw["quarantined"]), float(raw.get("quarantined_at", 0)),
                                int(raw.get("quarantined_matches", 0)),
                                int(raw.get("quarantined_images", 0)))
    released = raw.get("released")
    return ListControls(
        enabled=raw.get("enabled", "1") != "0",
        thresholds={alg: ThresholdOverride(t.get("auto"), t.get("review"))
                    for alg, t in thresholds.items()},
        disabled_entries=frozenset(tuple(item.split(":", 1)) for item in disabled
                                   if ":" in item),
        quarantine=quarantine,
        released_version=int(released) if released else None,
    )


def check_override(algorithm, deployment, auto: int | None, review: int | None) -> None:
    """MatcherError unless (auto, review) may override `deployment` (the algorithm's
    `AlgorithmThresholds`) for `algorithm` (a `HashAlgorithm`): see the module docstring."""
    if algorithm.exact:
        raise MatcherError(f"{algorithm.name} is an exact hash: it has no distances to set")
    if auto is None and review is None:
        return
    for name, value in (("auto", auto), ("review", review)):
        if value is not None and not 0 <= value <= algorithm.bits:
            raise MatcherError(f"--{name} {value} is outside 0-{algorithm.bits} for "
                               f"{algorithm.name}")
    effective_review = deployment.review if review is None else review
    effective_auto = deployment.auto if auto is None else auto
    if review is not None and review > deployment.review:
        raise MatcherError(
            f"{algorithm.name} review distance {review} is wider than the deployment's "
            f"{deployment.review}: a list may only narrow it")
    if effective_auto > effective_review:
        raise MatcherError(
            f"{algorithm.name} auto distance {effective_auto} is above the review distance "
            f"{effective_review}")
