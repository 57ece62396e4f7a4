"""Which implementation runs the hashing kernels (PDQ samples, cropdct windows, the LANCZOS
shrink): numba-compiled loops or numpy / Pillow. Both give identical results
(tests/test_kernel_paths.py); numba is optional everywhere.

numba is faster per image but costs a process ~0.5 s CPU to load (its import, then its type
registries on the first call of any cached kernel) and ~0.3 s more at exit. So a process that
hashes a few images (`spinneret hash`, `spinneret match`) runs numpy, and one that hashes many
(a worker, the in-process crawl pool) asks for numba with `prefer_compiled(True)`. Left alone
(`None`) the choice is numba when this process has loaded numba already (the matching index
does), numpy otherwise. Without numba installed it is numpy always.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache

_preference: bool | None = None


def prefer_compiled(value: bool | None) -> None:
    """True: numba kernels (when installed); False: numpy; None: numba only if loaded."""
    global _preference
    _preference = value


@cache
def numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def compiled() -> bool:
    """Whether the hashing kernels run compiled (numba) in this call."""
    if _preference is False or (_preference is None and "numba" not in sys.modules):
        return False
    return numba_installed()
