"""The demo image generator, its edits and the shipped demo hash list."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from spinneret.demo.edits import DEFAULT_EDITS, DIHEDRAL_EDITS, GEOMETRY_EDITS, encode
from spinneret.demo.images import generate, generate_bytes
from spinneret.demo.make_list import DEMO_LIST_PATH, HEADER, render_csv
from spinneret.matcher.algorithms.pdq import Pdq
from spinneret.matcher.decode import decode_image
from spinneret.matcher.hashing import HashOptions, hash_image
from tests.conftest import report

PERCEPTUAL = HashOptions(algorithms=("pdq", "phash", "dhash"))
AUTO = {"pdq": 31, "phash": 10, "dhash": 10}  # PDQ auto; pHash/dHash review distance


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, b = generate(42, (200, 150)), generate(42, (200, 150))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert generate_bytes(42, size=(200, 150)) == generate_bytes(42, size=(200, 150))
    assert not np.array_equal(np.asarray(a), np.asarray(generate(43, (200, 150))))
    assert a.mode == "RGB" and a.size == (200, 150)


def test_seeds_are_perceptually_distinct_and_good_quality():
    """All pairs of 1000 seeds (small renders): PDQ far above 40, pHash/dHash above 10."""
    seeds = 1000
    bits = {name: [] for name in AUTO}
    for seed in range(seeds):
        hashes = hash_image(encode(generate(seed, (128, 96)), "PNG"), PERCEPTUAL)
        assert hashes.get("pdq").quality >= 50, seed
        for name in bits:
            bits[name].append(np.frombuffer(bytes.fromhex(hashes.get(name).hex), np.uint8))
    upper = np.triu_indices(seeds, 1)
    minimum = {}
    for name, rows in bits.items():
        matrix = np.unpackbits(np.array(rows), axis=1).astype(np.int32)
        distances = matrix @ (1 - matrix).T + (1 - matrix) @ matrix.T
        minimum[name] = int(distances[upper].min())
    report(f"minimum pairwise distance over {seeds} seeds: {minimum}")
    assert minimum["pdq"] > 70
    assert minimum["phash"] > 10 and minimum["dhash"] > 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edited_copies_still_match(seed: int):
    image = generate(seed)
    original = hash_image(encode(image), PERCEPTUAL)
    for name, edit in DEFAULT_EDITS.items():
        data = edit(image)
        hashes = hash_image(data, PERCEPTUAL)
        d = {a: distance(original.get(a).hex, hashes.get(a).hex) for a in AUTO}
        if name in DIHEDRAL_EDITS:
            variants = Pdq().compute_dihedral(decode_image(data))
            best = min(distance(original.get("pdq").hex, v.hex) for v in variants)
            assert best <= AUTO["pdq"], (name, best)
        elif name in GEOMETRY_EDITS:
            assert d["phash"] <= AUTO["phash"] or d["dhash"] <= AUTO["dhash"], (name, d)
        else:
            assert d["pdq"] <= AUTO["pdq"], (name, d)


def test_edits_really_change_the_bytes():
    image = generate(5, (160, 120))
    original = encode(image)
    for name, edit in DEFAULT_EDITS.items():
        if name != "png":
            assert edit(image) != original, name


def test_shipped_demo_list_matches_the_generator():
    shipped = DEMO_LIST_PATH.read_text(encoding="utf-8")
    assert shipped.splitlines()[0] == ",".join(HEADER)
    rows = list(csv.DictReader(shipped.splitlines()))
    assert len(rows) == 20 * 6
    assert shipped == render_csv(), "run: python -m spinneret.demo.make_list"
