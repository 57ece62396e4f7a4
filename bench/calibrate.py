"""Fit the perceptual algorithms' auto/review distances to distances between unrelated real
images, and check the fit on images it was not fitted on.

    python bench/calibrate.py [--workers 2] [--auto-rate 1e-6] [--review-rate 1e-4]

Corpus: `bench/real_corpus.py`. Fitted on the `tune` families, checked on `held-out`.
Per split, every image (real images, their region crops, gradients, patterns) is a possible
list entry (its hash as listed), and a query is every such image plus edited copies of the
real ones (`TUNE_EDITS`), hashed the way a worker hashes (`robustness.hash_bytes`: every
algorithm, cropdct's crop guesses, hashes without a uniform border, PDQ's 8 dihedral
hashes). A pair is (query, entry) of *different families*; its distance is the one matching
uses: the least over the query's lookups (quality-gated like `Matcher._queries`) against the
entry.

Fit (per algorithm, and PDQ with dihedral lookups): two models of the lower tail of the
unrelated-pair distance distribution, the threshold is the more conservative of the two:

- *binomial with effective degrees of freedom* (Daugman's model for iris codes): with mean
  fraction p and variance s^2 of d/bits, N = p(1-p)/s^2 independent bits; P(d <= t) is the
  binomial CDF of N trials at t*N/bits (regularized incomplete beta, real-valued N);
- *lower-tail probit line*: z = Phi^-1(F(d)) is fitted linearly in d over the empirical CDF
  points between `MIN_TAIL_PAIRS` pairs and 5% (a normal lower tail has a straight probit
  line; a heavier tail bends it, and the fit follows the bend), extrapolated.

auto = the largest t whose modelled P(d <= t) is <= `--auto-rate` (per pair) in both models and
with no measured pair at <= t; review likewise at `--review-rate`. Prints the table and writes
bench/results/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from real_corpus import default_cache_dir, load_corpus
from robustness import BITS, RESULTS, fmt_table, words
from robustness_edits import all_edits
from robustness_real import Query, corpus_queries
from scipy.special import betainc, ndtr, ndtri

from spinneret.config import Settings
from spinneret.matcher.algorithms import HashValue, default_registry
from spinneret.matcher.matching import AlgorithmThresholds, Thresholds

#: Edited copies of every real image used as queries (the kinds that moved unrelated
#: wallpapers closest in issue 13: mirrors, rotations, and common re-uploads).
TUNE_EDITS = ("jpeg q70", "flip horizontal", "rotate 90", "crop 5%", "pad 10%", "grayscale",
              "resize 0.5x", "brightness +20%")
#: (label, algorithm, dihedral lookups)
MEASURED = (("pdq", "pdq", False), ("pdq+dihedral", "pdq", True), ("cropdct", "cropdct", False),
            ("phash", "phash", False), ("dhash", "dhash", False))
MIN_TAIL_PAIRS = 20
QUALITY_FLOORS = (0, 10, 20, 30, 40, 50, 60, 70, 80)
CLOSEST = 12
TAIL_TOP = 0.05


def usable(value: HashValue, thresholds: Thresholds) -> bool:
    """`Matcher._queries`' quality gate."""
    algorithm = default_registry().get(value.algorithm)
    limits = thresholds.get(algorithm)
    return not (algorithm.has_quality and value.quality is not None
                and value.quality < limits.min_quality)


def lookups(query: Query, algorithm: str, dihedral: bool, thresholds: Thresholds) -> list[str]:
    hashes = query.hashed.hashes
    values = [v for v in [*hashes.values, *hashes.variants] if v.algorithm == algorithm]
    if dihedral:
        values += list(query.hashed.dihedral)
    return list(dict.fromkeys(v.hex for v in values if usable(v, thresholds)))


@dataclass
class PairDistances:
    """Histograms of unrelated-pair distances per measured label, and the joint
    max(pHash, dHash) histogram (pairs within t on both)."""

    hist: dict[str, np.ndarray]
    joint: np.ndarray
    #: Per label, the closest unrelated pairs: (distance, query, edit, entry).
    closest: dict[str, list[tuple[int, str, str, str]]]


def pair_distances(queries: list[Query], entries: list[Query], thresholds: Thresholds,
                   measured: tuple = MEASURED) -> PairDistances:
    hist = {label: np.zeros(BITS[alg] + 1, np.int64) for label, alg, _ in measured}
    joint = np.zeros(65, np.int64)
    closest: dict[str, list] = {label: [] for label, _, _ in measured}
    families = np.array([e.item.family for e in entries])
    stored = {alg: words([e.hashed.value(alg).hex for e in entries])
              for alg in ("pdq", "cropdct", "phash", "dhash")}
    # A list made with `spinneret hash` carries each entry's quality; a weak entry never
    # decides alone, so it is no auto/review candidate either.
    strong = {alg: np.array([usable(e.hashed.value(alg), thresholds) for e in entries])
              for alg in stored}
    for query in queries:
        other = families != query.item.family
        per_alg: dict[str, np.ndarray] = {}
        for label, alg, dihedral in measured:
            hexes = lookups(query, alg, dihedral, thresholds)
            if not hexes:
                continue
            rows = words(hexes)
            d = np.bitwise_count(rows[:, None, :] ^ stored[alg][None, :, :]).sum(axis=2)
            d = d.min(axis=0)
            per_alg[label] = d
            mask = other & strong[alg]
            kept = d[mask]
            hist[label] += np.bincount(kept, minlength=BITS[alg] + 1)[: BITS[alg] + 1]
            for j in np.nonzero(mask & (d <= BITS[alg] // 6))[0]:
                closest[label].append((int(d[j]), query.item.name, query.edit,
                                       entries[j].item.name))
        if "phash" in per_alg and "dhash" in per_alg:
            both = np.maximum(per_alg["phash"], per_alg["dhash"])
            both = both[other & strong["phash"] & strong["dhash"]]
            joint += np.bincount(both, minlength=65)[:65]
    return PairDistances(hist, joint, {k: sorted(v)[:CLOSEST] for k, v in closest.items()})


# --- the tail models ------------------------------------------------------------------------


def binomial_model(hist: np.ndarray, bits: int) -> tuple[float, float, callable]:
    """(p, N, P(d <= t)) of Daugman's effective-degrees-of-freedom binomial."""
    d = np.arange(len(hist))
    n = hist.sum()
    mean = (hist * d).sum() / n
    var = (hist * (d - mean) ** 2).sum() / n
    p = mean / bits
    dof = p * (1 - p) / (var / bits**2)

    def cdf(t: float) -> float:
        k = t * dof / bits
        if k >= dof:
            return 1.0
        return float(betainc(dof - k, k + 1, 1 - p))

    return p, dof, cdf


def probit_model(hist: np.ndarray) -> tuple[tuple[float, float] | None, callable]:
    """((intercept, slope), P(d <= t)) of a line through the lower tail in probit space; the
    measured CDF where there are too few tail points."""
    n = hist.sum()
    counts = np.cumsum(hist)
    cdf = counts / n
    keep = (counts >= MIN_TAIL_PAIRS) & (cdf <= TAIL_TOP)
    x = np.nonzero(keep)[0]
    if len(x) < 2:
        # Too few points for a line (a steep tail): take the first distance that has
        # MIN_TAIL_PAIRS pairs and the one after it.
        x = np.nonzero(counts >= MIN_TAIL_PAIRS)[0][:2]
    z = ndtri(cdf[x])
    slope, intercept = np.polyfit(x, z, 1)

    def model(t: float) -> float:
        return float(ndtr(intercept + slope * t))

    return (float(intercept), float(slope)), model


def fit(hist: np.ndarray, bits: int, auto_rate: float, review_rate: float) -> dict:
    p, dof, binom_cdf = binomial_model(hist, bits)
    line, probit_cdf = probit_model(hist)
    counts = np.cumsum(hist)

    def largest(rate: float) -> int:
        best = -1
        for t in range(bits + 1):
            if max(binom_cdf(t), probit_cdf(t)) <= rate and counts[t] == 0:
                best = t
            else:
                break
        return best

    nearest = int(np.nonzero(hist)[0][0]) if hist.any() else None
    return {"pairs": int(hist.sum()), "mean": round(p * bits, 2), "dof": round(dof, 1),
            "probit_line": line, "nearest": nearest,
            "auto": largest(auto_rate), "review": largest(review_rate),
            "binomial_cdf": [binom_cdf(t) for t in range(bits + 1)],
            "probit_cdf": [probit_cdf(t) for t in range(bits + 1)]}


def quality_sweep(queries: list[Query], entries: list[Query], thresholds: Thresholds,
                  auto_rate: float, review_rate: float,
                  held_out: tuple[list[Query], list[Query]]) -> dict[str, list[dict]]:
    """Per algorithm: the fitted distances at each minimum quality, and the share of real
    images (and of all entries) whose hash passes it."""
    out: dict[str, list[dict]] = {}
    real = [e for e in entries if e.item.kind in ("package", "skimage")]
    for label in ("phash", "dhash", "cropdct", "pdq"):
        algorithm = default_registry().get(label)
        rows = []
        for floor in QUALITY_FLOORS:
            limits = thresholds.get(algorithm)
            per = dict(thresholds.per_algorithm)
            per[label] = AlgorithmThresholds(limits.auto, limits.review, floor,
                                             limits.corroborate)
            gated = Thresholds(per, thresholds.dihedral)
            hist = pair_distances(queries, entries, gated, ((label, label, False),)).hist[label]
            fitted = fit(hist, BITS[label], auto_rate, review_rate)
            held = pair_distances(*held_out, gated, ((label, label, False),)).hist[label]
            rows.append({"min_quality": floor, "auto": fitted["auto"],
                         "review": fitted["review"], "nearest": fitted["nearest"],
                         "dof": fitted["dof"], "pairs": fitted["pairs"],
                         "nearest_held_out": int(np.nonzero(held)[0][0]) if held.any() else None,
                         "real_passing": sum(usable(e.hashed.value(label), gated)
                                             for e in real) / (len(real) or 1),
                         "entries_passing": sum(usable(e.hashed.value(label), gated)
                                                for e in entries) / (len(entries) or 1)})
        out[label] = rows
    return out


# --- report ---------------------------------------------------------------------------------


def sweep_points(bits: int) -> list[int]:
    return [2, 4, 6, 8, 10, 12, 14, 16] if bits == 64 else [16, 24, 31, 40, 48, 56, 64, 70, 80]


def report(results: dict) -> None:
    print(f"Unrelated-pair distances (pairs of different families); fitted on tune, checked "
          f"on held-out; targets: auto {results['auto_rate']:g}, review "
          f"{results['review_rate']:g} per pair")
    rows = []
    for label, fitted in results["fits"].items():
        held = results["held_out"][label]
        rows.append([label, f"{fitted['pairs']:,}", f"{fitted['mean']}", f"{fitted['dof']}",
                     str(fitted["nearest"]), str(held["nearest"]), str(fitted["auto"]),
                     str(fitted["review"]), str(results["shipped"][label]["auto"]),
                     str(results["shipped"][label]["review"])])
    print(fmt_table(rows, ["algorithm", "tune pairs", "mean", "N eff", "nearest tune",
                           "nearest held-out", "fit auto", "fit review", "shipped auto",
                           "shipped review"]))
    print("\nSweep: measured pairs within t (tune | held-out) and the modelled share "
          "(binomial, probit):")
    rows = []
    for label, fitted in results["fits"].items():
        bits = len(fitted["binomial_cdf"]) - 1
        tune = np.cumsum(results["tune_hist"][label])
        held = np.cumsum(results["held_out_hist"][label])
        for t in sweep_points(bits):
            rows.append([f"{label} <= {t}", f"{int(tune[t]):,} / {int(tune[-1]):,}",
                         f"{int(held[t]):,} / {int(held[-1]):,}",
                         f"{fitted['binomial_cdf'][t]:.1e}", f"{fitted['probit_cdf'][t]:.1e}"])
    joint_t = np.cumsum(results["tune_joint"])
    joint_h = np.cumsum(results["held_out_joint"])
    for t in (8, 10, 12, 14):
        rows.append([f"phash and dhash <= {t}", f"{int(joint_t[t]):,}", f"{int(joint_h[t]):,}",
                     "-", "-"])
    print(fmt_table(rows, ["distance", "tune", "held-out", "binomial", "probit"]))
    print("\nClosest unrelated pairs (distance, query [edit] -> entry):")
    for split, by_label in results["closest"].items():
        for label, pairs in by_label.items():
            for d, query, edit, entry in pairs[:5]:
                print(f"  {split:8} {label:12} {d:3}  {query}{f' [{edit}]' if edit else ''}"
                      f" -> {entry}")
    print("\nMinimum quality (tune): fitted distances, and the share of real "
          "images / of all entries whose hash passes:")
    rows = [[f"{label} q >= {r['min_quality']}", f"{r['pairs']:,}", str(r["nearest"]),
             str(r["nearest_held_out"]),
             str(r["dof"]), str(r["auto"]), str(r["review"]), f"{r['real_passing']:.2f}",
             f"{r['entries_passing']:.2f}"]
            for label, sweep in results["quality_sweep"].items() for r in sweep]
    print(fmt_table(rows, ["floor", "pairs", "nearest", "nearest held-out", "N eff", "fit auto", "fit review",
                           "real passing", "entries passing"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--auto-rate", type=float, default=1e-6)
    parser.add_argument("--review-rate", type=float, default=1e-4)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "calibration.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    cache_dir = args.cache_dir or default_cache_dir()
    sources, made, notes = load_corpus(cache_dir, log=log)
    edits = {e.name: e for e in all_edits()}
    plan = {s.name: [edits[n] for n in TUNE_EDITS] for s in sources}
    thresholds = Thresholds.from_settings(Settings())
    registry = default_registry()
    per_split = {}
    pools = {}
    for split in ("tune", "held-out"):
        base, copies = corpus_queries(sources, made, split, plan, args.workers, log)
        log(f"{split}: {len(base)} entries, {len(base) + len(copies)} queries")
        per_split[split] = pair_distances(base + copies, base, thresholds)
        pools[split] = (base + copies, base)
    sweep = quality_sweep(*pools["tune"], thresholds, args.auto_rate, args.review_rate,
                          pools["held-out"])
    fits = {label: fit(per_split["tune"].hist[label], BITS[alg], args.auto_rate,
                       args.review_rate) for label, alg, _ in MEASURED}
    held = {label: {"nearest": int(np.nonzero(h)[0][0]) if h.any() else None}
            for label, h in per_split["held-out"].hist.items()}
    shipped = {label: vars(thresholds.get(registry.get(alg))) for label, alg, _ in MEASURED}
    results = {
        "machine": platform.platform(), "cpus": multiprocessing.cpu_count(),
        "python": sys.version.split()[0], "notes": notes, "cache_dir": str(cache_dir),
        "auto_rate": args.auto_rate, "review_rate": args.review_rate,
        "tune_edits": list(TUNE_EDITS), "fits": fits, "held_out": held, "shipped": shipped,
        "tune_hist": {k: v.tolist() for k, v in per_split["tune"].hist.items()},
        "held_out_hist": {k: v.tolist() for k, v in per_split["held-out"].hist.items()},
        "tune_joint": per_split["tune"].joint.tolist(),
        "held_out_joint": per_split["held-out"].joint.tolist(),
        "quality_sweep": sweep,
        "closest": {split: d.closest for split, d in per_split.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
