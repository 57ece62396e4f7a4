"""Hash one image's bytes and match it: the call the CLI, the API and the workers share."""

from __future__ import annotations

from matcher.algorithms import HashValue
from matcher.algorithms.pdq import Pdq
from matcher.hashing import HashOptions, ImageHashes, hash_image_decoded
from matcher.matching import Match, Matcher


def hash_for_matching(
    data: bytes, options: HashOptions, dihedral: bool
) -> tuple[ImageHashes, list[HashValue] | None]:
    """Decode once; every configured hash and its query variants (`ImageHashes.variants`),
    plus PDQ's 8 rotations/flips when `dihedral`.

    Raises `UnhashableImage` if the bytes cannot be decoded.
    """
    hashes, decoded = hash_image_decoded(data, options, variants=True)
    variants = None
    if dihedral and "pdq" in options.algorithms:
        variants = Pdq().compute_dihedral(decoded)
    return hashes, variants


def hash_and_match(
    data: bytes, matcher: Matcher, options: HashOptions
) -> tuple[ImageHashes, list[Match]]:
    """Hash `data` (decoded once) and match it against `matcher`."""
    hashes, variants = hash_for_matching(data, options, bool(getattr(matcher, "dihedral", False)))
    return hashes, matcher.match(hashes, variants)
