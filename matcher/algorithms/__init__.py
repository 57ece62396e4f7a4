"""Hash algorithm plug-ins. New ones register a `HashAlgorithm` in `default_registry()`."""

from __future__ import annotations

import functools

from matcher.algorithms.base import AlgorithmRegistry, HashAlgorithm, HashValue
from matcher.algorithms.cropdct import CropDct
from matcher.algorithms.exact import Md5, Sha256
from matcher.algorithms.imagehashes import DHash, PHash
from matcher.algorithms.pdq import Pdq


@functools.cache
def default_registry() -> AlgorithmRegistry:
    registry = AlgorithmRegistry()
    for algorithm in (Sha256(), Md5(), PHash(), DHash(), Pdq(), CropDct()):
        registry.register(algorithm)
    return registry


__all__ = ["AlgorithmRegistry", "HashAlgorithm", "HashValue", "default_registry"]
