"""Cryptographic hashes of the raw bytes: equal or not, always decision `auto`."""

from __future__ import annotations

import hashlib

from spinneret.matcher.algorithms.base import HashAlgorithm, HashValue


class _DigestAlgorithm(HashAlgorithm):
    exact = True
    from_bytes = True

    def compute_bytes(self, data: bytes) -> HashValue:
        return HashValue(self.name, hashlib.new(self.name, data).hexdigest())


class Sha256(_DigestAlgorithm):
    name = "sha256"
    bits = 256


class Md5(_DigestAlgorithm):
    name = "md5"
    bits = 128
