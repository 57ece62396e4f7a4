"""The plug-in contract for hash algorithms, and the registry that holds them.

An algorithm's `name` is a storage key (Redis keys, SQL rows, list files): it never changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from spinneret.matcher.algorithms.quality import shape_quality
from spinneret.matcher.decode import DecodedImage
from spinneret.matcher.errors import (
    DuplicateAlgorithm,
    InvalidHash,
    PluginError,
    UnknownAlgorithm,
)

if TYPE_CHECKING:
    from spinneret.matcher.index import HashIndex

_HEX_DIGITS = b"0123456789abcdef"


def is_hex(text: str) -> bool:
    """Only lowercase hex digits (0-9a-f; the empty string too): the one alphabet check of
    hashes (parsing, list files, the store). Fast on a whole batch joined."""
    return text.isascii() and not text.encode("ascii").translate(None, _HEX_DIGITS)


def first_not_hex(values: Sequence[str]) -> int | None:
    """The position of the first of `values` that is not hex, None if all are (one pass over
    the joined batch; value by value only when it fails)."""
    if is_hex("".join(values)):
        return None
    return next(i for i, value in enumerate(values) if not is_hex(value))


def reference_image() -> bytes:
    """A 96x64 synthetic image as binary PPM (bytes no encoder can change): what every
    plug-in's `reference_hash` is of."""
    ys, xs = np.mgrid[0:64, 0:96]
    red = (xs * 255 // 95).astype(np.uint8)
    green = (ys * 255 // 63).astype(np.uint8)
    blue = (((xs // 12) + (ys // 16)) % 2 * 200 + 20).astype(np.uint8)
    return b"P6\n96 64\n255\n" + np.dstack([red, green, blue]).tobytes()


def bits_to_hex(bits: np.ndarray) -> str:
    """An array of bits (bool or 0/1), flattened row-major, MSB first, to hex."""
    return np.packbits(np.asarray(bits, dtype=bool).reshape(-1)).tobytes().hex()


@dataclass(frozen=True, slots=True)
class HashValue:
    """One computed hash: lowercase hex, and a quality 0-100 where the algorithm has one."""

    algorithm: str
    hex: str
    quality: int | None = None


class HashAlgorithm(ABC):
    """A hash algorithm. Plug-ins derive from `ImageAlgorithm` (hashes the decoded image) or
    `BytesAlgorithm` (hashes the raw bytes), and from `HasQueryVariants` when a query is also
    looked up by other hashes of the same image: what a plug-in can do is what it inherits,
    checked with `isinstance`. They set the class attributes below."""

    name: ClassVar[str]
    bits: ClassVar[int]
    #: Exact (cryptographic) hashes match only when equal and are always `auto`.
    exact: ClassVar[bool] = False
    #: `compute` sets `HashValue.quality` (0-100; see `matcher.algorithms.quality`).
    has_quality: ClassVar[bool] = False
    default_auto_distance: ClassVar[int] = 0
    default_review_distance: ClassVar[int] = 0
    #: Below this quality a hash never decides alone: it may only corroborate.
    default_min_quality: ClassVar[int] = 0
    #: Beyond review, up to this distance, a match counts only with another algorithm's.
    default_corroborate_distance: ClassVar[int] = 0
    #: The plug-in's example for the shared plug-in tests: its hash of `reference_image()`,
    #: pinned there (a change to it changes every stored list's matches).
    reference_hash: ClassVar[str]

    @property
    def hex_length(self) -> int:
        return self.bits // 4

    def hash_quality(self, value: str) -> int:
        """0-100 from the hash alone (how a list entry without an image is judged): low for
        degenerate hashes (all-zero, all-one, near-constant popcount, one repeated row).
        Exact hashes are always 100."""
        if self.exact:
            return 100
        return shape_quality(value)

    def entry_quality(self, value: str, listed: int | None = None) -> int:
        """The quality of a list entry: its hash's, or the list's own figure when lower."""
        found = self.hash_quality(value)
        return found if listed is None else min(found, listed)

    def parse(self, text: str) -> str:
        """Validate a hash string and return it normalised (lowercase hex, no spaces)."""
        value = text.strip().lower()
        if value.startswith("0x"):
            value = value[2:]
        if len(value) != self.hex_length:
            raise InvalidHash(
                f"{self.name} hash must be {self.hex_length} hex digits, got {len(value)}"
            )
        if not is_hex(value):
            raise InvalidHash(f"{self.name} hash has characters other than 0-9a-f")
        return value

    def new_index(self, radius: int) -> HashIndex:
        """The index this algorithm's list entries are searched in, planned for `radius` (the
        farthest distance a match may be). Perceptual hashes: exact Hamming range search."""
        # Imported here: the index pulls numba's kernels, which `--help` must not load.
        from spinneret.matcher.index import HammingIndex

        return HammingIndex(self.bits, radius)

    def format(self, value: str) -> str:
        return value.lower()

    def to_bytes(self, value: str) -> bytes:
        return bytes.fromhex(value)


class ImageAlgorithm(HashAlgorithm):
    """Hashes the decoded image (decoded once per image, shared by every such algorithm)."""

    @abstractmethod
    def compute(self, image: DecodedImage) -> HashValue:
        """This algorithm's hash of `image`."""


class BytesAlgorithm(HashAlgorithm):
    """Hashes the raw bytes (cryptographic digests): no decoding needed."""

    @abstractmethod
    def compute_bytes(self, data: bytes) -> HashValue:
        """This algorithm's hash of `data`."""


class HasQueryVariants(ImageAlgorithm):
    """Looks a query up by more hashes of the same image than `compute`'s."""

    @abstractmethod
    def query_variants(self, image: DecodedImage, *, dihedral: bool = False) -> list[HashValue]:
        """Extra hashes of the same image that a query is also looked up by (never stored
        in lists), e.g. `cropdct`'s crop guesses, or with `dihedral` (dihedral matching on)
        PDQ's rotations/flips. They are matched under the same rules as the hash itself
        (quality floor, corroboration)."""


class AlgorithmRegistry:
    """Algorithms by name (case-insensitive); rejects a second plug-in of the same name."""

    def __init__(self) -> None:
        self._by_name: dict[str, HashAlgorithm] = {}

    def register(self, algorithm: HashAlgorithm) -> HashAlgorithm:
        if not isinstance(algorithm, ImageAlgorithm | BytesAlgorithm):
            raise PluginError(f"hash algorithm {algorithm.name!r} must derive from "
                              "ImageAlgorithm or BytesAlgorithm")
        key = algorithm.name.lower()
        if key in self._by_name:
            raise DuplicateAlgorithm(key)
        self._by_name[key] = algorithm
        return algorithm

    def unregister(self, name: str) -> HashAlgorithm:
        """Remove and return algorithm `name` (a plug-in's tests register and remove one)."""
        try:
            return self._by_name.pop(name.strip().lower())
        except KeyError:
            raise UnknownAlgorithm(name, self.names()) from None

    def get(self, name: str) -> HashAlgorithm:
        try:
            return self._by_name[name.strip().lower()]
        except KeyError:
            raise UnknownAlgorithm(name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._by_name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._by_name

    def __iter__(self):
        return iter(self._by_name.values())
