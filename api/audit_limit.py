"""A cap on audit rows for refused calls that carry no valid token.

Refusals are audited (who tried what), but a client without a token could otherwise fill
the audit log at the speed of its requests. Rows past the cap (per client address and
minute) are not written; they are counted in /metrics as
`spinneret_audit_refusals_dropped_total`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # windows kept at most; the oldest are forgotten first


class RefusalAuditLimit:
    def __init__(self, per_minute: int = 30, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, rows)

    def allow(self, address: str) -> bool:
        """May one more refusal from `address` be audited in its current minute?"""
        now = self._clock()
        start, rows = self._windows.pop(address, (now, 0))
        if now - start >= WINDOW_S:
            start, rows = now, 0
        allowed = rows < self.per_minute
        self._windows[address] = (start, rows + 1 if allowed else rows)  # newest last
        while len(self._windows) > MAX_ADDRESSES:
            del self._windows[next(iter(self._windows))]
        return allowed
