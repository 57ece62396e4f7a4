"""Errors of the composition root and CLI."""

from __future__ import annotations


class SpinneretError(Exception):
    """A failure to report to the user as one line (no traceback)."""


class EmbeddedRedisError(SpinneretError):
    pass


class CrawlIncomplete(SpinneretError):
    """Images were handed on but never recorded (no worker running, or workers failing)."""
