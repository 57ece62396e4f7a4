"""Issue 18 item 4 (and issue 16: no secret in logs or `config show`): every secret form
is masked in `config show`, in log records (messages and tracebacks), and in API/UI error
messages; /metrics carries none."""

from __future__ import annotations

import json
import logging

import pytest

from spinneret.config import Settings, reset_settings_cache
from spinneret.runtime.context import AppContext
from tests.api.conftest import api, context, tokens  # noqa: F401 - fixtures

SECRETS = {
    "SPINNERET_BROKER_URL": ("redis://127.0.0.1:6379/3?password=query-pass-1", "query-pass-1"),
    "SPINNERET_TRANSIT_REDIS_URL": ("redis://:userinfo-pass-2@127.0.0.1:6379/4",
                                    "userinfo-pass-2"),
    "SPINNERET_SMTP_PASSWORD": ("smtp-pass-3", "smtp-pass-3"),
    "SPINNERET_SECRET_KEY": ("service-key-4", "service-key-4"),
}


@pytest.fixture
def secret_env(cli_env, monkeypatch):
    for name, (value, _) in SECRETS.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield [secret for _, secret in SECRETS.values()]
    reset_settings_cache()


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_config_show_masks_every_secret_form(cli, secret_env, fmt):
    code, out, err = cli("config", "show", "--format", fmt)
    assert code == 0, err
    for secret in secret_env:
        assert secret not in out, f"{secret} shown by config show"
    if fmt == "json":
        shown = json.loads(out)
        assert shown["broker_url"] == "redis://127.0.0.1:6379/3?password=********"
        assert shown["transit_redis_url"] == "redis://:********@127.0.0.1:6379/4"


@pytest.mark.parametrize("url", [
    "postgresql://spinneret:db-pass-5@db.internal/spinneret",
    "postgresql+psycopg://db.internal/spinneret?user=s&password=db-pass-5",
    "redis://h:6379/0?auth=db-pass-5",
])
def test_database_and_query_passwords_are_masked(url):
    shown = Settings(database_url=url).masked()["database_url"]
    assert "db-pass-5" not in shown and "********" in shown


def test_log_records_are_masked_messages_and_tracebacks(settings, caplog):
    settings = settings.model_copy(update={
        "broker_url": "redis://127.0.0.1:6379/3?password=query-pass-1",
        "smtp_password": type(settings.secret_key)("smtp-pass-3")})
    AppContext(settings)  # what every process's composition root does
    log = logging.getLogger("spinneret.test.secrets")
    with caplog.at_level(logging.INFO):
        log.warning("broker %s unreachable", settings.broker_url)
        log.info("SMTP login as bob with %s failed", "smtp-pass-3")
        try:
            raise ConnectionError("cannot connect to redis://:userinfo-pass-2@10.0.0.1:6379/0")
        except ConnectionError:
            log.exception("connect failed")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    for secret in ("query-pass-1", "smtp-pass-3", "userinfo-pass-2"):
        assert secret not in text, text
    assert "password=********" in text and "redis://:********@10.0.0.1" in text


async def test_error_messages_of_the_api_and_metrics_carry_no_secret(api):  # noqa: F811
    # The caller's own URL comes back in the refusal; its password must not.
    response = await api.client.post("/api/v1/sites", json={
        "url": "ftp://admin:site-pass-6@www.example.org/", "name": "s",
        "owner_email": "o@example.org"}, headers=api.bearer("admin"))
    assert response.status == 400
    error = (await response.json())["error"]
    assert "site-pass-6" not in error and "ftp://admin:********@www.example.org/" in error
    response = await api.client.get("/metrics", headers=api.bearer("admin"))
    body = await response.text()
    for secret in api.svc.settings.secret_values():
        assert secret not in body
