"""Settings, logging and paths. Imports nothing else of ours."""

from spinneret.config.paths import default_data_dir
from spinneret.config.settings import (
    Settings,
    get_settings,
    mask_url_password,
    reset_settings_cache,
)

__all__ = [
    "Settings", "default_data_dir", "get_settings", "mask_url_password", "reset_settings_cache",
]
