"""Hash an image's bytes with every configured algorithm, decoding it once."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from spinneret.matcher.algorithms import AlgorithmRegistry, HashValue, default_registry
from spinneret.matcher.algorithms.base import BytesAlgorithm, HasQueryVariants
from spinneret.matcher.borders import without_border
from spinneret.matcher.decode import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_WORKING_SIZE,
    DecodedImage,
    decode_image,
)


@dataclass(frozen=True)
class ImageHashes:
    """Every hash of one image, in the order the algorithms were asked for."""

    values: tuple[HashValue, ...]
    format: str
    width: int
    height: int
    size_bytes: int
    #: Query-only hashes (`HashAlgorithm.query_variants`): matched, never listed or stored.
    variants: tuple[HashValue, ...] = ()

    def get(self, algorithm: str) -> HashValue | None:
        for value in self.values:
            if value.algorithm == algorithm:
                return value
        return None

    @property
    def sha256(self) -> str | None:
        value = self.get("sha256")
        return value.hex if value else None


@dataclass(frozen=True)
class HashOptions:
    algorithms: tuple[str, ...] = ("sha256", "md5", "phash", "dhash", "pdq", "cropdct")
    max_pixels: int = DEFAULT_MAX_PIXELS
    working_size: int = DEFAULT_WORKING_SIZE

    @classmethod
    def from_settings(cls, settings) -> HashOptions:
        return cls(
            algorithms=tuple(settings.algorithms),
            max_pixels=settings.max_image_pixels,
            working_size=settings.hash_working_size_px,
        )


def hash_image(
    data: bytes,
    options: HashOptions | None = None,
    registry: AlgorithmRegistry | None = None,
) -> ImageHashes:
    """Decode once, hash with each algorithm. Raises `UnhashableImage` if it cannot decode."""
    return hash_image_decoded(data, options, registry)[0]


def hash_image_decoded(
    data: bytes,
    options: HashOptions | None = None,
    registry: AlgorithmRegistry | None = None,
    *,
    variants: bool | Collection[str] = False,
    trim_borders: bool = False,
    dihedral: bool = False,
) -> tuple[ImageHashes, DecodedImage]:
    """`hash_image`, also returning the decoded image for further hashing (PDQ dihedral).

    With `variants`, the algorithms' query-only hashes too (what matching needs; listing
    an image's hashes does not): True for every algorithm, or the names of those wanted;
    `dihedral` asks for the rotation/flip variants too (PDQ's, with dihedral matching on).
    With `trim_borders`, an image with a uniform border (padding, letterbox) also gets the
    perceptual hashes of itself without it, as variants (`matcher.borders`)."""
    options = options or HashOptions()
    registry = registry or default_registry()
    algorithms = [registry.get(name) for name in options.algorithms]
    decoded = decode_image(data, max_pixels=options.max_pixels, working_size=options.working_size)
    values = tuple(
        algo.compute_bytes(data) if isinstance(algo, BytesAlgorithm) else algo.compute(decoded)
        for algo in algorithms
    )
    extra: tuple[HashValue, ...] = ()
    if variants:
        extra = tuple(v for algo in algorithms
                      if isinstance(algo, HasQueryVariants)
                      and (variants is True or algo.name in variants)
                      for v in algo.query_variants(decoded, dihedral=dihedral))
    if trim_borders:
        inner = without_border(decoded)
        if inner is not None:
            extra += tuple(algo.compute(inner) for algo in algorithms
                           if not isinstance(algo, BytesAlgorithm))
    hashes = ImageHashes(values, decoded.format, decoded.width, decoded.height, len(data), extra)
    return hashes, decoded
