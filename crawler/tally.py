"""A crawler process's counters: its view of the crawl's stats, and what it has counted since
it last added to the crawl's shared stats hash (frontier.add_stats)."""

from __future__ import annotations

from spinneret.crawler.types import CounterGroup, CrawlStats, stats_field


class StatsTally:
    def __init__(self, stats: CrawlStats | None = None) -> None:
        self.stats = stats or CrawlStats()
        self._deltas: dict[str, float] = {}

    def count(self, group: CounterGroup, reason: str, n: int = 1) -> None:
        """`n` more for `reason` in `group`, e.g. count("urls_skipped", "robots")."""
        self.stats.count(group, reason, n)
        name = stats_field(group, reason)
        self._deltas[name] = self._deltas.get(name, 0) + n

    def add(self, total: str, n: float = 1) -> None:
        """`n` more to a total, e.g. add("pages_fetched")."""
        self.stats.add(total, n)
        self._deltas[total] = self._deltas.get(total, 0) + n

    def take_deltas(self) -> dict[str, float]:
        """What was counted since the last call (to add to the shared hash)."""
        deltas, self._deltas = self._deltas, {}
        return deltas
