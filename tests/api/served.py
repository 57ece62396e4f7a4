"""Run the real `spinneret serve` in a subprocess on a free loopback port, for browser and
schemathesis tests. The caller's settings (data dir, Redis, key prefix, database) are passed
as env."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def spinneret_serve(settings, log_path: Path, extra_env: dict[str, str] | None = None
                    ) -> Iterator[str]:
    """`extra_env` (e.g. SMTP and sender settings) goes over the defaults below."""
    port = free_port()
    env = {
        **os.environ,
        "SPINNERET_DATA_DIR": str(settings.data_dir),
        "SPINNERET_REDIS_URL": settings.redis_url or "",
        "SPINNERET_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SPINNERET_DATABASE_URL": settings.effective_database_url,
        "SPINNERET_ALLOW_PRIVATE_NETWORKS": "true",
        "SPINNERET_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    }
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "spinneret", "serve", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"spinneret serve did not start: {log_path.read_text()}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
