"""Shared bits for CLI modules: consoles, output formats, the errors shown as one line."""

from __future__ import annotations

import enum

from rich.console import Console

from config.settings import SettingsError
from crawler.errors import CrawlerError
from matcher.errors import MatcherError
from notices.errors import NoticeError
from records.errors import RecordsError
from spinneret.errors import SpinneretError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Every package's error base is added here as packages land.
USER_ERRORS: tuple[type[BaseException], ...] = (
    CrawlerError, MatcherError, NoticeError, RecordsError, SpinneretError, SettingsError)


def add_user_errors(*types: type[BaseException]) -> None:
    global USER_ERRORS
    USER_ERRORS = USER_ERRORS + tuple(types)


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
