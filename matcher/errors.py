"""Errors the matcher raises; each message is fit to show a user as one line."""

from __future__ import annotations


class MatcherError(Exception):
    """Base of every matcher error."""


class UnhashableImage(MatcherError):
    """The bytes could not be decoded into an image we are willing to hash."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownAlgorithm(MatcherError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown hash algorithm {name!r} (known: {', '.join(known)})")
        self.name = name


class DuplicateAlgorithm(MatcherError):
    def __init__(self, name: str) -> None:
        super().__init__(f"hash algorithm {name!r} is already registered")


class PluginError(MatcherError):
    """An algorithm plug-in named in SPINNERET_PLUGINS cannot be loaded."""


class InvalidHash(MatcherError):
    """A hash string is not valid for its algorithm (length, alphabet)."""


class InvalidHashList(MatcherError):
    """A hash-list file has a bad row; nothing from it was stored."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class ListNotFound(MatcherError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no hash list named {name!r}")
        self.name = name


class EntryNotFound(MatcherError):
    pass


class InvalidListName(MatcherError):
    """A list name the store cannot use as a key part."""


class InvalidListKind(MatcherError):
    """A list kind other than block or allow."""


class HashListFileError(InvalidHashList):
    """A hash-list file as a whole is unusable (unreadable, unknown format, missing option);
    `line` is 0 (no row is to blame) and the message is the reason alone."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, reason)
        self.args = (reason,)

    def __str__(self) -> str:
        return self.reason
