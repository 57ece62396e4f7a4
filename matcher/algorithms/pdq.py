"""PDQ (Meta's 256-bit perceptual hash with a 0-100 quality).

Computed by `_pdq_kernel` (numpy, or numba: `matcher.kernels`): the reference pipeline as
two sparse products, several times faster than `pdqhash` (Meta's C++), which it falls back
to where rounding could matter and which stays the reference it is tested against.
Hex is the ThreatExchange form: 64 hex digits, most significant bit first.
"""

from __future__ import annotations

import numpy as np

from spinneret.matcher.algorithms.base import HashValue, HasQueryVariants
from spinneret.matcher.decode import DecodedImage


def _kernel():
    """The kernel module, imported on first use (it imports pdqhash and builds its tables;
    numba, when chosen, only on a kernel's first call: matcher.kernels)."""
    from spinneret.matcher.algorithms import _pdq_kernel

    return _pdq_kernel


def _dct(image: DecodedImage) -> tuple[np.ndarray, int]:
    """The image's PDQ DCT and quality, computed once (hash, then dihedral variants)."""
    cached = image._cache.get("pdq_dct")
    if cached is None:
        cached = image._cache["pdq_dct"] = _kernel().pdq_dct(image.rgb_array())
    return cached


class Pdq(HasQueryVariants):
    """Its query variants are the 7 rotations/flips, with dihedral matching on."""

    name = "pdq"
    bits = 256
    reference_hash = "5530a2d788510aff78d77700c7277da8ce4e2ad5b05d28fde20b7f025d80d7a8"
    has_quality = True
    default_auto_distance = 31
    default_review_distance = 40
    default_min_quality = 50

    def compute(self, image: DecodedImage) -> HashValue:
        hex_, quality = _kernel().pdq_hash(image.rgb_array(), _dct(image))
        return HashValue(self.name, hex_, quality)

    def compute_dihedral(self, image: DecodedImage) -> list[HashValue]:
        """The hashes of the 8 rotations/flips, original first (in pdqhash's order), equal to
        hashing the turned pixels: the 3 mirrorings are hashed for real (PDQ's sampling is
        not mirror-symmetric) and the transposes are taken from their DCTs (exact)."""
        hexes, quality = _kernel().pdq_dihedral(image.rgb_array(), _dct(image))
        return [HashValue(self.name, hex_, quality) for hex_ in hexes]

    def query_variants(self, image: DecodedImage, *, dihedral: bool = False) -> list[HashValue]:
        """With `dihedral`, the 7 rotations/flips other than the image as it is."""
        return self.compute_dihedral(image)[1:] if dihedral else []
