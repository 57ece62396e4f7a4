"""Fingerprint store and index sync: import throughput, worker warm start, follow lag, memory.

    python bench/store.py [--quick] [--big] [--rows 1000000] [--runs 3]

Each figure runs the shipped code path and a naive baseline in the same run:

- import: a CSV list file through `matcher.hashlist.import_file` (the function `spinneret lists
  import` calls: streamed parse + validation, `FingerprintStore.replace_list`) against
  csv.reader + one HSET per row, unpipelined (one round trip per row) and pipelined (one HSET
  command per row, sent in batches of 10,000);
- warm start: `Matcher.from_store` (`FingerprintStore.entry_columns`: HSCAN pages decoded into
  one hash block + packed labels; counting-sort index build) against the previous shipped path
  (`store.entries()`, one `ListEntry` per entry, + `Matcher.load_list`, argsort build) and
  HGETALL of the entry hash + a Python loop feeding the same `HammingIndex`;
- follow lag: an import of 1,000 new entries until a running `FollowingMatcher` matches them,
  against a follower that polls the version every second and rebuilds from the store;
- Redis memory per entry: INFO memory `used_memory` before/after, and MEMORY USAGE of the
  entry hash.

Redis: 127.0.0.1:6379 db 14 if it answers, else an embedded server in a temp dir. Keys live
under a fresh `bench-store-<id>` prefix and are deleted at the end. Only random hashes.
Prints a table and writes bench/results/store.json.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.hashlist import import_file, read_hash_list
from spinneret.matcher.index import HammingIndex
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import FingerprintStore

RESULTS = Path(__file__).resolve().parent / "results"
MACHINE_REDIS = "redis://127.0.0.1:6379/14"
IMPORT_GOAL_PER_S = 100_000
WARM_10M_GOAL_S = 60.0
LAG_GOAL_S = 1.0


# --- setup -------------------------------------------------------------------------------


@contextmanager
def redis_server() -> Iterator[tuple[redis.Redis, str]]:
    """The machine's Redis (db 14) if it answers, else an embedded one in a temp dir."""
    client = redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=0.5, socket_timeout=300)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
    else:
        yield client, MACHINE_REDIS
        return
    from spinneret.runtime.embedded_redis import EmbeddedRedis

    directory = Path(tempfile.mkdtemp(prefix="spinneret-bench-redis-"))
    embedded = EmbeddedRedis(directory)
    url = embedded.ensure_running()
    client = redis.Redis.from_url(url)
    try:
        yield client, f"embedded {url}"
    finally:
        client.close()
        embedded.stop()
        shutil.rmtree(directory, ignore_errors=True)


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    batch = []
    for key in client.scan_iter(match=f"{prefix}*", count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def write_csv(path: Path, rows: int, seed: int, algorithm: str = "pdq", bits: int = 256) -> Path:
    """A list file of `rows` random hashes, written in large chunks."""
    rnd = random.Random(seed)
    digits = bits // 4
    with open(path, "w", newline="") as out:
        out.write("algorithm,hash,label,source_id\n")
        chunk: list[str] = []
        for i in range(rows):
            chunk.append(f"{algorithm},{rnd.getrandbits(bits):0{digits}x},synthetic,s{seed}-{i}\n")
            if len(chunk) >= 100_000:
                out.write("".join(chunk))
                chunk = []
        out.write("".join(chunk))
    return path


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def entry_keys(client: redis.Redis, store: FingerprintStore, name: str) -> list[bytes]:
    base = store.list_keys(name).base
    return list(client.scan_iter(match=f"{base}:e:*", count=10_000))


def used_memory(client: redis.Redis) -> int:
    """`used_memory` once the server has finished freeing UNLINKed keys in the background."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = client.info("memory")
        if not int(info.get("lazyfree_pending_objects", 0)):
            return int(info["used_memory"])
        time.sleep(0.05)
    return int(client.info("memory")["used_memory"])


# --- baselines ---------------------------------------------------------------------------


def baseline_import(client: redis.Redis, key: str, path: Path, pipelined: bool) -> int:
    """csv.reader and one HSET per row: the obvious script an operator might write."""
    rows = 0
    target = client.pipeline(transaction=False) if pipelined else client
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for algorithm, value, label, source_id in reader:
            target.hset(f"{key}:{algorithm}", value.lower(), f"{label}\x1f{source_id}")
            rows += 1
            if pipelined and rows % 10_000 == 0:
                target.execute()
    if pipelined:
        target.execute()
    return rows


def baseline_warm_start(client: redis.Redis, keys: list[bytes], radius: int) -> int:
    """HGETALL each entry hash and build the same index in a Python loop."""
    total = 0
    for key in keys:
        raw = client.hgetall(key)
        hashes, labels, sources = [], [], []
        for field, value in raw.items():
            label, _, source_id = value.decode().partition("\x1f")
            hashes.append(field.decode())
            labels.append(label)
            sources.append(source_id)
        index = HammingIndex(256, radius)
        index.add(hashes)
        total += len(index)
    return total


def previous_warm_start(store: FingerprintStore) -> int:
    """The path shipped before `entry_columns`: one `ListEntry` per entry from `entries()`,
    regrouped into Python lists by `load_list`, index tables built with a stable argsort."""
    matcher = Matcher(Thresholds.defaults())
    matcher._new_index = lambda algorithm: HammingIndex(  # type: ignore[method-assign]
        algorithm.bits, matcher.thresholds.get(algorithm).radius, compiled=False)
    for info in store.lists():
        matcher.load_list(info, store.entries(info.name))
    return sum(matcher.size().values())


class RebuildingFollower:
    """Baseline follower: polls the store version every `interval_s` and rebuilds everything
    (HMA reloads its index every 30 s; 1 s here is generous to the baseline)."""

    def __init__(self, store: FingerprintStore, thresholds: Thresholds, interval_s: float = 1.0):
        self._store = store
        self._thresholds = thresholds
        self._interval_s = interval_s
        self.matcher = Matcher.from_store(store, thresholds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RebuildingFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def match(self, hashes: ImageHashes):
        return self.matcher.match(hashes)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            if self._store.version() != self.matcher.version:
                self.matcher = Matcher.from_store(self._store, self._thresholds)


# --- measurements --------------------------------------------------------------------------


def measure_import(client: redis.Redis, prefix: str, path: Path, rows: int, runs: int,
                   baseline_runs: int) -> dict:
    store = FingerprintStore(client, prefix)
    out: dict = {"rows": rows}

    parse = [timed(lambda: sum(1 for _ in read_hash_list(path)))[0] for _ in range(runs)]
    out["parse_only_s"] = parse

    shipped, memory = [], []
    for run in range(runs):
        if run:
            store.delete_list("bench-import")
        before = used_memory(client)
        seconds, _ = timed(lambda: import_file(store, path, "bench-import"))
        shipped.append(seconds)
        memory.append(used_memory(client) - before)
    out["import_file_s"] = shipped
    out["used_memory_delta_bytes"] = memory
    keys = entry_keys(client, store, "bench-import")
    out["memory_usage_bytes"] = sum(int(client.memory_usage(k, samples=0) or 0) for k in keys)
    try:
        out["reimport_unchanged_s"] = [timed(lambda: import_file(store, path, "bench-import"))[0]]
    except Exception as exc:  # noqa: BLE001 - report a broken path instead of aborting
        out["reimport_error"] = f"{type(exc).__name__}: {exc}"

    pipelined = []
    for _ in range(runs):
        key = f"{prefix}:baseline-pipe"
        pipelined.append(timed(lambda k=key: baseline_import(client, k, path, True))[0])
        delete_prefix(client, key)
    out["baseline_pipelined_s"] = pipelined
    unpipelined = []
    for _ in range(baseline_runs):
        key = f"{prefix}:baseline-rtt"
        unpipelined.append(timed(lambda k=key: baseline_import(client, k, path, False))[0])
        delete_prefix(client, key)
    out["baseline_unpipelined_s"] = unpipelined
    return out


def profile_import(client: redis.Redis, prefix: str, path: Path) -> str:
    """cProfile of one import of a fresh list: the top functions by own time."""
    store = FingerprintStore(client, prefix)
    profiler = cProfile.Profile()
    profiler.enable()
    import_file(store, path, "bench-profile")
    profiler.disable()
    store.delete_list("bench-profile")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    return text.getvalue()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_warm_start(client: redis.Redis, prefix: str, runs: int, hgetall: bool = True) -> dict:
    """Warm start over every list under `prefix` (the import above left one list). The
    HGETALL baseline blocks the server for the whole hash (seconds at 10M): `hgetall=False`
    skips it on a shared server."""
    store = FingerprintStore(client, prefix)
    thresholds = Thresholds.defaults()
    radius = 40  # PDQ's default review distance: the radius the shipped matcher plans for
    keys = entry_keys(client, store, "bench-import")
    entries = sum(store.get_list("bench-import").counts.values())
    out: dict = {"entries": entries, "from_store_s": [], "baseline_entries_s": [],
                 "baseline_hgetall_s": [], "entry_columns_read_s": [], "index_build_s": [],
                 "index_build_argsort_s": [], "payload_bytes_per_entry": 0.0,
                 "load_average_before": os.getloadavg()}
    for _ in range(runs):
        seconds, matcher = timed(lambda: Matcher.from_store(store, thresholds))
        out["from_store_s"].append(seconds)
        del matcher
        log(f"warm start {entries:,}: shipped {seconds:.2f} s")
        out["baseline_entries_s"].append(timed(lambda: previous_warm_start(store))[0])
        log(f"warm start {entries:,}: previous path {out['baseline_entries_s'][-1]:.2f} s")
        if hgetall:
            out["baseline_hgetall_s"].append(
                timed(lambda: baseline_warm_start(client, keys, radius))[0])
        # Where the shipped time goes: the bulk read, and building the index alone.
        seconds, columns = timed(lambda: store.entry_columns("bench-import"))
        out["entry_columns_read_s"].append(seconds)
        part = columns["pdq"]
        out["payload_bytes_per_entry"] = part.payloads.nbytes() / max(1, len(part))
        words = part.words()
        del columns, part
        out["index_build_s"].append(timed(lambda w=words: HammingIndex(256, radius).add(w))[0])
        out["index_build_argsort_s"].append(timed(
            lambda w=words: HammingIndex(256, radius, compiled=False).add(w))[0])
        del words
    out["load_average_after"] = os.getloadavg()
    return out


def _probe(value: str) -> ImageHashes:
    return ImageHashes((HashValue("pdq", value, 100),), "PNG", 1, 1, 0)


def measure_lag(client: redis.Redis, prefix: str, directory: Path, runs: int,
                baseline: bool) -> dict:
    """From `import_file` returning (committed and published) until the follower matches the
    last entry of the new 1,000-entry list; the follower already holds the imported list."""
    from spinneret.matcher.following import FollowingMatcher

    store = FingerprintStore(client, prefix)
    thresholds = Thresholds.defaults()
    result: dict = {"entries": 1000}
    followers: list[tuple[str, Callable[[], object]]] = [
        ("following", lambda: FollowingMatcher(store, thresholds).start()),
    ]
    if baseline:
        followers.append(("rebuild_1s", lambda: RebuildingFollower(store, thresholds).start()))
    for number, (name, make) in enumerate(followers):
        follower = make()
        lags, totals = [], []
        try:
            for run in range(runs):
                path = write_csv(directory / f"lag-{name}-{run}.csv", 1000,
                                 seed=1000 + 100 * number + run)
                last = path.read_text().rstrip("\n").rsplit("\n", 1)[1].split(",")[1]
                probe = _probe(last)
                start = time.perf_counter()
                import_file(store, path, f"bench-lag-{name}-{run}")
                committed = time.perf_counter()
                deadline = committed + 120
                while not follower.match(probe):
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"{name}: no match 120 s after the import")
                    time.sleep(0.001)
                done = time.perf_counter()
                lags.append(done - committed)
                totals.append(done - start)
        finally:
            follower.stop()
        result[f"{name}_lag_s"] = lags
        result[f"{name}_import_to_match_s"] = totals
    return result


# --- report --------------------------------------------------------------------------------


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summarise(results: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    imp = results["import"]
    n = imp["rows"]

    def rate(seconds: list[float]) -> str:
        return f"{n / median(seconds):,.0f}/s"

    shipped = median(imp["import_file_s"])
    for label, key in (
        ("import: parse + validate only", "parse_only_s"),
        ("import: import_file (new list)", "import_file_s"),
        ("import: import_file (re-import, unchanged)", "reimport_unchanged_s"),
        ("import baseline: HSET/row, pipelined", "baseline_pipelined_s"),
        ("import baseline: HSET/row, unpipelined", "baseline_unpipelined_s"),
    ):
        if key not in imp:
            continue
        sec = median(imp[key])
        ratio = sec / shipped if key.startswith("baseline") else float("nan")
        rows.append((label, f"{n:,}", f"{sec:.2f} s", rate(imp[key]),
                     f"{ratio:.1f}x slower" if ratio == ratio else "",
                     f"{len(imp[key])}"))
    if "reimport_error" in imp:
        rows.append(("import: re-import FAILED", f"{n:,}", imp["reimport_error"][:30], "", "", ""))
    per = median(imp["used_memory_delta_bytes"]) / n
    rows.append(("redis memory per entry (used_memory delta)", f"{n:,}", f"{per:.0f} B", "",
                 "", f"{len(imp['used_memory_delta_bytes'])}"))
    rows.append(("redis memory per entry (MEMORY USAGE)", f"{n:,}",
                 f"{imp['memory_usage_bytes'] / n:.0f} B", "", "", "1"))
    for warm in results["warm_start"]:
        sec = median(warm["from_store_s"])
        m = warm["entries"]
        rows.append((f"warm start: Matcher.from_store ({m:,})", f"{m:,}", f"{sec:.2f} s",
                     f"{m / sec:,.0f}/s", "", f"{len(warm['from_store_s'])}"))
        for key, label in (("entry_columns_read_s", "  of which store.entry_columns() read"),
                           ("index_build_s", "  of which HammingIndex build"),
                           ("index_build_argsort_s", "  (index build with argsort, before)")):
            if key in warm:
                part = median(warm[key])
                rows.append((f"{label} ({m:,})", f"{m:,}", f"{part:.2f} s", "", "",
                             f"{len(warm[key])}"))
        if warm.get("baseline_entries_s"):
            prev = median(warm["baseline_entries_s"])
            rows.append((f"warm start before: entries() + load_list ({m:,})", f"{m:,}",
                         f"{prev:.2f} s", f"{m / prev:,.0f}/s", f"{prev / sec:.2f}x",
                         f"{len(warm['baseline_entries_s'])}"))
        if warm["baseline_hgetall_s"]:
            base = median(warm["baseline_hgetall_s"])
            rows.append((f"warm start baseline: HGETALL + loop ({m:,})", f"{m:,}",
                         f"{base:.2f} s", f"{m / base:,.0f}/s", f"{base / sec:.2f}x",
                         f"{len(warm['baseline_hgetall_s'])}"))
    lag = results["lag"]
    for name, label in (("following", "lag: FollowingMatcher"),
                        ("rebuild_1s", "lag baseline: poll 1 s + full rebuild")):
        if f"{name}_lag_s" in lag:
            sec = median(lag[f"{name}_lag_s"])
            ratio = ""
            if name != "following":
                ratio = f"{sec / median(lag['following_lag_s']):.0f}x slower"
            rows.append((label + " (import 1,000 -> match)", "1,000", f"{sec * 1000:.0f} ms",
                         f"(import incl.: {median(lag[name + '_import_to_match_s']) * 1000:.0f} ms)",
                         ratio, f"{len(lag[name + '_lag_s'])}"))
    return rows


def goals(results: dict) -> list[str]:
    imp = results["import"]
    out = []
    rate = imp["rows"] / median(imp["import_file_s"])
    out.append(f"import >= {IMPORT_GOAL_PER_S:,}/s: {'met' if rate >= IMPORT_GOAL_PER_S else 'MISSED'}"
               f" ({rate:,.0f}/s)")
    for warm in results["warm_start"]:
        if warm["entries"] >= 10_000_000:
            sec = median(warm["from_store_s"])
            out.append(f"warm start 10M <= {WARM_10M_GOAL_S:.0f} s: "
                       f"{'met' if sec <= WARM_10M_GOAL_S else 'MISSED'} ({sec:.1f} s)")
    lag = median(results["lag"]["following_lag_s"])
    out.append(f"follow lag <= {LAG_GOAL_S:.0f} s: {'met' if lag <= LAG_GOAL_S else 'MISSED'}"
               f" ({lag * 1000:.0f} ms)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 rows, 1 run")
    parser.add_argument("--big", action="store_true", help="also warm-start 10M entries")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=1,
                        help="runs of the unpipelined baseline (one round trip per row: slow)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import")
    parser.add_argument("--out", type=Path, default=RESULTS / "store.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.runs, args.baseline_runs = 20_000, 1, 1
    lag_runs = 2 if args.quick else 5

    results: dict = {"machine": platform.platform(), "python": sys.version.split()[0],
                     "quick": args.quick, "runs": args.runs, "cpus": os.cpu_count(),
                     "load_average_start": os.getloadavg()}
    with redis_server() as (client, where), tempfile.TemporaryDirectory() as tmp:
        results["redis"] = f"{where} (server {client.info('server')['redis_version']})"
        prefix = f"bench-store-{uuid.uuid4().hex[:8]}"
        directory = Path(tmp)
        try:
            path = write_csv(directory / "list.csv", args.rows, seed=7)
            log("import ...")
            results["import"] = measure_import(client, prefix, path, args.rows, args.runs,
                                               args.baseline_runs)
            rate = args.rows / median(results["import"]["import_file_s"])
            if args.profile or rate < IMPORT_GOAL_PER_S:
                results["import_profile"] = profile_import(client, prefix, path)
            log("warm start ...")
            results["warm_start"] = [measure_warm_start(client, prefix, args.runs)]
            log("lag ...")
            results["lag"] = measure_lag(client, prefix, directory, lag_runs, baseline=True)
            if args.big:
                FingerprintStore(client, prefix).delete_list("bench-import")
                log("10M: writing the list file ...")
                big = write_csv(directory / "big.csv", 10_000_000, seed=8)
                log("10M: import ...")
                seconds, _ = timed(lambda: import_file(FingerprintStore(client, prefix), big,
                                                       "bench-import"))
                results["big_import_s"] = seconds
                big.unlink()
                log(f"10M: imported in {seconds:.1f} s; warm start ...")
                results["warm_start"].append(measure_warm_start(client, prefix, 1,
                                                                hgetall=False))
        finally:
            delete_prefix(client, prefix)

    results["load_average_end"] = os.getloadavg()
    header = ("case", "entries", "median", "rate", "vs shipped", "runs")
    print(f"Redis: {results['redis']}; medians of the runs shown; load average (1/5/15 min) "
          f"{results['load_average_start']} at start, {results['load_average_end']} at end")
    print(table(summarise(results), header))
    for line in goals(results):
        print("goal " + line)
    if "import_profile" in results:
        print(results["import_profile"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
