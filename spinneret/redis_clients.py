"""Redis clients from settings: a single server, or a Redis Cluster.

A cluster is named by `redis+cluster://host:port[,...]` (or `rediss+cluster://`) in
`SPINNERET_REDIS_URL`, or by a plain `redis://` URL of one node with
`SPINNERET_REDIS_CLUSTER=true`. Every key the store and the frontier write carries a hash
tag, so their scripts and pipelines never span two slots.
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from spinneret.errors import SpinneretError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class RedisConfigError(SpinneretError):
    """The Redis settings name no usable server or cluster."""


def is_cluster(url: str, cluster_flag: bool = False) -> bool:
    return cluster_flag or url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def node_url(url: str) -> str:
    """The plain `redis://` URL of the (first) node a cluster URL names."""
    scheme, _, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower(), scheme)
    hosts, slash, path = rest.partition("/")
    creds, at, hostlist = hosts.rpartition("@")
    first = hostlist.split(",", 1)[0]
    return f"{plain}://{creds}{at}{first}{slash}{path}"


def startup_nodes(url: str) -> list[tuple[str, int]]:
    """Every host:port a cluster URL lists (`redis+cluster://a:7000,b:7001`)."""
    rest = url.partition("://")[2].partition("/")[0].rpartition("@")[2]
    nodes = []
    for part in rest.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise RedisConfigError(f"bad Redis Cluster node {part!r} in {url!r} (use host:port)")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def sync_client(url: str, cluster_flag: bool = False) -> redis.Redis | RedisCluster:
    if not is_cluster(url, cluster_flag):
        return redis.Redis.from_url(url)
    from redis.cluster import ClusterNode

    nodes = [ClusterNode(host, port) for host, port in startup_nodes(url)]
    return RedisCluster.from_url(node_url(url), startup_nodes=nodes)


def async_client(url: str, cluster_flag: bool = False) -> aioredis.Redis | AsyncRedisCluster:
    if not is_cluster(url, cluster_flag):
        return aioredis.Redis.from_url(url)
    from redis.asyncio.cluster import ClusterNode

    nodes = [ClusterNode(host, port) for host, port in startup_nodes(url)]
    return AsyncRedisCluster.from_url(node_url(url), startup_nodes=nodes)
