"""`spinneret tokens create|ls|revoke` in a subprocess: the secret is shown once, only its
hash is stored, a revoked token no longer authenticates."""

from __future__ import annotations

import json

from spinneret.records.db import Database
from spinneret.records.tokens import authenticate, hash_token
from tests.conftest import run_cli


def test_tokens_create_ls_revoke(cli_env, settings):
    created = run_cli("tokens", "create", "--role", "analyst", "--name", "ana", env=cli_env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("spn_") and len(secret) > 40
    assert "shown only once" in created.stderr

    listed = run_cli("tokens", "ls", "--format", "json", env=cli_env)
    [token] = json.loads(listed.stdout)
    assert (token["name"], token["role"], token["revoked_at"]) == ("ana", "analyst", None)
    assert secret not in listed.stdout

    db = Database.from_settings(settings)
    try:
        assert authenticate(db, secret).name == "ana"
        raw = db.engine.raw_connection()
        try:
            [(stored,)] = raw.cursor().execute("SELECT token_hash FROM api_tokens").fetchall()
        finally:
            raw.close()
        assert stored == hash_token(secret) and secret not in stored

        revoked = run_cli("tokens", "revoke", str(token["id"]), env=cli_env)
        assert revoked.returncode == 0 and "revoked token" in revoked.stdout
        assert authenticate(db, secret) is None
        again = run_cli("tokens", "revoke", str(token["id"]), env=cli_env)
        assert again.returncode == 2 and again.stderr.strip() == (
            f"error: API token {token['id']} is already revoked")
        bad = run_cli("tokens", "create", "--role", "root", env=cli_env)
        assert bad.returncode == 2 and "unknown role 'root'" in bad.stderr
    finally:
        db.dispose()
