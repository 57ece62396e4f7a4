"""The shipped distance defaults are one set of numbers: the plug-ins' defaults, the settings'
defaults and docs/matching.md's table ("Default thresholds and why") agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spinneret.config import Settings
from spinneret.matcher.algorithms import default_registry
from spinneret.matcher.matching import Thresholds

DOC = Path(__file__).resolve().parent.parent / "docs" / "matching.md"
NAMES = {"pHash": "phash", "dHash": "dhash", "PDQ": "pdq", "cropdct": "cropdct"}


def documented() -> dict[str, dict[str, int]]:
    """algorithm -> {auto, review, corroborate, min_quality} from the doc's table."""
    text = DOC.read_text()
    section = text.split("## Default thresholds and why", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in NAMES:
            def number(cell: str) -> int:
                return int(cell) if re.fullmatch(r"\d+", cell) else 0
            rows[NAMES[cells[0]]] = {"auto": number(cells[2]), "review": number(cells[3]),
                                     "corroborate": number(cells[4]),
                                     "min_quality": number(cells[5])}
    return rows


def test_the_doc_table_names_every_perceptual_algorithm() -> None:
    assert set(documented()) == set(NAMES.values())


@pytest.mark.parametrize("name", sorted(NAMES.values()))
def test_settings_plugins_and_doc_agree(name: str) -> None:
    algorithm = default_registry().get(name)
    from_settings = Thresholds.from_settings(Settings()).get(algorithm)
    from_plugin = Thresholds.defaults().get(algorithm)
    assert from_settings == from_plugin
    assert vars(from_settings) == documented()[name]
