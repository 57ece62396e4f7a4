"""Hash one image's bytes and match it: the call the CLI, the API and the workers share."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from spinneret.matcher.algorithms import default_registry
from spinneret.matcher.algorithms.base import HasQueryVariants
from spinneret.matcher.hashing import HashOptions, ImageHashes, hash_image_decoded
from spinneret.matcher.matching import Match, Matcher, Thresholds
from spinneret.matcher.store import ListEntry


def variant_algorithms(matcher) -> frozenset[str]:
    """The loaded algorithms whose queries have variants: computing cropdct's 35 crop
    guesses (~1.3 ms an image) is wasted when no loaded list has cropdct entries."""
    registry = default_registry()
    return frozenset(name for name in matcher.size()
                     if name in registry and isinstance(registry.get(name), HasQueryVariants))


def hash_for_matching(
    data: bytes, options: HashOptions, dihedral: bool,
    variants: bool | Collection[str] = True,
) -> ImageHashes:
    """Decode once; every configured hash and its query variants (`ImageHashes.variants`;
    `variants` as in `hash_image_decoded`): cropdct's crop guesses, the hashes without a
    uniform border when the image has one, and with `dihedral` PDQ's rotations/flips. Every
    variant is matched by the same rules as the hash itself.

    Raises `UnhashableImage` if the bytes cannot be decoded.
    """
    hashes, _ = hash_image_decoded(data, options, variants=variants, trim_borders=True,
                                   dihedral=dihedral)
    return hashes


def hash_and_match(
    data: bytes, matcher: Matcher, options: HashOptions
) -> tuple[ImageHashes, list[Match]]:
    """Hash `data` (decoded once) and match it against `matcher`: what a crawl does with an
    image, and what a recheck does to tell whether it still matches."""
    hashes = hash_for_matching(data, options, bool(getattr(matcher, "dihedral", False)),
                               variant_algorithms(matcher))
    return hashes, matcher.match(hashes)


@dataclass(frozen=True)
class _EvidenceList:
    """The list a recheck matches against: the entries that matched the image before."""

    name: str
    kind: str = "block"
    category: str = ""
    source: str = ""


def matches_listed(
    data: bytes, evidence: Sequence[ListEntry], thresholds: Thresholds, options: HashOptions,
    *, dihedral: bool = False, list_name: str = "evidence",
) -> list[Match]:
    """Match `data` against the listed entries `evidence` exactly as a crawl matches an image
    (`hash_and_match`: every query variant incl. border trim and, with `dihedral`, the
    rotations/flips; the same quality floor and corroboration): does an image still match
    the entries that matched it? Empty when it does not.

    Raises `UnhashableImage` if the bytes cannot be decoded."""
    matcher = Matcher(thresholds, dihedral=dihedral)
    matcher.load_list(_EvidenceList(list_name), evidence)
    needed = tuple(dict.fromkeys((*options.algorithms, *(e.algorithm for e in evidence))))
    options = HashOptions(needed, options.max_pixels, options.working_size)
    return hash_and_match(data, matcher, options)[1]
