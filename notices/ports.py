"""What the recheck needs from outside notices, as ports: a conditional-GET fetcher and a
"does this still match?" hasher. The composition root (`spinneret.runtime.recheck`) plugs in
the crawler's `ConditionalFetcher` and the matcher's crawl rules; a test plugs in fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from spinneret.records.types import ListedEntry


class FetchedImage(Protocol):
    """One conditional GET's answer."""

    @property
    def status(self) -> int | None: ...  # None: no HTTP answer (network error, blocked)
    @property
    def body(self) -> bytes | None: ...  # a 200's body, within the caps
    @property
    def etag(self) -> str | None: ...
    @property
    def last_modified(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def host_unknown(self) -> bool: ...  # the host name does not resolve any more


@dataclass(frozen=True)
class FetchResult:
    """A plain `FetchedImage` (what a fake fetcher answers)."""

    status: int | None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    host_unknown: bool = False


class ImageFetcher(Protocol):
    async def fetch(self, url: str, *, etag: str | None,
                    last_modified: str | None) -> FetchedImage: ...


class StillMatches(Protocol):
    def __call__(self, body: bytes, evidence: Sequence[ListedEntry]) -> bool:
        """Does `body` still match the listed entries that matched the image, under the
        crawl's rules? False for bytes that do not decode."""


@dataclass(frozen=True)
class RecheckPorts:
    #: Opens a fetcher for one recheck pass (`async with open_fetcher() as fetcher`).
    open_fetcher: Callable[[], AbstractAsyncContextManager[ImageFetcher]]
    still_matches: StillMatches
