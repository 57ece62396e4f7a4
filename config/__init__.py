"""Settings, logging and paths. Imports nothing else of ours.

The names below load on first use: importing `spinneret.config.paths` (or `.defaults`) does
not load pydantic-settings (~0.13 s), which only `Settings` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spinneret.config.paths import default_data_dir
    from spinneret.config.settings import (
        Settings,
        get_settings,
        mask_url_password,
        reset_settings_cache,
    )

_HOMES = {
    "Settings": "spinneret.config.settings", "get_settings": "spinneret.config.settings",
    "mask_url_password": "spinneret.config.settings",
    "reset_settings_cache": "spinneret.config.settings",
    "default_data_dir": "spinneret.config.paths",
}

__all__ = [
    "Settings", "default_data_dir", "get_settings", "mask_url_password", "reset_settings_cache",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
