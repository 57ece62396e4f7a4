"""Errors the records package raises; each message is fit to show a user as one line."""

from __future__ import annotations


class RecordsError(Exception):
    """Base of every records error."""


class InvalidSite(RecordsError):
    """A site's fields are not acceptable (bad URL, e-mail, limits)."""


class SiteExists(RecordsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a site named {name!r} already exists")
        self.name = name


class SiteNotFound(RecordsError):
    def __init__(self, name: str | int) -> None:
        super().__init__(f"no site named {name!r}" if isinstance(name, str) else f"no site {name}")
        self.name = name


class CrawlNotFound(RecordsError):
    def __init__(self, crawl_id: int) -> None:
        super().__init__(f"no crawl with id {crawl_id}")
        self.crawl_id = crawl_id


class InvalidCrawlState(RecordsError):
    """A crawl cannot move to the requested status from its current one."""


class MatchNotFound(RecordsError):
    def __init__(self, match_id: int) -> None:
        super().__init__(f"no match with id {match_id}")
        self.match_id = match_id


class ImageNotFound(RecordsError):
    def __init__(self, image_id: int) -> None:
        super().__init__(f"no matched image with id {image_id}")
        self.image_id = image_id


class DatabaseUnavailable(RecordsError):
    """The database could not be reached or migrated."""


class MissingDatabaseDriver(DatabaseUnavailable):
    """The database URL names a driver that is not installed (or cannot load)."""


class InvalidImageRecord(RecordsError):
    """An image to record has a bad field (hash, URL, match decision) or an unknown crawl."""


class ReportNotFound(RecordsError):
    def __init__(self, report_id: int) -> None:
        super().__init__(f"no report with id {report_id}")
        self.report_id = report_id


class InvalidReport(RecordsError):
    """A reported URL or note is not acceptable (not http(s), no host, too long)."""
