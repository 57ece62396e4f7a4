"""Command-line start-up benchmark (issue 14): whole processes, as a user runs them.

    python -m bench.cli [--runs 7] [--out bench/results/cli.json]

Side by side, in one run and interleaved (so load changes hit every command alike):
  python -c pass          - the interpreter alone, the floor of any command
  spinneret --help        - the console script listing its commands
  spinneret hash one.jpg  - one 12 MP JPEG, every configured hash
  naive one.jpg           - the naive library script (bench.baselines.naive: Pillow,
                            imagehash, pdqhash, hashlib on the full-size image) on the same file
  spinneret hash 12 x     - twelve 12 MP JPEGs through one `spinneret hash` process
  naive 12 x              - the naive script on the same twelve files, one process
The JPEGs are demo-generator photo-like images upscaled to 4000x3000 (benign, synthetic).
Each command runs once untimed first (numba's on-disk cache, the OS file cache), then
`--runs` times; the table shows the minimum and median wall time and the minimum CPU time
(user + system) of the process. On a shared, loaded machine compare the minimums.
"""

from __future__ import annotations

import os

# The measured processes get the environment as it was, not what this script's imports set.
CHILD_ENV = dict(os.environ)

import argparse  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from bench.results import print_goals, write_results  # noqa: E402
from spinneret.demo.images import generate  # noqa: E402

GOAL_HELP_S = 0.3
GOAL_HASH_ONE_S = 0.6
GOAL_SPEEDUP_12 = 6.0
IMAGES = 12
NAIVE_SCRIPT = ("import sys\nfrom bench.baselines import naive\n"
                "for path in sys.argv[1:]:\n    naive(open(path, 'rb').read())\n")


def make_jpegs(directory: Path, count: int) -> list[Path]:
    paths = []
    for seed in range(count):
        photo = generate(100 + seed, (1000, 750)).resize((4000, 3000), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=90)
        path = directory / f"photo-{seed:02d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def spinneret_command() -> list[str]:
    """The console script beside this interpreter (what `pip install` puts on PATH)."""
    script = Path(sys.executable).with_name("spinneret")
    if script.exists():
        return [str(script)]
    found = shutil.which("spinneret")
    return [found] if found else [sys.executable, "-m", "spinneret"]


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process; raises if it fails."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                 stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)  # wait4: this child's own CPU time
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        child.returncode = code
        if code != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise SystemExit(f"{' '.join(argv[:3])} ...: exit {code}: {message}")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cli.json"))
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="spinneret-bench-cli-"))
    try:
        print(f"generating {IMAGES} 4000x3000 JPEGs in {work} ...", flush=True)
        jpegs = [str(p) for p in make_jpegs(work, IMAGES)]
        env = {**CHILD_ENV, "SPINNERET_DATA_DIR": str(work / "data"),
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        spinneret = spinneret_command()
        naive = [sys.executable, "-c", NAIVE_SCRIPT]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "spinneret --help": [*spinneret, "--help"],
            "spinneret hash one.jpg": [*spinneret, "hash", jpegs[0]],
            "naive one.jpg": [*naive, jpegs[0]],
            f"spinneret hash {IMAGES} x 12 MP": [*spinneret, "hash", *jpegs],
            f"naive {IMAGES} x 12 MP": [*naive, *jpegs],
        }
        load_before = os.getloadavg()[0]
        for command in commands.values():  # untimed: caches warm
            run_once(command, env, work)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                samples[name].append(run_once(command, env, work))
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor = min(wall for wall, _ in samples["python -c pass"])
    rows = []
    for name, runs in samples.items():
        walls = [wall for wall, _ in runs]
        rows.append({"command": name, "min_s": min(walls), "median_s": statistics.median(walls),
                     "min_cpu_s": min(cpu for _, cpu in runs),
                     "min_over_python_min": min(walls) / floor})
    by_name = {row["command"]: row for row in rows}

    print(f"{'command':<28}{'min s':>8}{'median s':>10}{'min CPU s':>11}{'min / python':>14}")
    for r in rows:
        print(f"{r['command']:<28}{r['min_s']:>8.3f}{r['median_s']:>10.3f}{r['min_cpu_s']:>11.3f}"
              f"{r['min_over_python_min']:>13.1f}x")
    ours12 = by_name[f"spinneret hash {IMAGES} x 12 MP"]
    naive12 = by_name[f"naive {IMAGES} x 12 MP"]
    speedup = {
        "wall_min": naive12["min_s"] / ours12["min_s"],
        "cpu_min": naive12["min_cpu_s"] / ours12["min_cpu_s"],
        "one_wall_min": by_name["naive one.jpg"]["min_s"] / by_name["spinneret hash one.jpg"]["min_s"],
    }
    print(f"naive / spinneret hash, {IMAGES} x 12 MP in one process: {speedup['wall_min']:.1f}x "
          f"wall (min), {speedup['cpu_min']:.1f}x CPU; one file: {speedup['one_wall_min']:.1f}x")
    goals = {
        f"spinneret --help <= {GOAL_HELP_S} s": by_name["spinneret --help"]["min_s"] <= GOAL_HELP_S,
        f"spinneret hash one.jpg <= {GOAL_HASH_ONE_S} s":
            by_name["spinneret hash one.jpg"]["min_s"] <= GOAL_HASH_ONE_S,
        f"{IMAGES} x 12 MP >= {GOAL_SPEEDUP_12}x naive": speedup["wall_min"] >= GOAL_SPEEDUP_12,
    }
    print_goals(goals, " (min wall)")
    print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after; "
          f"{os.cpu_count()} CPUs")
    write_results(
        args.out, "cli", runs=args.runs,
        load_average_1m=[round(load_before, 2), round(load_after, 2)],
        statistic="whole-process seconds: min and median wall, min CPU (user + system)",
        rows=rows, speedup_vs_naive=speedup, goals=goals,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
