"""Hash algorithm plug-ins. New ones register a `HashAlgorithm` in `default_registry()`."""

from __future__ import annotations

import functools

from spinneret.matcher.algorithms.base import AlgorithmRegistry, HashAlgorithm, HashValue
from spinneret.matcher.algorithms.cropdct import CropDct
from spinneret.matcher.algorithms.exact import Md5, Sha256
from spinneret.matcher.algorithms.imagehashes import DHash, PHash
from spinneret.matcher.algorithms.pdq import Pdq


@functools.cache
def default_registry() -> AlgorithmRegistry:
    registry = AlgorithmRegistry()
    for algorithm in (Sha256(), Md5(), PHash(), DHash(), Pdq(), CropDct()):
        registry.register(algorithm)
    return registry


__all__ = ["AlgorithmRegistry", "HashAlgorithm", "HashValue", "default_registry"]
