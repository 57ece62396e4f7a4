"""numba's `njit`, with the compiled kernels cached in the user's cache directory.

Left to itself numba caches beside the source, in `__pycache__` inside site-packages: files
`pip uninstall` does not know, whose leftover folders then shadow a later (editable) install.
Every kernel module imports `njit` from here, so the cache directory is chosen before the
first `@njit(cache=True)` whoever imported numba first. `NUMBA_CACHE_DIR`, when set, wins.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from spinneret.config.paths import default_cache_dir


def _usable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.access(directory, os.W_OK | os.X_OK)
    except OSError:
        return False


def numba_cache_dir() -> Path:
    """The user cache's `numba` folder; a private temporary one if that cannot be written."""
    preferred = default_cache_dir() / "numba"
    if _usable(preferred):
        return preferred
    return Path(tempfile.gettempdir()) / f"spinneret-{os.getuid()}" / "numba"


# The environment carries the choice to child processes (workers) and to numba's config reload;
# numba's config is set as well in case numba was imported (and read the environment) before.
if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())

from numba import njit  # noqa: E402
from numba.core import config as _numba_config  # noqa: E402

if not _numba_config.CACHE_DIR:
    _numba_config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]

__all__ = ["njit"]
