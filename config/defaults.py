"""Whether every setting has its default, decided without loading pydantic-settings.

A command that reads a few settings (`spinneret hash`: the algorithms and image limits) can
then take their defaults and skip `Settings` (~0.13 s CPU of a 0.3 s command). Anything that
could change a value, or make `Settings` refuse one, sends it to the full path: any
`SPINNERET_*` variable (in any case, as pydantic-settings reads them) but the data dir, or a
TOML file.
"""

from __future__ import annotations

import os

from spinneret.config.paths import config_file

#: Only says where files live: no hashing setting depends on it, and any path is valid.
_HARMLESS = frozenset({"SPINNERET_DATA_DIR"})


def all_defaults() -> bool:
    """True when `Settings()` would hold nothing but its defaults (data dir aside)."""
    for name in os.environ:
        upper = name.upper()
        if upper.startswith("SPINNERET_") and upper not in _HARMLESS:
            return False
    return config_file() is None
