"""A bounded soak (bench/soak.py): a generated loopback site crawled through the in-process
pipeline while the hash list is re-imported every second and the API is queried; afterwards
images served, found, hashed and recorded agree exactly, exactly the listed images matched,
and memory stayed under the bound. 150 pages by default, 10,000 with SPINNERET_SLOW_TESTS=1
(figures in docs/reliability.md)."""

from __future__ import annotations

import pytest

from bench.soak import soak
from tests.conftest import report

#: What the soak adds to this process (the site, the crawler, the API) and its two hashing
#: children, over their size at the start: the test process's own size depends on how many
#: test modules ran before (a whole run once counted 1.6 GB that was not the soak's).
RSS_LIMIT_MB = 1000


@pytest.mark.parametrize("pages", [150, pytest.param(10_000, marks=pytest.mark.slow)],
                         ids=["150-pages", "10k-pages"])
@pytest.mark.timeout(3600)
async def test_soak_counts_agree_and_memory_stays_bounded(settings, pages):
    result = await soak(settings, pages, processes=2, rss_limit_mb=RSS_LIMIT_MB)
    assert result.problems() == []
    assert result.images_found == result.images_hashed == result.events_recorded == pages
    report(f"soak {pages} pages: {result.list_reimports} list re-imports, "
           f"{result.api_requests} API requests, peak RSS {result.peak_rss_mb:.0f} MB, "
           f"{result.added_rss_mb:.0f} MB added (bound {RSS_LIMIT_MB}), "
           f"{result.duration_s:.0f} s")
