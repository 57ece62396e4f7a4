"""`spinneret hash FILE... --format csv|json|table`, run as the real entry point."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from tests.conftest import run_cli

ALGORITHMS = ["sha256", "md5", "phash", "dhash", "pdq", "cropdct"]


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    png, jpg = tmp_path / "a.png", tmp_path / "b.jpg"
    png.write_bytes(encode(generate(0, (320, 240)), "PNG"))
    jpg.write_bytes(encode(generate(1, (320, 240)), "JPEG"))
    return png, jpg


def test_csv_has_exact_header_and_one_row_per_file_and_algorithm(images, cli_env):
    png, jpg = images
    result = run_cli("hash", str(png), str(jpg), "--format", "csv", env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "path,algorithm,hash,quality"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["path"], r["algorithm"]) for r in rows] == [
        (str(path), name) for path in (png, jpg) for name in ALGORITHMS
    ]
    for row in rows:
        if row["algorithm"] in ("sha256", "md5"):  # exact: no quality
            assert row["quality"] == ""
        else:  # every perceptual algorithm has one
            assert 50 <= int(row["quality"]) <= 100
    assert rows[0]["hash"] == hashlib.sha256(png.read_bytes()).hexdigest()


def test_json_is_one_object_per_file(images, cli_env):
    png, jpg = images
    result = run_cli("hash", str(png), str(jpg), "--format", "json", env=cli_env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(png), str(jpg)]
    assert records[0]["format"] == "PNG" and records[1]["format"] == "JPEG"
    for record in records:
        assert all(len(record[name]) in (16, 32, 64) for name in ALGORITHMS)
        for name in ("phash", "dhash", "pdq", "cropdct"):
            assert isinstance(record[f"{name}_quality"], int)


def test_table_lists_every_file(images, cli_env):
    png, jpg = images
    result = run_cli("hash", str(png), str(jpg), "--format", "table", env={**cli_env,
                     "COLUMNS": "700"})
    assert result.returncode == 0, result.stderr
    assert "a.png" in result.stdout and "b.jpg" in result.stdout
    for name in ("phash", "dhash", "pdq", "cropdct"):
        assert f"{name}_quality" in result.stdout


def test_a_smooth_gradient_gets_a_low_phash_and_dhash_quality(tmp_path, cli_env):
    """A low-detail image says little: every perceptual quality shows it (issue 13)."""
    from PIL import Image

    smooth = tmp_path / "gradient.png"
    ramp = Image.linear_gradient("L").resize((320, 240))
    ramp.save(smooth)
    result = run_cli("hash", str(smooth), "--format", "json", env=cli_env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["phash_quality"] < 50 and record["dhash_quality"] < 50


def test_bad_file_is_named_on_one_stderr_line_and_others_still_hashed(images, tmp_path, cli_env):
    png, jpg = images
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    missing = tmp_path / "missing.png"
    result = run_cli("hash", str(png), str(bad), str(missing), str(jpg), "--format", "csv",
                     env=cli_env)
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert errors == [
        f"spinneret: {bad}: not a recognised image format",
        f"spinneret: {missing}: cannot read file: No such file or directory",
    ]
    paths = {row["path"] for row in csv.DictReader(io.StringIO(result.stdout))}
    assert paths == {str(png), str(jpg)}


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SPINNERET_")}
    return {**env, "SPINNERET_DATA_DIR": str(tmp_path / "data"), **extra}


def test_default_hash_options_are_the_default_settings(tmp_path, monkeypatch):
    """`spinneret hash` with every setting at its default skips Settings: same options."""
    from spinneret.config.defaults import all_defaults
    from spinneret.config.settings import Settings
    from spinneret.matcher.hashing import HashOptions

    for name in list(__import__("os").environ):
        if name.upper().startswith("SPINNERET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPINNERET_DATA_DIR", str(tmp_path / "data"))
    assert all_defaults()
    assert HashOptions() == HashOptions.from_settings(Settings())
    monkeypatch.setenv("spinneret_algorithms", "pdq")  # read in any case, as Settings does
    assert not all_defaults()
    monkeypatch.delenv("spinneret_algorithms")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "spinneret.toml").write_text('algorithms = ["md5"]\n')
    assert not all_defaults()


def test_defaults_path_prints_what_the_settings_path_prints(images, tmp_path):
    png, jpg = images
    quick = run_cli("hash", str(png), str(jpg), "--format", "json", env=_clean_env(tmp_path))
    full = run_cli("hash", str(png), str(jpg), "--format", "json", env=_clean_env(
        tmp_path, SPINNERET_ALGORITHMS=",".join(ALGORITHMS)))
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert quick.stdout == full.stdout


def test_settings_still_apply_and_bad_ones_are_still_refused(images, tmp_path):
    png, _ = images
    some = run_cli("hash", str(png), "--format", "json",
                   env=_clean_env(tmp_path, SPINNERET_ALGORITHMS="md5,pdq"))
    assert some.returncode == 0, some.stderr
    assert set(json.loads(some.stdout)) == {"path", "md5", "pdq", "pdq_quality", "format",
                                            "width", "height"}
    bad = run_cli("hash", str(png), env=_clean_env(tmp_path, SPINNERET_PDQ_AUTO_DISTANCE="x"))
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: bad setting SPINNERET_PDQ_AUTO_DISTANCE")
