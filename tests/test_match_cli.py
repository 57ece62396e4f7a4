"""`spinneret match` end to end: a list made from synthetic images, imported into the real store,
then an edited copy is found and an unrelated image is not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from spinneret.matcher.hashing import hash_image
from tests.conftest import run_cli


def scene(seed: int, size: int = 320) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x0, y0 = (int(v) for v in rng.integers(0, size - 40, 2))
        w, h = (int(v) for v in rng.integers(20, size // 2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape([x0, y0, x0 + w, y0 + h], fill=colour)
    return image


def save(image: Image.Image, path: Path, fmt: str = "PNG", **kwargs) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def listed(tmp_path: Path, cli) -> Path:
    """Import a block list with every hash of three synthetic images."""
    rows = ["algorithm,hash,label,source_id"]
    for seed in range(3):
        data = save(scene(seed), tmp_path / f"known{seed}.png").read_bytes()
        for value in hash_image(data).values:
            rows.append(f"{value.algorithm},{value.hex},scene {seed},case-{seed}")
    path = tmp_path / "list.csv"
    path.write_text("\n".join(rows) + "\n")
    code, _, err = cli("lists", "import", str(path), "--list", "known", "--category", "test")
    assert code == 0, err
    return tmp_path


def test_edited_copy_found_unrelated_not(listed: Path, cli):
    edited = ImageEnhance.Brightness(scene(1).resize((250, 250))).enhance(1.1)
    edited_path = save(edited, listed / "edited.jpg", "JPEG", quality=80)
    other_path = save(scene(99), listed / "other.png")
    exact_path = listed / "known2.png"
    code, out, err = cli("match", str(edited_path), str(other_path), str(exact_path),
                         "--format", "json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(edited_path), str(other_path), str(exact_path)]
    edited_matches = records[0]["matches"]
    assert edited_matches and {m["label"] for m in edited_matches} == {"scene 1"}
    assert {m["algorithm"] for m in edited_matches} >= {"pdq", "phash"}
    assert "sha256" not in {m["algorithm"] for m in edited_matches}  # bytes differ
    for m in edited_matches:
        assert set(m) >= {"list", "algorithm", "distance", "label", "source_id", "decision"}
        assert m["list"] == "known" and m["source_id"] == "case-1"
        assert m["decision"] in ("auto", "review")
    assert records[1]["matches"] == []
    exact = {m["algorithm"]: m for m in records[2]["matches"]}
    assert set(exact) == {"sha256", "md5", "phash", "dhash", "pdq", "cropdct"}
    assert all(m["distance"] == 0 and m["decision"] == "auto" for m in exact.values())


def test_unhashable_file_reported_others_processed(listed: Path, cli):
    broken = listed / "broken.png"
    broken.write_bytes(b"not an image at all")
    missing = listed / "missing.png"
    code, out, err = cli("match", str(broken), str(missing), str(listed / "known0.png"),
                         "--format", "json")
    assert code == 1
    assert [json.loads(line)["path"] for line in out.splitlines()] == [str(listed / "known0.png")]
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert str(broken) in lines[0] and "not a recognised image format" in lines[0]
    assert str(missing) in lines[1] and "cannot read file" in lines[1]


def test_table_output_in_subprocess(listed: Path, cli_env):
    result = run_cli("match", str(listed / "known0.png"), "--format", "table", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "known" in result.stdout and "scene 0" in result.stdout and "auto" in result.stdout
