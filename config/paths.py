"""Where Spinneret keeps its files (XDG base directory spec)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/spinneret`, or `~/.local/share/spinneret`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "spinneret"


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/spinneret`, or `~/.cache/spinneret`: files that can be rebuilt."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spinneret"


def config_file() -> Path | None:
    """The TOML settings file: `$SPINNERET_CONFIG_FILE`, else `<data dir>/spinneret.toml`
    if it exists, else None."""
    explicit = os.environ.get("SPINNERET_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    data_dir = os.environ.get("SPINNERET_DATA_DIR")
    candidate = (Path(data_dir) if data_dir else default_data_dir()) / "spinneret.toml"
    return candidate if candidate.is_file() else None
