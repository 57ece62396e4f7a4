"""PDQ against the reference implementation's hashes (facebook/ThreatExchange pdq/data).

The bundled subset (tests/data/pdq) always runs; the full set runs where
`reference_dir()` finds it (SPINNERET_REFERENCE_DIR or ../shared/reference/pdq).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from spinneret.matcher.algorithms.pdq import Pdq
from spinneret.matcher.decode import DecodedImage
from spinneret.matcher.hashing import HashOptions, hash_image
from tests.conftest import DATA_DIR, reference_dir, report

BUNDLED = DATA_DIR / "pdq"
FULL = reference_dir()
needs_full = pytest.mark.skipif(
    FULL is None,
    reason="full PDQ reference set not found (set SPINNERET_REFERENCE_DIR or ../shared/reference/pdq)",
)
PDQ_ONLY = HashOptions(algorithms=("pdq",))
REFERENCE_TOLERANCE = 16  # ThreatExchange's own Python test uses 16 bits
AUTO_DISTANCE = Pdq.default_auto_distance


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pdq_of(path: Path) -> str:
    return hash_image(path.read_bytes(), PDQ_ONLY).values[0].hex


def check_expected(root: Path) -> list[int]:
    with (root / "expected_pdq.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, f"{root}/expected_pdq.csv is empty"
    distances = []
    for row in rows:
        d = distance(pdq_of(root / row["path"]), row["pdq_hex"])
        assert d <= REFERENCE_TOLERANCE, f"{row['path']}: {d} bits from the reference"
        distances.append(d)
    report(
        f"PDQ conformance ({root}): {len(distances)} images, "
        f"max distance {max(distances)}, mean {sum(distances) / len(distances):.2f} bits"
    )
    return distances


def test_bundled_subset_matches_reference_hashes():
    distances = check_expected(BUNDLED)
    assert len(distances) == 9


@needs_full
def test_full_reference_set_matches_reference_hashes():
    distances = check_expected(FULL)
    assert len(distances) >= 18


def check_bridge_mods(folder: Path) -> None:
    original = pdq_of(folder / "aaa-orig.jpg")
    files = sorted(folder.glob("*.jpg"))
    assert len(files) > 1
    far = {p.name: d for p in files if (d := distance(original, pdq_of(p))) > AUTO_DISTANCE}
    assert not far, f"edits not matching aaa-orig.jpg within {AUTO_DISTANCE}: {far}"


def test_bundled_bridge_mods_match_original():
    check_bridge_mods(BUNDLED / "bridge-mods")


@needs_full
def test_every_bridge_mod_matches_original():
    check_bridge_mods(FULL / "bridge-mods")
    assert len(list((FULL / "bridge-mods").glob("*.jpg"))) == 12


def test_unrelated_labelme_photos_do_not_match_each_other():
    files = sorted((BUNDLED / "reg-test-input" / "labelme-subset").glob("*.jpg"))
    hashes = {p.name: hash_image(p.read_bytes(), PDQ_ONLY).values[0] for p in files}
    good = {name: v.hex for name, v in hashes.items() if v.quality >= Pdq.default_min_quality}
    assert len(good) == 5  # q0003/q0004 are flat, low quality
    names = sorted(good)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert distance(good[a], good[b]) > Pdq.default_review_distance, (a, b)


def _upright_full_resolution(path: Path) -> str:
    """The plain way: full-size decode, EXIF transpose, pdqhash on all pixels (no reduce)."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    decoded = DecodedImage("JPEG", upright.width, upright.height, working=upright)
    return Pdq().compute(decoded).hex


@needs_full
def test_exif_rotated_set_hashes_as_upright_image():
    """exif-rotn-{1,3,6,8} are four photos whose stored pixels are turned and whose EXIF
    tag turns them back. Each must hash like its upright full-resolution self (a few bits,
    the reduced decode) and not like its stored, unturned pixels.

    They are separate shots of a desk, not one photo re-tagged (they are ~110-140 bits
    apart upright), so "matches the upright image" is checked on re-tagged copies of the
    bundled bridge photo, every tag 2-8, in test_decode.py instead.
    """
    folder = FULL / "reg-test-input" / "exif-rotn"
    for number in (1, 3, 6, 8):
        path = folder / f"exif-rotn-{number}.jpg"
        ours = pdq_of(path)
        assert distance(ours, _upright_full_resolution(path)) <= 12, path.name
        if number != 1:
            with Image.open(path) as image:
                stored = image.convert("RGB")
            raw = Pdq().compute(DecodedImage("JPEG", *stored.size, working=stored)).hex
            assert distance(ours, raw) > Pdq.default_review_distance, path.name


@needs_full
def test_every_mode_in_reference_hashes_like_the_original():
    folder = FULL / "misc-images" / "modes"
    original = pdq_of(folder / "original.jpg")
    files = [p for p in sorted(folder.iterdir()) if p.suffix in (".png", ".jpg", ".webp")]
    assert len(files) >= 14
    for path in files:
        hashes = hash_image(path.read_bytes())
        pdq = hashes.get("pdq")
        assert pdq is not None and pdq.quality >= 90, path.name
        assert distance(original, pdq.hex) <= 8, path.name
