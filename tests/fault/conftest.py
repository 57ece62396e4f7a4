"""The `slow` marker (pyproject.toml): such tests run only with SPINNERET_SLOW_TESTS=1."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items) -> None:
    if os.environ.get("SPINNERET_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set SPINNERET_SLOW_TESTS=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
