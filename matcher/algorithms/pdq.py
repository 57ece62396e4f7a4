"""PDQ (Meta's 256-bit perceptual hash with a 0-100 quality), via the `pdqhash` package.

Hex is the ThreatExchange form: 64 hex digits, most significant bit first.
"""

from __future__ import annotations

import numpy as np
import pdqhash

from matcher.algorithms.base import HashAlgorithm, HashValue
from matcher.decode import DecodedImage


def bits_to_hex(bits: np.ndarray) -> str:
    """A 256-long 0/1 vector (MSB first) to 64 hex digits."""
    packed = np.packbits(bits.astype(np.uint8))
    return packed.tobytes().hex()


class Pdq(HashAlgorithm):
    name = "pdq"
    bits = 256
    has_quality = True
    default_auto_distance = 31
    default_review_distance = 40
    default_min_quality = 50

    def compute(self, image: DecodedImage) -> HashValue:
        vector, quality = pdqhash.compute(image.rgb_array())
        return HashValue(self.name, bits_to_hex(vector), int(quality))

    def compute_dihedral(self, image: DecodedImage) -> list[HashValue]:
        """The hashes of the 8 rotations/flips, original first (pdqhash computes them at once)."""
        vectors, quality = pdqhash.compute_dihedral(image.rgb_array())
        return [HashValue(self.name, bits_to_hex(v), int(quality)) for v in vectors]
