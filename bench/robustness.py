"""Robustness of the perceptual hashes and the default decision rule: how often an edited copy
is still found, and how often distinct images are flagged.

    python bench/robustness.py [--quick] [--distractors 10000] [--workers 2]
    python bench/robustness.py --real [--quick] [--workers 2] [--cache-dir DIR]

`--real`: real-image distractors instead (bench/robustness_real.py; held-out real images,
their crops and edits, gradients and patterns), false matches per algorithm and decision.

Originals: the benign photos of the PDQ reference set (found like tests/conftest.py's
reference_dir()), scikit-image's and scikit-learn's bundled sample photos, and synthetic
scenes (spinneret.demo.images). Each original is put in a block list by its PNG encoding's
hashes; every edit of it (bench/robustness_edits.py) is hashed through
`matcher.hashing.hash_image` and matched by `matcher.matching.Matcher` at the shipped
thresholds (config.Settings defaults), without and with dihedral PDQ matching. Distractors:
distinct synthetic images (different seeds, 256x192, JPEG 85), whose hashes are cached in
bench/results/; every match of one is a false match. The baseline in the same run is the
plain pixel-exact rule: a SHA-256 match (what a list of cryptographic hashes alone finds).

A threshold sweep over the measured distances shows recall and false pairs (distractor x
original, distractor x distractor, original x original) at every distance.
Prints tables and writes bench/results/robustness.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import multiprocessing
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from robustness_edits import GOALS, EditCase, all_edits

from spinneret.config import Settings
from spinneret.demo import images as demo_images
from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.algorithms.pdq import Pdq
from spinneret.matcher.hashing import HashOptions, ImageHashes, hash_image_decoded
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import ListEntry, ListInfo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "robustness_distractors.json"
PERCEPTUAL = ("pdq", "phash", "dhash", "cropdct")
BITS = {"pdq": 256, "phash": 64, "dhash": 64, "cropdct": 256}
#: Algorithms gated by a minimum quality (their flat-image hashes are not matched).
WITH_QUALITY = ("pdq", "cropdct")
DISTRACTOR_SIZE = (256, 192)
DISTRACTOR_SEED0 = 1_000_000
SYNTHETIC_ORIGINALS = 30
#: Distractors whose query variants are compared with every other distractor's stored hash
#: (36 lookups x 10,000 hashes each).
VARIANT_PAIR_QUERIES = 1000
SKIMAGE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket",
                  "hubble_deep_field", "coins", "moon", "brick", "grass", "gravel",
                  "immunohistochemistry", "retina", "page", "text", "cell", "clock")


@dataclass(frozen=True)
class Original:
    name: str
    source: str
    image: Image.Image


@dataclass(frozen=True)
class Hashed:
    """The perceptual hashes of one image, and PDQ's 8 dihedral hashes."""

    hashes: ImageHashes
    dihedral: tuple[HashValue, ...]

    def value(self, algorithm: str) -> HashValue:
        found = self.hashes.get(algorithm)
        if found is None:
            raise KeyError(algorithm)
        return found

    def lookups(self, algorithm: str) -> list[HashValue]:
        """Every hash of `algorithm` a query is looked up by: the hash and its variants."""
        return [self.value(algorithm),
                *(v for v in self.hashes.variants if v.algorithm == algorithm)]


def quality_ok(value: HashValue, thresholds: Thresholds) -> bool:
    if value.algorithm not in WITH_QUALITY:
        return True
    return (value.quality or 0) >= thresholds.get(_registry_get(value.algorithm)).min_quality


# --- originals -------------------------------------------------------------------------------


def reference_dir() -> Path | None:
    """tests/conftest.py's reference_dir() (the PDQ reference photos), loaded by path."""
    spec = importlib.util.spec_from_file_location("_bench_conftest", ROOT / "tests" / "conftest.py")
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_dir()


def _rgb(image: Image.Image) -> Image.Image:
    return ImageOps.exif_transpose(image).convert("RGB")


def load_originals() -> tuple[list[Original], list[str]]:
    originals: list[Original] = []
    notes: list[str] = []
    ref = reference_dir()
    if ref is None:
        notes.append("PDQ reference photos not found (../shared/reference/pdq): skipped")
    else:
        paths = [ref / "bridge-mods" / "aaa-orig.jpg",
                 *sorted((ref / "reg-test-input" / "labelme-subset").glob("*.jpg"))]
        for path in paths:
            with Image.open(path) as image:
                originals.append(Original(f"ref/{path.stem}", "pdq-reference", _rgb(image)))
    try:
        import skimage.data

        for name in SKIMAGE_PHOTOS:
            array = getattr(skimage.data, name)()
            image = Image.fromarray(array)
            originals.append(Original(f"skimage/{name}", "scikit-image", image.convert("RGB")))
    except ImportError:
        notes.append("scikit-image not installed (pip install -e .[bench]): skipped")
    try:
        from sklearn.datasets import load_sample_images

        bunch = load_sample_images()
        for path, array in zip(bunch.filenames, bunch.images, strict=True):
            originals.append(Original(f"sklearn/{Path(path).stem}", "scikit-learn",
                                      Image.fromarray(array).convert("RGB")))
    except ImportError:
        notes.append("scikit-learn not installed (pip install -e .[bench]): skipped")
    for seed in range(SYNTHETIC_ORIGINALS):
        originals.append(Original(f"synthetic/{seed}", "synthetic", demo_images.generate(seed)))
    return originals, notes


def reference_edits(ref: Path | None) -> list[tuple[str, Path]]:
    """The reference set's own edited copies of the bridge photo (all should match it)."""
    if ref is None:
        return []
    return [(f"reference file {p.stem}", p) for p in sorted((ref / "bridge-mods").glob("*.jpg"))
            if p.stem != "aaa-orig"]


# --- hashing (worker processes) -------------------------------------------------------------

_ORIGINALS: list[Original] = []
_EDITS: dict[str, EditCase] = {}
_PDQ = Pdq()


def hash_bytes(data: bytes) -> Hashed:
    """The production path (`matcher.service.hash_for_matching`): every hash with its query
    variants (cropdct's crop guesses; the hashes without a uniform border, if it has one),
    plus the dihedral PDQ hashes."""
    hashes, decoded = hash_image_decoded(data, HashOptions(), variants=True, trim_borders=True)
    dihedral = tuple(_PDQ.compute_dihedral(decoded))
    return Hashed(hashes, dihedral)


def _edit_task(task: tuple[int, str]) -> tuple[int, str, Hashed]:
    index, name = task
    data = _EDITS[name].apply(_ORIGINALS[index].image)
    return index, name, hash_bytes(data)


def _file_task(task: tuple[int, str, str]) -> tuple[int, str, Hashed]:
    index, name, path = task
    return index, name, hash_bytes(Path(path).read_bytes())


def _distractor_task(seed: int) -> dict:
    buffer = io.BytesIO()
    demo_images.generate(seed, DISTRACTOR_SIZE).save(buffer, format="JPEG", quality=85)
    hashed = hash_bytes(buffer.getvalue())
    return {"seed": seed, **_hashed_to_json(hashed)}


def _hashed_to_json(hashed: Hashed) -> dict:
    return {
        "values": [[v.algorithm, v.hex, v.quality] for v in hashed.hashes.values],
        "variants": [[v.algorithm, v.hex, v.quality] for v in hashed.hashes.variants],
        "dihedral": [v.hex for v in hashed.dihedral],
        "quality": hashed.dihedral[0].quality if hashed.dihedral else None,
    }


def _hashed_from_json(item: dict) -> Hashed:
    values = tuple(HashValue(a, h, q) for a, h, q in item["values"])
    variants = tuple(HashValue(a, h, q) for a, h, q in item["variants"])
    dihedral = tuple(HashValue("pdq", h, item["quality"]) for h in item["dihedral"])
    return Hashed(ImageHashes(values, "JPEG", *DISTRACTOR_SIZE, 0, variants), dihedral)


def distractors(count: int, pool, log) -> list[Hashed]:
    """`count` distractors, from the cache where it has them (the cache only grows)."""
    params = {"size": list(DISTRACTOR_SIZE), "format": "JPEG85", "seed0": DISTRACTOR_SEED0,
              "generator": "spinneret.demo.images.generate",
              "algorithms": list(HashOptions().algorithms), "variants": True,
              "trim_borders": True}
    cached: list[dict] = []
    if CACHE.is_file():
        try:
            data = json.loads(CACHE.read_text())
            if data.get("params") == params:
                cached = data["items"]
        except (ValueError, KeyError):
            cached = []
    if len(cached) < count:
        missing = range(DISTRACTOR_SEED0 + len(cached), DISTRACTOR_SEED0 + count)
        log(f"hashing {len(missing)} distractors ({len(cached)} cached)...")
        cached = cached + list(pool.imap(_distractor_task, missing, chunksize=32))
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps({"params": params, "items": cached}))
    return [_hashed_from_json(item) for item in cached[:count]]


# --- matching -------------------------------------------------------------------------------


def build_matchers(thresholds: Thresholds, originals: list[Hashed], names: list[str]
                   ) -> dict[str, Matcher]:
    info = ListInfo("originals", "block", "bench", "benchmark", "", 1, {}, 0.0, 0.0, "bench")
    # Each entry carries its quality, as a list made by `spinneret hash` does.
    entries = [
        ListEntry(algorithm, hashed.value(algorithm).hex, name, str(i),
                  hashed.value(algorithm).quality)
        for i, (name, hashed) in enumerate(zip(names, originals, strict=True))
        for algorithm in (*PERCEPTUAL, "sha256")
    ]
    matchers = {"plain": Matcher(thresholds), "dihedral": Matcher(thresholds, dihedral=True)}
    for matcher in matchers.values():
        matcher.load_list(info, entries)
    return matchers


def decide(matchers: dict[str, Matcher], hashed: Hashed, expected: str | None) -> dict:
    """Per mode and algorithm: 'auto', 'review' or '' for the expected original, and the
    number of matches to other originals (false)."""
    out: dict = {}
    for mode, matcher in matchers.items():
        matches = matcher.match(hashed.hashes, list(hashed.dihedral) if mode == "dihedral"
                                else None)
        found: dict[str, str] = {}
        false = defaultdict(lambda: {"auto": 0, "review": 0})
        for m in matches:
            if m.label == expected:
                if found.get(m.algorithm) != "auto":
                    found[m.algorithm] = m.decision
            else:
                false[m.algorithm][m.decision] += 1
        out[mode] = {"found": found, "false": dict(false)}
    return out


# --- distances for the sweep ----------------------------------------------------------------


def words(hexes: list[str]) -> np.ndarray:
    """Hex hashes to rows of uint64 words."""
    raw = np.frombuffer(bytes.fromhex("".join(hexes)), dtype=">u8")
    return raw.astype(np.uint64).reshape(len(hexes), -1)


def pair_histogram(a: np.ndarray, b: np.ndarray | None, bits: int) -> np.ndarray:
    """Histogram of Hamming distances over all pairs (a x b, or distinct pairs within a)."""
    hist = np.zeros(bits + 1, dtype=np.int64)
    other = a if b is None else b
    for start in range(0, len(a), 256):
        block = a[start:start + 256]
        d = np.bitwise_count(block[:, None, :] ^ other[None, :, :]).sum(axis=2, dtype=np.int64)
        if b is None:  # keep j > i only
            rows = np.arange(start, start + len(block))[:, None]
            d = d[np.arange(len(other))[None, :] > rows]
        hist += np.bincount(d.ravel(), minlength=bits + 1)[: bits + 1]
    return hist


def joint_pairs(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray] | None,
                points: list[int]) -> list[int]:
    """Pairs whose distances on two algorithms are both <= t, for each t in `points`.
    `first`/`second` are (rows of algorithm A, rows of algorithm B) of the same images, in
    the same order; without `second`, distinct pairs within `first`."""
    counts = [0] * len(points)
    a_rows, b_rows = first
    a_other, b_other = second if second is not None else first
    for start in range(0, len(a_rows), 256):
        stop = min(start + 256, len(a_rows))
        da = np.bitwise_count(a_rows[start:stop, None, :] ^ a_other[None, :, :]).sum(axis=2)
        db = np.bitwise_count(b_rows[start:stop, None, :] ^ b_other[None, :, :]).sum(axis=2)
        both = np.maximum(da, db)
        if second is None:  # keep j > i only
            both = both[np.arange(len(a_other))[None, :] > np.arange(start, stop)[:, None]]
        for k, t in enumerate(points):
            counts[k] += int((both <= t).sum())
    return counts


def lookup_histogram(queries: list[np.ndarray], stored: np.ndarray, bits: int,
                     skip_self: bool = False) -> np.ndarray:
    """Histogram over (query image, stored hash) pairs of the least distance from any of the
    query's lookups (rows of words) to the stored hash. With `skip_self`, query i and stored
    row i are the same image (distractors against the distractor list) and not counted."""
    hist = np.zeros(bits + 1, dtype=np.int64)
    for i, lookups in enumerate(queries):
        d = np.bitwise_count(lookups[:, None, :] ^ stored[None, :, :]).sum(axis=2).min(axis=0)
        if skip_self and i < len(d):
            d = np.delete(d, i)
        hist += np.bincount(d, minlength=bits + 1)[: bits + 1]
    return hist


def distance(a: str, b: str) -> int:
    return int.bit_count(int(a, 16) ^ int(b, 16))


# --- report ---------------------------------------------------------------------------------


def fmt_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


COLUMNS = [("pdq", "plain", "pdq"), ("pdq+dih", "dihedral", "pdq"), ("cropdct", "plain", "cropdct"),
           ("phash", "plain", "phash"),
           ("dhash", "plain", "dhash"), ("any", "plain", "*"), ("any+dih", "dihedral", "*"),
           ("sha256", "plain", "sha256")]


def recall_cell(results: list[dict], mode: str, algorithm: str) -> tuple[float, float]:
    auto = review = 0
    for r in results:
        found = r[mode]["found"]
        decisions = found.values() if algorithm == "*" else [found.get(algorithm, "")]
        if "auto" in decisions:
            auto += 1
        if "auto" in decisions or "review" in decisions:
            review += 1
    n = len(results) or 1
    return auto / n, review / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 6 originals, 300 distractors")
    parser.add_argument("--distractors", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "robustness.json")
    parser.add_argument("--real", action="store_true",
                        help="real-image distractor mode (bench/robustness_real.py)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where --real fetches its images (default: the user cache)")
    args = parser.parse_args(argv)
    if args.real:
        import robustness_real

        return robustness_real.main(args)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    settings = Settings()
    thresholds = Thresholds.from_settings(settings)
    originals, notes = load_originals()
    ref_edits = reference_edits(reference_dir())
    edits = all_edits()
    if args.quick:
        args.distractors = min(args.distractors, 300)
        by_source: dict[str, list[Original]] = defaultdict(list)
        for o in originals:
            by_source[o.source].append(o)
        originals = [o for group in by_source.values()
                     for o in sorted(group, key=lambda o: o.image.width * o.image.height)[:2]][:6]
    global _ORIGINALS, _EDITS
    _ORIGINALS = originals
    _EDITS = {e.name: e for e in edits}
    names = [o.name for o in originals]
    if "ref/aaa-orig" not in names:
        ref_edits = []  # the reference files are edits of the bridge photo
    log(f"{len(originals)} originals, {len(edits)} edits, {len(ref_edits)} reference files, "
        f"{args.distractors} distractors")

    context = multiprocessing.get_context("fork")
    with context.Pool(args.workers) as pool:
        original_hashes = pool.map(hash_bytes, [_png(o.image) for o in originals])
        matchers = build_matchers(thresholds, original_hashes, names)
        tasks = [(i, e.name) for e in edits for i in range(len(originals))]
        copies = list(pool.imap_unordered(_edit_task, tasks, chunksize=4))
        bridge = names.index("ref/aaa-orig") if "ref/aaa-orig" in names else None
        if bridge is not None:
            copies += pool.map(_file_task, [(bridge, n, str(p)) for n, p in ref_edits])
        log(f"hashed {len(copies)} edited copies")
        distractor_hashes = distractors(args.distractors, pool, log)
    log("matching")

    families = {e.name: e.family for e in edits}
    families.update({n: "reference files" for n, _ in ref_edits})
    order = [e.name for e in edits] + [n for n, _ in ref_edits]
    per_edit: dict[str, list[dict]] = defaultdict(list)
    distances: dict[str, dict[str, list[int | None]]] = defaultdict(lambda: defaultdict(list))
    cross_false = {"plain": defaultdict(int), "dihedral": defaultdict(int)}
    copies.sort(key=lambda c: (c[1], c[0]))  # per edit, in the order of `originals`
    for index, name, hashed in copies:
        decision = decide(matchers, hashed, names[index])
        per_edit[name].append(decision)
        for mode in ("plain", "dihedral"):
            for alg, counts in decision[mode]["false"].items():
                for level, count in counts.items():
                    cross_false[mode][f"{alg}:{level}"] += count
        original = original_hashes[index]
        for alg in PERCEPTUAL:
            usable = [v for v in hashed.lookups(alg) if quality_ok(v, thresholds)]
            stored = original.value(alg).hex
            distances[name][alg].append(
                min(distance(v.hex, stored) for v in usable) if usable else None)
        dih = min(distance(v.hex, original.value("pdq").hex) for v in hashed.dihedral)
        pdq_ok = quality_ok(hashed.value("pdq"), thresholds)
        distances[name]["pdq+dih"].append(dih if pdq_ok else None)

    false_distractors = {"plain": defaultdict(int), "dihedral": defaultdict(int)}
    flagged_images = {"plain": {"auto": 0, "review": 0}, "dihedral": {"auto": 0, "review": 0}}
    for hashed in distractor_hashes:
        decision = decide(matchers, hashed, None)
        for mode in ("plain", "dihedral"):
            levels = set()
            for alg, counts in decision[mode]["false"].items():
                for level, count in counts.items():
                    false_distractors[mode][f"{alg}:{level}"] += count
                    if count:
                        levels.add(level)
            if "auto" in levels:
                flagged_images[mode]["auto"] += 1
            if levels:
                flagged_images[mode]["review"] += 1

    # Distinct-pair distance histograms (pairs with a quality-gated hash only where both pass).
    # An algorithm with query variants (cropdct) is measured as matching does it: a pair's
    # distance is the least over the query's variants, against the other image's stored hash.
    histograms: dict[str, dict[str, list[int]]] = {}
    for alg in PERCEPTUAL:
        def rows(items: list[Hashed], alg: str = alg) -> np.ndarray:
            keep = [h.value(alg).hex for h in items if quality_ok(h.value(alg), thresholds)]
            return words(keep) if keep else np.zeros((0, BITS[alg] // 64), np.uint64)
        d_rows, o_rows = rows(distractor_hashes), rows(original_hashes)
        if any(h.lookups(alg)[1:] for h in distractor_hashes[:1]):
            # Same filter as rows(): row i of d_rows is distractor i of d_lookups.
            d_lookups = [words([v.hex for v in h.lookups(alg) if quality_ok(v, thresholds)])
                         for h in distractor_hashes if quality_ok(h.value(alg), thresholds)]
            histograms[alg] = {
                "distractor x original": lookup_histogram(d_lookups, o_rows, BITS[alg]).tolist(),
                "distractor x distractor": lookup_histogram(
                    d_lookups[:VARIANT_PAIR_QUERIES], d_rows, BITS[alg], skip_self=True).tolist(),
                "original x original": pair_histogram(o_rows, None, BITS[alg]).tolist(),
            }
            continue
        histograms[alg] = {
            "distractor x original": pair_histogram(d_rows, o_rows, BITS[alg]).tolist(),
            "distractor x distractor": pair_histogram(d_rows, None, BITS[alg]).tolist(),
            "original x original": pair_histogram(o_rows, None, BITS[alg]).tolist(),
        }
    # Corroboration: pairs of distinct images within t bits on pHash *and* dHash.
    both = {alg: (words([h.value(alg).hex for h in distractor_hashes]),
                  words([h.value(alg).hex for h in original_hashes])) for alg in ("phash", "dhash")}
    joint_points = [10, 12, 14]
    joint = {
        "points": joint_points,
        "distractor x original": joint_pairs((both["phash"][0], both["dhash"][0]),
                                             (both["phash"][1], both["dhash"][1]), joint_points),
        "distractor x distractor": joint_pairs((both["phash"][0], both["dhash"][0]), None,
                                               joint_points),
        "original x original": joint_pairs((both["phash"][1], both["dhash"][1]), None,
                                           joint_points),
    }
    log("done")

    results = {
        "machine": platform.platform(), "python": sys.version.split()[0], "quick": args.quick,
        "notes": notes,
        "thresholds": {alg: vars(thresholds.get(_registry_get(alg))) for alg in PERCEPTUAL},
        "originals": [{"name": o.name, "source": o.source, "size": list(o.image.size),
                       "pdq_quality": h.value("pdq").quality}
                      for o, h in zip(originals, original_hashes, strict=True)],
        "distractors": len(distractor_hashes),
        "recall": {name: {label: dict(zip(("auto", "review"), recall_cell(per_edit[name], mode, alg),
                                          strict=True))
                          for label, mode, alg in COLUMNS}
                   for name in order},
        "families": families,
        "distances": {name: dict(v) for name, v in distances.items()},
        "false_matches": {
            "distractor_matches": {m: dict(v) for m, v in false_distractors.items()},
            "distractor_images_flagged": flagged_images,
            "edited_copy_matches_to_other_originals": {m: dict(v) for m, v in cross_false.items()},
        },
        "pair_histograms": histograms,
        "phash_and_dhash_pairs": joint,
        "seconds": round(time.perf_counter() - started, 1),
    }
    report(results, thresholds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


def _registry_get(name: str):
    from spinneret.matcher.algorithms import default_registry

    return default_registry().get(name)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def sweep_rows(results: dict, alg: str, goal_edits: list[str], points: list[int]
               ) -> list[list[str]]:
    key = "pdq" if alg == "pdq+dih" else alg
    rows = []
    hist = results["pair_histograms"][key]
    measured = [d for name in goal_edits for d in results["distances"][name][alg]]
    for t in points:
        found = sum(1 for d in measured if d is not None and d <= t)
        row = [f"{alg} <= {t}", f"{found / (len(measured) or 1):.3f}"]
        for kind in ("distractor x original", "distractor x distractor", "original x original"):
            h = np.asarray(hist[kind])
            within = int(h[: t + 1].sum())
            row.append(f"{within:,} / {int(h.sum()):,}")
        rows.append(row)
    return rows


def report(results: dict, thresholds: Thresholds) -> None:
    th = results["thresholds"]
    print("Thresholds (shipped defaults): " + "; ".join(
        f"{a} auto {v['auto']} review {v['review']}"
        + (f" min quality {v['min_quality']}" if v["min_quality"] else "")
        for a, v in th.items()))
    n_orig = len(results["originals"])
    print(f"{n_orig} originals; {results['distractors']:,} distractors; "
          "cells: recall at auto / at auto-or-review")
    header = ["edit", "family", "n"] + [c[0] for c in COLUMNS]
    rows = []
    for name, cells in results["recall"].items():
        n = len(results["distances"][name]["pdq"])
        rows.append([name, results["families"][name], str(n)]
                    + [f"{cells[c[0]]['auto']:.2f}/{cells[c[0]]['review']:.2f}" for c in COLUMNS])
    print(fmt_table(rows, header))

    fm = results["false_matches"]
    print("\nFalse matches against distractors (entry matches; images flagged):")
    for mode in ("plain", "dihedral"):
        counts = fm["distractor_matches"][mode]
        flagged = fm["distractor_images_flagged"][mode]
        print(f"  {mode:9} auto: {flagged['auto']} images, review: {flagged['review']} images; "
              f"by algorithm: {dict(sorted(counts.items())) or 'none'}")
        cross = fm["edited_copy_matches_to_other_originals"][mode]
        print(f"  {mode:9} edited copies matching another original: "
              f"{dict(sorted(cross.items())) or 'none'}")

    print("\nGoals at the shipped defaults (any algorithm, found = auto or review; "
          "dihedral family with dihedral matching on):")
    by_family: dict[str, list[str]] = defaultdict(list)
    for name, family in results["families"].items():
        by_family[family].append(name)
    for family, goal in GOALS.items():
        column = "any+dih" if family == "dihedral" else "any"
        values = [results["recall"][n][column]["review"] for n in by_family.get(family, [])]
        autos = [results["recall"][n][column]["auto"] for n in by_family.get(family, [])]
        if not values:
            continue
        worst, worst_auto = min(values), min(autos)
        if family == "dihedral":
            # The goal is "found when dihedral matching is on": judged over the originals
            # PDQ accepts (its quality gate refuses the rest, turned or not).
            review = th["pdq"]["review"]
            shares = []
            for name in by_family[family]:
                usable = [d for d in results["distances"][name]["pdq+dih"] if d is not None]
                shares.append(sum(d <= review for d in usable) / (len(usable) or 1))
            accepted = min(shares)
            print(f"  {family:20} >= {goal:.2f}: {'met   ' if accepted >= goal else 'MISSED'} "
                  f"(worst edit {accepted:.3f} of the originals PDQ accepts; "
                  f"{worst:.3f} of all)")
            continue
        print(f"  {family:20} >= {goal:.2f}: {'met   ' if worst >= goal else 'MISSED'} "
              f"(worst edit {worst:.3f}; at auto only {worst_auto:.3f})")
    auto_false = fm["distractor_images_flagged"]["dihedral"]["auto"] + \
        fm["distractor_images_flagged"]["plain"]["auto"]
    print(f"  {'zero false auto':20}: {'met   ' if auto_false == 0 else 'MISSED'} "
          f"({auto_false} distractor images flagged auto)")

    goal_edits = [n for n, f in results["families"].items()
                  if f in GOALS and f != "dihedral"]
    print("\nThreshold sweep (recall over the goal edits except dihedral; pairs of distinct "
          "images within the distance):")
    header = ["distance", "recall", "distractor x original", "distractor x distractor",
              "original x original"]
    rows = []
    for alg, points in (("pdq", [16, 24, 31, 36, 40, 48, 56, 64, 70]),
                        ("cropdct", [16, 24, 31, 36, 40, 48, 56, 64, 70]),
                        ("phash", [4, 6, 8, 10, 12, 14, 16]),
                        ("dhash", [4, 6, 8, 10, 12, 14, 16])):
        rows += sweep_rows(results, alg, goal_edits, points)
    joint = results["phash_and_dhash_pairs"]
    for k, t in enumerate(joint["points"]):
        rows.append([f"phash and dhash <= {t}", "-"] + [
            f"{joint[kind][k]:,}" for kind in
            ("distractor x original", "distractor x distractor", "original x original")])
    print(fmt_table(rows, header))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
