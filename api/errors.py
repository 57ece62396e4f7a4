"""Errors the API answers with, and how domain errors map to HTTP statuses."""

from __future__ import annotations

import redis
from aiohttp.http_exceptions import HttpProcessingError

from spinneret.crawler.errors import CrawlerError
from spinneret.matcher.errors import (
    EntryNotFound,
    ListNotFound,
    MatcherError,
    UnhashableImage,
)
from spinneret.matcher.store import StoreConflict
from spinneret.notices.errors import (
    NoticeError,
    NoticeNotFound,
    ReviewAlreadyDecided,
    ReviewDuplicateDecision,
    ReviewNotFound,
)
from spinneret.records.errors import (
    CrawlNotFound,
    DatabaseUnavailable,
    ImageNotFound,
    InvalidCrawlState,
    MatchNotFound,
    RecordsError,
    ReportNotFound,
    SiteExists,
    SiteNotFound,
)
from spinneret.records.tokens import TokenNotFound
from spinneret.runtime.errors import SpinneretError


class ApiError(Exception):
    """An error answered to the client: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# What aiohttp raises on a body it cannot parse (a multipart body without a boundary, a
# truncated part, bad part headers, an unknown charset).
MALFORMED_BODY = (ValueError, LookupError, AssertionError, HttpProcessingError)


def refuse_nul(value: str, what: str) -> str:
    """Text that goes to SQL: PostgreSQL cannot store NUL characters (SQLite can), so they
    are refused here, the same on every backend."""
    if "\x00" in value:
        raise ApiError(400, f"{what} must not contain NUL characters")
    return value


def malformed_body(exc: BaseException, what: str) -> ApiError:
    """A 400 naming what could not be read and aiohttp's first line of why."""
    text = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    reason = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ApiError(400, f"malformed {what}: {reason}")


class CrawlAlreadyRunning(ApiError):
    def __init__(self, site: str) -> None:
        super().__init__(409, f"a crawl of site {site!r} is already running")


NOT_FOUND = (ListNotFound, EntryNotFound, SiteNotFound, CrawlNotFound, MatchNotFound,
             NoticeNotFound, ReviewNotFound, TokenNotFound, ImageNotFound, ReportNotFound)
CONFLICT = (SiteExists, ReviewAlreadyDecided, ReviewDuplicateDecision, StoreConflict,
            InvalidCrawlState)
DOMAIN = (MatcherError, RecordsError, NoticeError, CrawlerError, SpinneretError)


def as_api_error(exc: BaseException) -> ApiError | None:
    """The HTTP answer for a known error; None for anything else (a bug: 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, NOT_FOUND):
        return ApiError(404, str(exc))
    if isinstance(exc, CONFLICT):
        return ApiError(409, str(exc))
    if isinstance(exc, UnhashableImage):
        return ApiError(422, f"cannot hash this image: {exc.reason}")
    if isinstance(exc, DatabaseUnavailable):
        return ApiError(503, str(exc))
    if isinstance(exc, redis.RedisError):
        return ApiError(503, f"Redis is unavailable: {exc}")
    if isinstance(exc, DOMAIN):
        return ApiError(400, str(exc))
    return None
