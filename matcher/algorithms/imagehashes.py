"""64-bit perceptual hashes from the imagehash library: pHash (DCT) and dHash (gradient)."""

from __future__ import annotations

import imagehash

from matcher.algorithms.base import HashAlgorithm, HashValue
from matcher.decode import DecodedImage


class PHash(HashAlgorithm):
    name = "phash"
    bits = 64
    default_auto_distance = 6
    default_review_distance = 10

    def compute(self, image: DecodedImage) -> HashValue:
        return HashValue(self.name, str(imagehash.phash(image.gray())))


class DHash(HashAlgorithm):
    name = "dhash"
    bits = 64
    default_auto_distance = 6
    default_review_distance = 10

    def compute(self, image: DecodedImage) -> HashValue:
        return HashValue(self.name, str(imagehash.dhash(image.gray())))
