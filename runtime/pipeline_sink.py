"""What a crawl run needs of its image sink, and the bounded set of URLs still to be recorded.

The crawler only submits (`crawler.types.ImageSink`); `run_crawl` also waits until every
image handed on has its record, then closes the sink. Both sinks (runtime.inprocess,
runtime.sink) implement `PipelineSink`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, runtime_checkable

from spinneret.crawler.types import ImageSink

RecordedAmong = Callable[[Iterable[str]], set[str]]
# Below this many URLs nothing is pruned: a set of that size is a few MB at most.
PRUNE_AT = 10_000


@runtime_checkable
class PipelineSink(ImageSink, Protocol):
    sent: int  # images handed on by this run

    @property
    def sent_urls(self) -> PendingUrls:
        """URLs handed on whose record may not exist yet (those known recorded may be gone)."""
        ...

    async def drain(self) -> None:
        """Return once nothing submitted is still being handed on."""
        ...

    def close(self) -> None: ...


class PendingUrls:
    """URLs handed on and not yet known to be recorded.

    Entries leave when their record is known: `discard` (the in-process pool knows when an
    image is recorded) or `forget` after asking the records (Celery workers record
    elsewhere), so the set holds about what is in flight, not every image of the crawl.
    Used from the event loop only (the record query itself may run in a thread).
    """

    def __init__(self) -> None:
        self._urls: set[str] = set()
        self._prune_at = PRUNE_AT
        self.pruning = False  # a record query is under way: do not start another

    def add(self, url: str) -> None:
        self._urls.add(url)

    def discard(self, url: str) -> None:
        self._urls.discard(url)

    def due_for_pruning(self) -> bool:
        """Grown past twice what the last pruning kept (so a long backlog is not queried
        again at every image)."""
        return not self.pruning and len(self._urls) >= self._prune_at

    def forget(self, recorded: Iterable[str]) -> None:
        self._urls.difference_update(recorded)
        self._prune_at = max(PRUNE_AT, 2 * len(self._urls))

    def __len__(self) -> int:
        return len(self._urls)

    def __iter__(self) -> Iterator[str]:
        return iter(self._urls)

    def __contains__(self, url: object) -> bool:
        return url in self._urls
