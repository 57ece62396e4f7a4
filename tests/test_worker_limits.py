"""Worker children are recycled above their hash index plus the per-task allowance."""

from __future__ import annotations

import numpy as np

from matcher.matching import Matcher, Thresholds, estimate_index_bytes
from matcher.store import ListEntry
from spinneret.cli.worker_cmd import child_memory_limit_kb
from spinneret.context import AppContext


def test_estimate_covers_the_real_index():
    rng = np.random.default_rng(3)
    entries = [ListEntry("pdq", rng.bytes(32).hex()) for _ in range(20_000)]
    entries += [ListEntry("phash", rng.bytes(8).hex()) for _ in range(20_000)]
    matcher = Matcher(Thresholds.defaults())
    from matcher.store import ListInfo

    info = ListInfo("big", "block", "", "", "", 1, {"pdq": 20_000, "phash": 20_000}, 0, 0, "")
    matcher.load_list(info, entries)
    assert estimate_index_bytes(info.counts) >= matcher.memory_bytes()


def test_limit_grows_with_the_lists_in_the_store(settings):
    context = AppContext(settings)
    empty = child_memory_limit_kb(context)
    assert empty == settings.worker_max_memory_kb
    rng = np.random.default_rng(4)
    context.store.replace_list("big", [ListEntry("pdq", rng.bytes(32).hex()) for _ in range(5000)])
    grown = child_memory_limit_kb(context)
    assert grown >= empty + 2 * estimate_index_bytes({"pdq": 5000}) // 1024 > empty
    context.close()
