"""Changing a hash list's controls (enable switches, threshold overrides, the flood
quarantine's release), as the CLI and the API both do it: checked against the deployment's
thresholds, written to the store (followers pick it up from the changelog), and audited when
an audit log is given (the API audits through its middleware instead)."""

from __future__ import annotations

from spinneret.matcher.algorithms import default_registry
from spinneret.matcher.controls import check_override
from spinneret.matcher.matching import Thresholds
from spinneret.matcher.store import FingerprintStore, ListInfo
from spinneret.records.audit import AuditLog


def _audit(audit: AuditLog | None, by: str, action: str, name: str, **details) -> None:
    if audit is not None:
        audit.write(by, action, f"list:{name}", details)


def set_enabled(store: FingerprintStore, name: str, enabled: bool, *, by: str,
                audit: AuditLog | None = None) -> ListInfo:
    info = store.set_enabled(name, enabled, by=by)
    _audit(audit, by, "list.enable" if enabled else "list.disable", name)
    return info


def set_entry_enabled(store: FingerprintStore, name: str, hash: str, algorithm: str,
                      enabled: bool, *, by: str, audit: AuditLog | None = None) -> ListInfo:
    info = store.set_entry_enabled(name, hash, algorithm, enabled, by=by)
    _audit(audit, by, "list.entry_enable" if enabled else "list.entry_disable", name,
           algorithm=algorithm, hash=hash.strip().lower())
    return info


def set_threshold(store: FingerprintStore, settings, name: str, algorithm: str, *,
                  auto: int | None, review: int | None, by: str,
                  audit: AuditLog | None = None) -> ListInfo:
    """Override (both None: drop the override) list `name`'s distances for `algorithm`;
    MatcherError when they may not (see `matcher.controls`)."""
    plugin = default_registry().get(algorithm)
    check_override(plugin, Thresholds.from_settings(settings).get(plugin), auto, review)
    store.get_list(name)  # ListNotFound before anything is written
    info = store.set_threshold(name, plugin.name, auto=auto, review=review, by=by)
    _audit(audit, by, "list.threshold", name, algorithm=plugin.name, auto=auto, review=review)
    return info


def release(store: FingerprintStore, name: str, *, by: str,
            audit: AuditLog | None = None) -> ListInfo:
    """End the flood quarantine of list `name` (MatcherError when it is not quarantined)."""
    held = store.get_list(name).controls.quarantine
    info = store.release(name, by=by)
    _audit(audit, by, "list.release", name, version=held.version if held else None)
    return info


def effective_thresholds(settings, info: ListInfo) -> dict[str, dict[str, int]]:
    """Per algorithm the list overrides: the deployment's distances and the list's."""
    thresholds = Thresholds.from_settings(settings)
    registry = default_registry()
    out = {}
    for algorithm, override in sorted(info.controls.thresholds.items()):
        if algorithm not in registry:
            continue
        base = thresholds.get(registry.get(algorithm))
        out[algorithm] = {
            "default_auto": base.auto, "default_review": base.review,
            "auto": base.auto if override.auto is None else override.auto,
            "review": base.review if override.review is None else override.review,
        }
    return out
