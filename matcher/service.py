"""Hash one image's bytes and match it: the call the CLI, the API and the workers share."""

from __future__ import annotations

from matcher.algorithms import default_registry
from matcher.algorithms.pdq import Pdq
from matcher.decode import decode_image
from matcher.hashing import HashOptions, ImageHashes
from matcher.matching import Match, Matcher


def hash_and_match(
    data: bytes, matcher: Matcher, options: HashOptions
) -> tuple[ImageHashes, list[Match]]:
    """Decode once, hash with every configured algorithm, match against `matcher`.

    PDQ's 8 dihedral variants are computed only when the matcher matches them.
    Raises `UnhashableImage` if the bytes cannot be decoded.
    """
    registry = matcher.registry if hasattr(matcher, "registry") else default_registry()
    algorithms = [registry.get(name) for name in options.algorithms]
    decoded = decode_image(data, max_pixels=options.max_pixels, working_size=options.working_size)
    values = tuple(
        algo.compute_bytes(data) if algo.from_bytes else algo.compute(decoded)
        for algo in algorithms
    )
    hashes = ImageHashes(values, decoded.format, decoded.width, decoded.height, len(data))
    dihedral = None
    if getattr(matcher, "dihedral", False) and any(a.name == "pdq" for a in algorithms):
        pdq = next(a for a in algorithms if a.name == "pdq")
        dihedral = (pdq if isinstance(pdq, Pdq) else Pdq()).compute_dihedral(decoded)
    return hashes, matcher.match(hashes, dihedral)
