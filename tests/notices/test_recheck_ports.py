"""The recheck through its ports alone: a scripted fetcher and a fake hasher, no network and
no image decoding. What the recheck decides from their answers, and what it asks them."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from spinneret.notices.errors import NoticeError
from spinneret.notices.ports import FetchResult, RecheckPorts
from spinneret.notices.recheck import Rechecker
from spinneret.notices.service import NoticeService
from spinneret.records.types import ListedEntry

URL = "http://img.test/a.png"


class ScriptedFetcher:
    """Answers each fetch with the next scripted result; records what it was asked."""

    def __init__(self, answers: list[FetchResult]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str | None, str | None]] = []
        self.opened = self.closed = 0

    @asynccontextmanager
    async def open(self):
        self.opened += 1
        try:
            yield self
        finally:
            self.closed += 1

    async def fetch(self, url: str, *, etag: str | None, last_modified: str | None):
        self.asked.append((url, etag, last_modified))
        return self.answers.pop(0)


class FakeHasher:
    def __init__(self) -> None:
        self.matches = True
        self.seen: list[tuple[bytes, list[ListedEntry]]] = []

    def __call__(self, body: bytes, evidence) -> bool:
        self.seen.append((body, list(evidence)))
        return self.matches


@pytest.fixture
def notified(db, settings, clock, make_site, record_match) -> NoticeService:
    """One sent notice with one item for URL, matched by phash entry 'ab' * 8."""
    settings.notice_batch_window_s = 0
    service = NoticeService(db, settings, clock=clock)
    record_match(make_site(), URL, algorithm="phash", distance=2, entry_hash="ab" * 8,
                 label="listed-1")
    service.apply_policy()
    return service


async def test_present_then_changed_content_closes_the_item(db, settings, clock, notified):
    fetcher = ScriptedFetcher([
        FetchResult(status=200, body=b"the image", etag='"v1"', last_modified="Mon"),
        FetchResult(status=200, body=b"another image", etag='"v2"'),
    ])
    hasher = FakeHasher()
    rechecker = Rechecker(db, settings, clock=clock,
                          ports=RecheckPorts(open_fetcher=fetcher.open, still_matches=hasher))

    first = await rechecker.run_once()
    assert (len(first.present), first.removed) == (1, [])
    assert hasher.seen == [(b"the image", [ListedEntry("phash", "ab" * 8, "listed-1", "")])]

    clock.advance(settings.recheck_interval_s)
    hasher.matches = False
    second = await rechecker.run_once()
    assert len(second.removed) == 1
    # The second GET is conditional on what the first one was told.
    assert fetcher.asked == [(URL, None, None), (URL, '"v1"', "Mon")]
    assert (fetcher.opened, fetcher.closed) == (2, 2)  # one fetcher per pass, closed after
    [notice] = notified.list()
    assert notice.status == "removed"
    assert notice.items[0].closed_reason.startswith("no longer matches")


async def test_cannot_tell_changes_nothing_and_gone_host_closes(db, settings, clock, notified):
    fetcher = ScriptedFetcher([FetchResult(status=503),
                               FetchResult(status=None, error="dns", host_unknown=True)])
    hasher = FakeHasher()
    ports = RecheckPorts(open_fetcher=fetcher.open, still_matches=hasher)
    rechecker = Rechecker(db, settings, clock=clock, ports=ports)

    assert len((await rechecker.run_once()).unknown) == 1
    assert notified.list()[0].items[0].status == "open"
    clock.advance(settings.recheck_interval_s)
    assert len((await rechecker.run_once()).removed) == 1
    assert notified.list()[0].items[0].closed_reason == "host name no longer resolves"
    assert hasher.seen == []  # no body: nothing was hashed


async def test_without_ports_a_recheck_says_what_is_missing(db, settings, clock, notified):
    """Everything else works without the ports; a recheck pass refuses, changing nothing."""
    with pytest.raises(NoticeError, match="no fetcher and hasher"):
        await notified.recheck_once()
    [notice] = notified.list()
    assert notice.status == "sent" and notice.items[0].status == "open"
    with db.session() as session:  # and the item is still due
        assert len(notified.rechecker().due(session, 10)) == 1
