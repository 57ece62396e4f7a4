"""Shared bits for CLI modules: consoles, output formats, the errors shown as one line."""

from __future__ import annotations

import enum
import sys

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Every package's error base (module, class), shown as one line. Named, not imported, so that
# starting the CLI does not import the packages: an error of a module never imported cannot
# have been raised.
USER_ERRORS: tuple[tuple[str, str], ...] = (
    ("spinneret.crawler.errors", "CrawlerError"), ("spinneret.matcher.errors", "MatcherError"),
    ("spinneret.notices.errors", "NoticeError"), ("spinneret.records.errors", "RecordsError"),
    ("spinneret.runtime.errors", "SpinneretError"), ("spinneret.config.settings", "SettingsError"),
)


def is_user_error(exc: BaseException) -> bool:
    """Whether `exc` is a domain error to show as one line (no traceback)."""
    for module_name, class_name in USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
