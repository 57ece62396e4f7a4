"""Prometheus metrics. Counts come from SQL and Redis at scrape time, so they are true for
the whole deployment (workers in other processes included), not just this server."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from spinneret.crawler.frontier import stats_key
from spinneret.notices.review import review_queue_depth
from spinneret.records.metrics import deployment_counts
from spinneret.records.states import MatchDecision

log = logging.getLogger(__name__)

TTR_BUCKETS_S = (3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400,
                 14 * 86400, 30 * 86400)


class SpinneretCollector:
    def __init__(self, services) -> None:
        self._svc = services

    def describe(self) -> list[Metric]:
        return []  # collected lazily at scrape time

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._sql()
        except Exception as exc:  # a scrape must not fail because one source is down
            log.warning("metrics: SQL unavailable: %s", exc)
        yield from self._crawls()
        try:
            yield from self._redis()
        except Exception as exc:
            log.warning("metrics: Redis unavailable: %s", exc)
        try:
            yield from self._workers()
        except Exception as exc:
            log.warning("metrics: worker heartbeats unavailable: %s", exc)

    def _sql(self) -> Iterator[Metric]:
        with self._svc.db.session(readonly=True) as session:
            counts = deployment_counts(session)
            review = review_queue_depth(session)
        hashed, by_decision = counts.images_hashed, counts.matches_by_decision
        deliveries, ttr = counts.deliveries, counts.times_to_removal_s
        pages = counts.pages_fetched + self._pages_since_recorded(counts.running_crawls)
        images = CounterMetricFamily("spinneret_images_hashed", "Images hashed (all crawls)")
        images.add_metric([], hashed)
        yield images
        matches = CounterMetricFamily("spinneret_matches", "Matches recorded, by decision",
                                      labels=["decision"])
        for decision in MatchDecision:
            matches.add_metric([decision.value], by_decision.get(decision, 0))
        yield matches
        queue = GaugeMetricFamily("spinneret_review_queue_depth",
                                  "Images waiting for an analyst (one review item each)")
        queue.add_metric([], review)
        yield queue
        sent = CounterMetricFamily("spinneret_notice_deliveries",
                                   "Notice deliveries by channel and status",
                                   labels=["channel", "status"])
        for channel, status, count in deliveries:
            sent.add_metric([channel, status], count)
        yield sent
        buckets, total = [], 0
        for bound in TTR_BUCKETS_S:
            buckets.append((str(float(bound)), sum(1 for v in ttr if v <= bound)))
        buckets.append(("+Inf", len(ttr)))
        total = float(sum(ttr))
        hist = HistogramMetricFamily("spinneret_time_to_removal_seconds",
                                     "Time from first notice to removal of an image")
        hist.add_metric([], buckets, total)
        yield hist
        fetched = CounterMetricFamily(
            "spinneret_crawl_pages_fetched",
            "Pages fetched by every crawl of every process (the crawler service's too); "
            "running crawls counted from their live counters in Redis")
        fetched.add_metric([], pages)
        yield fetched

    def _pages_since_recorded(self, running: list[tuple[int, int]]) -> int:
        """Pages the running crawls fetched beyond what their SQL rows hold (rows are
        written when a crawl or a run of it ends; the Redis counters move as it goes)."""
        if not running:
            return 0
        prefix = self._svc.settings.redis_key_prefix
        try:
            pipe = self._svc.context.redis.pipeline(transaction=False)
            for crawl_id, _ in running:
                pipe.hget(stats_key(prefix, crawl_id), "pages_fetched")
            live = pipe.execute()
        except Exception as exc:  # SQL's figures still stand
            log.warning("metrics: live crawl counters unavailable: %s", exc)
            return 0
        return sum(max(0, int(float(value or 0)) - (recorded or 0))
                   for (_, recorded), value in zip(running, live, strict=True))

    def _crawls(self) -> Iterator[Metric]:
        live = self._svc.crawls.live()
        running = GaugeMetricFamily("spinneret_crawls_running",
                                    "Crawls running in this server")
        running.add_metric([], len(live))
        yield running
        rate = GaugeMetricFamily("spinneret_crawl_pages_per_second",
                                 "Pages fetched per second by crawls running in this server")
        rate.add_metric([], sum(c.pages_per_s for c in live))
        yield rate

    def _redis(self) -> Iterator[Metric]:
        from spinneret.runtime.celery_app import IMAGES_QUEUE, queue_depth

        settings = self._svc.settings
        depth = GaugeMetricFamily("spinneret_queue_depth", "Images waiting for a worker",
                                  labels=["queue"])
        depth.add_metric([IMAGES_QUEUE], queue_depth(self._svc.context.redis, settings))
        yield depth
        matcher = self._svc.matcher_built
        if matcher is not None:
            sizes = matcher.size()
        else:
            sizes: dict[str, int] = {}
            for info in self._svc.store.lists():
                for algorithm, count in info.counts.items():
                    sizes[algorithm] = sizes.get(algorithm, 0) + count
        index = GaugeMetricFamily("spinneret_index_size", "Hashes in the index, by algorithm",
                                  labels=["algorithm"])
        for algorithm, count in sorted(sizes.items()):
            index.add_metric([algorithm], count)
        yield index

    def _workers(self) -> Iterator[Metric]:
        """The store's version and, from the workers' heartbeats (worker/heartbeat.py), the
        version each worker process's index is at: a worker below the store for long is not
        following it."""
        from spinneret.runtime.heartbeats import live_workers

        store = GaugeMetricFamily("spinneret_store_version",
                                  "Version of the fingerprint store (bumped by every list change)")
        store.add_metric([], self._svc.store.version())
        yield store
        beats = live_workers(self._svc.context.redis, self._svc.settings.redis_key_prefix)
        live = GaugeMetricFamily("spinneret_workers_live",
                                 "Worker processes with an index and an unexpired heartbeat")
        live.add_metric([], len(beats))
        yield live
        version = GaugeMetricFamily("spinneret_worker_index_version",
                                    "Store version a worker process's index is at",
                                    labels=["worker"])
        entries = GaugeMetricFamily("spinneret_worker_index_entries",
                                    "Hashes in a worker process's index", labels=["worker"])
        for beat in beats:
            version.add_metric([beat.worker], beat.index_version)
            entries.add_metric([beat.worker], beat.entries)
        yield version
        yield entries
