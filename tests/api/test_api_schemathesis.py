"""schemathesis fuzzes every JSON operation of the OpenAPI document served by a running
`spinneret serve` (as an admin, so every role check passes) and finds no 5xx answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from records.tokens import create_token
from tests.api.served import spinneret_serve

MAX_EXAMPLES = os.environ.get("SPINNERET_SCHEMATHESIS_EXAMPLES", "10")


@pytest.mark.timeout(180)
def test_no_server_errors(settings, context, tmp_path):
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    admin = create_token(context.db, "admin", "fuzzer", actor="test").secret
    context.store.replace_list("fuzz", [], kind="block")
    with spinneret_serve(settings, tmp_path / "serve.log") as base:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run",
             f"{base}/api/v1/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", MAX_EXAMPLES, "--seed", "1", "--no-shrink",
             "--header", f"Authorization: Bearer {admin}",
             "--include-path-regex", "^/(api/v1/|healthz|readyz|metrics)",
             # Starting crawls of fuzzed sites would reach out (tested in test_api_records.py);
             # revoking token ids would revoke the fuzzer's own token.
             "--exclude-path-regex", r"^/api/v1/(crawls|tokens/\{id\})$",
             "--phases", "fuzzing",
             "--request-timeout", "20", "--max-time", "40", "--workers", "1",
             "--no-color"],
            capture_output=True, text=True, timeout=150, cwd=tmp_path)
        output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:] + (tmp_path / "serve.log").read_text()[-4000:]
