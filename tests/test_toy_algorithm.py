"""Adding a hash algorithm is one module and its registration (issue 17): the test-only
`toymean` plug-in (tests/toy_algorithm.py), loaded through SPINNERET_PLUGINS as an operator
would load theirs, flows with no other edit through `spinneret hash`, `spinneret lists
import`, the store, matching (the crawl pipeline's hash-match-record step, its own
thresholds, quality floor and index) and the recheck's re-hash. Real Redis and database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.algorithms import PLUGINS_ENV, default_registry, load_plugins
from spinneret.matcher.decode import decode_image
from spinneret.matcher.errors import PluginError
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import FingerprintStore, ListEntry
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.pipeline import ImageJob, ImageProcessor
from spinneret.runtime.recheck import still_matches
from tests.conftest import run_cli
from tests.toy_algorithm import ScanIndex, ToyMean

PLUGIN = "tests.toy_algorithm"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def toy():
    """`toymean` in the default registry for this test (as SPINNERET_PLUGINS loads it),
    removed after."""
    registry = default_registry()
    load_plugins(registry, PLUGIN)
    try:
        yield registry.get("toymean")
    finally:
        registry.unregister("toymean")


def _flip(hex_: str, bits: int) -> str:
    """`hex_` with its `bits` lowest bits inverted: exactly `bits` away."""
    return f"{int(hex_, 16) ^ ((1 << bits) - 1):016x}"


def test_a_plugin_flows_through_hash_import_match_and_recheck(
        toy, tmp_path, cli_env, settings, db):
    image, other = encode(generate(4, (320, 240))), encode(generate(9, (320, 240)))
    (tmp_path / "listed.png").write_bytes(image)
    expected = ToyMean().compute(decode_image(image)).hex
    env = {**cli_env, PLUGINS_ENV: PLUGIN, "PYTHONPATH": str(ROOT),
           "SPINNERET_ALGORITHMS": "sha256,toymean"}

    # `spinneret hash` prints it (the configured algorithms name it).
    hashed = run_cli("hash", str(tmp_path / "listed.png"), "--format", "json", env=env)
    assert hashed.returncode == 0, hashed.stderr
    assert json.loads(hashed.stdout)["toymean"] == expected

    # `spinneret lists import` accepts its rows: the same hash, one 5 bits off (between the
    # plug-in's auto 3 and review 7) and one 9 bits off (beyond review).
    listed = tmp_path / "toy.csv"
    listed.write_text("algorithm,hash,label,source_id\n"
                      f"toymean,{expected},same,a\ntoymean,{_flip(expected, 5)},near,b\n"
                      f"toymean,{_flip(expected, 9)},far,c\n")
    imported = run_cli("lists", "import", str(listed), "--list", "toys", env=env)
    assert imported.returncode == 0, imported.stderr
    store = FingerprintStore(redis.Redis.from_url(settings.redis_url), settings.redis_key_prefix)
    assert store.get_list("toys").counts == {"toymean": 3}

    # Matching, as the crawl pipeline hashes, matches and records an image: the plug-in's
    # own index serves it and its thresholds decide.
    ScanIndex.built.clear()
    matcher = Matcher.from_store(store, Thresholds.from_settings(settings))
    assert len(ScanIndex.built) == 1 and len(ScanIndex.built[0]) == 3
    options = HashOptions(("sha256", "toymean"), settings.max_image_pixels,
                          settings.hash_working_size_px)
    site_id = SiteRepository(db).add(NewSite(
        base_url="http://site.test/", name="site", owner_email="owner@example.invalid")).id
    crawl_id = CrawlRepository(db).create(site_id).id
    outcome = ImageProcessor(matcher, ImageRecorder(db), options).process(
        ImageJob(crawl_id, site_id, "http://site.test/", "http://site.test/a.png", "img"), image)
    assert [(m.algorithm, m.source_id, m.distance, m.decision) for m in outcome.matches] == [
        ("toymean", "a", 0, "auto"), ("toymean", "b", 5, "review")]
    recorded = MatchRepository(db).list(crawl_id=crawl_id)
    assert sorted(m.source_id for m in recorded) == ["a", "b"]

    # The recheck re-hashes what is served and compares it with the entries that matched.
    evidence = [ListEntry("toymean", expected, "same", "a")]
    assert still_matches(image, evidence, settings)
    assert not still_matches(other, evidence, settings)


def test_lists_keep_working_when_the_plugin_is_removed(toy, settings, redis_client):
    """Rows of an algorithm no longer installed stay in the store; the warm start skips them
    and matches the list's other rows."""
    image = encode(generate(4, (320, 240)))
    sha = HashOptions(("sha256",))
    from spinneret.matcher.service import hash_and_match

    store = FingerprintStore(redis_client, settings.redis_key_prefix)
    digest = hash_and_match(image, Matcher(Thresholds()), sha)[0].sha256
    store.replace_list("mixed", [ListEntry("toymean", "00ff" * 4, "toy", "t"),
                                 ListEntry("sha256", digest, "same", "s")])
    default_registry().unregister("toymean")
    try:
        matcher = Matcher.from_store(store, Thresholds.from_settings(settings))
        assert matcher.size() == {"sha256": 1}
        assert [m.source_id for m in hash_and_match(image, matcher, sha)[1]] == ["s"]
    finally:
        load_plugins(default_registry(), PLUGIN)  # the fixture removes it again


def test_the_plugin_quality_floor_holds_a_flat_image_to_corroboration(toy, settings):
    """A flat image's toymean hash is all zeros: below the plug-in's floor it never decides
    alone, whatever the distance."""
    flat = encode(generate(4, (64, 64)).point(lambda _: 128))
    value = toy.compute(decode_image(flat))
    assert value.hex == "0" * 16 and toy.hash_quality(value.hex) < toy.default_min_quality
    matcher = Matcher(Thresholds.from_settings(settings))
    from spinneret.matcher.store import ListInfo

    info = ListInfo("flat", "block", "test", "policy", "", 1, {}, 0.0, 0.0, "test")
    matcher.load_list(info, [ListEntry("toymean", value.hex, "flat", "f")])
    options = HashOptions(("toymean",))
    from spinneret.matcher.service import hash_and_match

    assert hash_and_match(flat, matcher, options)[1] == []


def test_a_plugin_module_that_cannot_load_is_one_clear_error(tmp_path, cli_env):
    registry = default_registry()
    with pytest.raises(PluginError, match="cannot import 'no_such_plugin'"):
        load_plugins(registry, "no_such_plugin")
    with pytest.raises(PluginError, match="has no register"):
        load_plugins(registry, "tests.conftest")
    assert "toymean" not in registry
    result = run_cli("lists", "ls", env={**cli_env, PLUGINS_ENV: "no_such_plugin"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: SPINNERET_PLUGINS: cannot import 'no_such_plugin': "
        "No module named 'no_such_plugin'")


def test_the_shared_plugin_tests_pass_for_the_plugin():
    """tests/test_algorithms.py runs its per-plug-in suite over the default registry, with
    each plug-in's own example (`reference_hash`): loaded through SPINNERET_PLUGINS, the toy
    plug-in gets the same suite, with no list to edit."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_algorithms.py"), "-k", "TestEveryAlgorithm and toymean"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, PLUGINS_ENV: PLUGIN, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-2000:]
    assert "10 passed" in result.stdout
