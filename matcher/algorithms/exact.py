"""Cryptographic hashes of the raw bytes: equal or not, always decision `auto`."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from spinneret.matcher.algorithms.base import BytesAlgorithm, HashValue

if TYPE_CHECKING:
    from spinneret.matcher.index import HashIndex


class _DigestAlgorithm(BytesAlgorithm):
    exact = True

    def compute_bytes(self, data: bytes) -> HashValue:
        return HashValue(self.name, hashlib.new(self.name, data).hexdigest())

    def new_index(self, radius: int) -> HashIndex:
        """Digests match only when equal: a sorted lookup, whatever the radius."""
        from spinneret.matcher.index import ExactIndex

        return ExactIndex(self.bits)


class Sha256(_DigestAlgorithm):
    name = "sha256"
    bits = 256
    reference_hash = "6d5a43cd74aad847181a9efee5aaf369926d9e4bbc64f72bf9da64eedcc43dc0"


class Md5(_DigestAlgorithm):
    name = "md5"
    bits = 128
    reference_hash = "dc9172b7a0eaf20b96d88bdffa92c02a"
