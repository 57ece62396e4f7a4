"""Smoke runs of the benchmark scripts: each prints its table and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, out: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_store_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "store.json"
    stdout = _run("store.py", out)
    assert "import: import_file (new list)" in stdout
    assert "import baseline: HSET/row, unpipelined" in stdout
    assert "lag: FollowingMatcher" in stdout
    data = json.loads(out.read_text())
    assert data["import"]["rows"] == 20_000
    assert data["import"]["import_file_s"] and data["warm_start"][0]["entries"] == 20_000
    assert data["lag"]["following_lag_s"]


def test_robustness_bench_quick(tmp_path: Path) -> None:
    # Runs without the bench extra too: the originals then come from the PDQ reference set
    # and the synthetic scenes only.
    out = tmp_path / "robustness.json"
    stdout = _run("robustness.py", out)
    assert "jpeg q30" in stdout and "False matches against distractors" in stdout
    data = json.loads(out.read_text())
    assert data["recall"]["format PNG"]["sha256"]["auto"] == 1.0  # lossless: bytes-identical
    assert data["distractors"] == 300
    assert set(data["pair_histograms"]) == {"pdq", "phash", "dhash", "cropdct"}
    assert data["recall"]["crop 10%"]["cropdct"]["review"] > 0  # found through the guesses


def test_retro_match_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "retro_match.json"
    stdout = _run("retro_match.py", out)
    assert "index (SeenHashIndex)" in stdout and "naive Python loop" in stdout
    assert "ratio index / naive" in stdout
    data = json.loads(out.read_text())
    assert data["stored"] == 20_000 and data["index_entries_per_s"] > 0
    assert data["contents_found"] > 0  # the planted near-duplicates are found
