"""Hash algorithm plug-ins. The built-in ones are registered in `default_registry()`; an
operator adds one by naming its module in SPINNERET_PLUGINS (docs/matching.md)."""

from __future__ import annotations

import functools
import importlib
import os

from spinneret.matcher.algorithms.base import AlgorithmRegistry, HashAlgorithm, HashValue
from spinneret.matcher.algorithms.cropdct import CropDct
from spinneret.matcher.algorithms.exact import Md5, Sha256
from spinneret.matcher.algorithms.imagehashes import DHash, PHash
from spinneret.matcher.algorithms.pdq import Pdq
from spinneret.matcher.errors import PluginError

#: Comma-separated modules, each with a `register(registry)` function, loaded into the
#: default registry after the built-in algorithms.
PLUGINS_ENV = "SPINNERET_PLUGINS"


@functools.cache
def default_registry() -> AlgorithmRegistry:
    registry = AlgorithmRegistry()
    for algorithm in (Sha256(), Md5(), PHash(), DHash(), Pdq(), CropDct()):
        registry.register(algorithm)
    load_plugins(registry, os.environ.get(PLUGINS_ENV, ""))
    return registry


def load_plugins(registry: AlgorithmRegistry, modules: str) -> None:
    """Import each module named in `modules` (comma-separated) and let it register its
    algorithms. `PluginError` if one cannot be imported or has no `register`."""
    for name in (part.strip() for part in modules.split(",")):
        if not name:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"{PLUGINS_ENV}: cannot import {name!r}: {exc}") from None
        register = getattr(module, "register", None)
        if not callable(register):
            raise PluginError(f"{PLUGINS_ENV}: {name!r} has no register(registry) function")
        register(registry)


__all__ = ["PLUGINS_ENV", "AlgorithmRegistry", "HashAlgorithm", "HashValue",
           "default_registry", "load_plugins"]
