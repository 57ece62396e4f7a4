"""The fingerprint store and the crawl frontier on a real Redis Cluster (3 masters, 3 replicas).

Lists imported before a master is killed survive its failover: the test waits until every
replica has applied its master's replication stream before the kill (the reasoning WAIT
would give per connection, checked here on the servers' own offsets).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from spinneret.demo.run import demo_list_entries
from spinneret.demo.site import build_demo_site
from spinneret.matcher.following import FollowingMatcher
from spinneret.matcher.hashing import hash_image
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import ListEntry
from spinneret.records.matches import MatchRepository
from spinneret.runtime.context import AppContext
from spinneret.runtime.redis_clients import RedisConfigError, is_cluster, node_url, startup_nodes
from tests.conftest import report
from tests.redis_cluster import LocalCluster
from tests.worker_helpers import crawl_on_loopback

LIST_NAMES = [f"authority-{n}" for n in range(8)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    local = LocalCluster.start(masters=3, replicas_per_master=1, node_timeout_ms=1000)
    yield local
    local.stop()


@pytest.fixture
def context(cluster, settings) -> Iterator[AppContext]:
    ctx = AppContext(settings.model_copy(update={
        "redis_url": cluster.url, "hash_processes": 2, "index_sync_interval_s": 0.2,
    }))
    yield ctx
    ctx.close()


def _entries(list_no: int, n: int = 300) -> list[ListEntry]:
    out = []
    for i in range(n):
        digest = hashlib.sha256(f"{list_no}-{i}".encode()).hexdigest()
        out.append(ListEntry("pdq", digest, f"label-{i}"))
        out.append(ListEntry("md5", digest[:32], f"label-{i}"))
    return out



def test_cluster_urls_are_recognised():
    assert is_cluster("redis+cluster://a:7000,b:7001")
    assert is_cluster("redis://a:7000", cluster_flag=True)
    assert not is_cluster("redis://a:6379/0")
    assert node_url("redis+cluster://u:p@a:7000,b:7001/0") == "redis://u:p@a:7000/0"
    assert startup_nodes("rediss+cluster://a:7000,b:7001") == [("a", 7000), ("b", 7001)]
    with pytest.raises(RedisConfigError, match="host:port"):
        startup_nodes("redis+cluster://a")


def test_celery_broker_must_not_be_the_cluster(settings, cluster):
    from spinneret.runtime.celery_app import broker_url_for

    with pytest.raises(RedisConfigError, match="SPINNERET_BROKER_URL"):
        broker_url_for(settings.model_copy(update={"redis_url": cluster.url}), cluster.url)


def test_store_frontier_and_failover_on_a_cluster(cluster, context):
    started = time.monotonic()
    client = context.redis
    assert isinstance(client, RedisCluster)
    store = context.store

    # --- import lists that land on every master ----------------------------------
    for n, name in enumerate(LIST_NAMES):
        result = store.replace_list(name, _entries(n), source="test", category="policy")
        assert result.added == 600
    store.replace_list("demo-authority", demo_list_entries(), source="demo")
    slots_by_master = {client.get_node_from_key(store.list_keys(name).meta).port
                       for name in LIST_NAMES}
    assert len(slots_by_master) == 3, "the lists should spread over all masters"
    # a re-import of one list counts what stayed
    again = store.replace_list(LIST_NAMES[0], _entries(0)[:100], source="test")
    assert (again.added, again.unchanged, again.removed) == (0, 100, 500)
    store.replace_list(LIST_NAMES[0], _entries(0), source="test")

    # --- match from the store, and follow it over cluster pub/sub --------------------
    thresholds = Thresholds.defaults()
    matcher = Matcher.from_store(store, thresholds)
    assert matcher.size()["pdq"] == 8 * 300 + sum(
        1 for e in demo_list_entries() if e.algorithm == "pdq")
    follower = FollowingMatcher(store, thresholds, poll_interval_s=0.2).start()
    try:
        _crawl_kill_and_go_on(cluster, context, follower)
    finally:
        follower.stop()
    report(f"whole cluster test {time.monotonic() - started:.1f} s")


def _crawl_kill_and_go_on(cluster, context, follower) -> None:
    client, store, thresholds = context.redis, context.store, Thresholds.defaults()

    # --- crawl a loopback site: frontier and workers on the cluster -------------------
    site = build_demo_site(unlisted=10, unlisted_size=(200, 150))

    summary = crawl_on_loopback(context, site.app(), "clustersite")
    assert summary.crawl.status == "finished"
    assert summary.crawl.images_hashed == len(site.images)
    matches = MatchRepository(context.db).list(crawl_id=summary.crawl.id, limit=10_000)
    flagged = {m.image_url.split("/", 3)[3] for m in matches if m.list_name == "demo-authority"}
    assert flagged == {image.path.lstrip("/") for image in site.listed}
    assert not client.keys(f"{context.settings.redis_key_prefix}:crawl:*"), "frontier cleared"

    # --- kill the master holding the first list; its replica takes over ----------------
    cluster.wait_replicated()
    victim_port = client.get_node_from_key(store.list_keys(LIST_NAMES[0]).meta).port
    victim = next(n for n in cluster.nodes if n.port == victim_port)
    replica = cluster.replica_of(victim)
    before = {info.name: info.counts for info in store.lists()}
    cluster.kill(victim)
    failover_s = cluster.wait_failover(victim, replica)

    after = {info.name: info.counts for info in _retry(store.lists)}
    assert after == before, "no list lost or changed by the failover"
    for n, name in enumerate(LIST_NAMES):
        got = {(e.algorithm, e.hash) for e in store.entries(name)}
        assert got == {(e.algorithm, e.hash) for e in _entries(n)}

    # --- and the store keeps working: a new import is matched, also by the follower -------
    probe = hash_image(site.unlisted[0].data)
    store.replace_list("after-failover", [ListEntry(v.algorithm, v.hex, "probe")
                                          for v in probe.values], source="test")
    assert {m.list for m in Matcher.from_store(store, thresholds).match(probe)} >= {
        "after-failover"}
    deadline = time.monotonic() + 15
    while "after-failover" not in {m.list for m in follower.match(probe)}:
        assert time.monotonic() < deadline, "follower never saw the import after failover"
        time.sleep(0.1)
    report(f"cluster: failover took {failover_s:.1f} s")


def _retry(call, attempts: int = 20):
    """The client may still hold a connection to the dead master on its first call."""
    from redis.exceptions import RedisError

    for attempt in range(attempts):
        try:
            return call()
        except RedisError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)
    return None
