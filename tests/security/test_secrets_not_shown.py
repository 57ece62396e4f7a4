"""No secret leaves the service: the SMTP password, the secret key (from which webhook keys
and owner links are derived), a site's webhook secret, API tokens and passwords in service
URLs appear neither in `config show` (text and JSON), nor in the API's /config, nor in any
log line written while mail is refused, webhooks fail, tokens are used and refused, nor in
what is stored about a failed delivery. (tests/test_config.py checks two of these in JSON.)"""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select

from spinneret.notices.service import NoticeService
from spinneret.notices.webhook import webhook_secret
from spinneret.records.models import AuditEvent, Delivery
from tests.api.conftest import api, context, tokens  # noqa: F401 - fixtures
from tests.conftest import run_cli
from tests.notices.conftest import clock, db, make_site, record_match  # noqa: F401 - fixtures
from tests.notices.test_notices_operator import auth_smtp  # noqa: F401 - fixture

SMTP_PASSWORD = "smtp-Pa55-word-xyz"
SECRET_KEY = "service-secret-key-0123456789abcdef"
URL_PASSWORDS = {
    "SPINNERET_REDIS_URL": ("redis://:redis-pw-111@127.0.0.1:1/0", "redis-pw-111"),
    "SPINNERET_BROKER_URL": ("amqp://spin:broker-pw-222@127.0.0.1:1//", "broker-pw-222"),
    "SPINNERET_TRANSIT_REDIS_URL": ("redis://u:transit-pw-333@127.0.0.1:1/1", "transit-pw-333"),
    "SPINNERET_DATABASE_URL": ("postgresql://spin:db-pw-444@127.0.0.1:1/spin", "db-pw-444"),
}


def _secret_env(data_dir) -> dict[str, str]:
    env = {"SPINNERET_DATA_DIR": str(data_dir), "SPINNERET_SMTP_PASSWORD": SMTP_PASSWORD,
           "SPINNERET_SECRET_KEY": SECRET_KEY}
    env.update({name: url for name, (url, _) in URL_PASSWORDS.items()})
    return env


def _secrets() -> list[str]:
    return [SMTP_PASSWORD, SECRET_KEY, *(pw for _, pw in URL_PASSWORDS.values())]


def test_config_show_text_and_json_mask_every_secret(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("SPINNERET_"):
            monkeypatch.delenv(name)
    env = _secret_env(tmp_path)
    for args in (("config", "show"), ("config", "show", "--format", "json")):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        shown = result.stdout + result.stderr
        for secret in _secrets():
            assert secret not in shown, (args, secret)
        assert "********" in shown


async def test_api_config_masks_every_secret(api):  # noqa: F811
    settings = api.svc.settings
    settings.smtp_password = SecretStr(SMTP_PASSWORD)
    settings.secret_key = SecretStr(SECRET_KEY)
    settings.broker_url = URL_PASSWORDS["SPINNERET_BROKER_URL"][0]
    settings.transit_redis_url = URL_PASSWORDS["SPINNERET_TRANSIT_REDIS_URL"][0]
    response = await api.client.get("/api/v1/config", headers=api.bearer("admin"))
    assert response.status == 200
    body = await response.text()
    for secret in (SMTP_PASSWORD, SECRET_KEY, "broker-pw-222", "transit-pw-333"):
        assert secret not in body


async def test_no_secret_in_logs_or_records_while_delivery_fails(
        caplog, db, settings, clock, make_site, record_match, auth_smtp,  # noqa: F811
        webhook_receiver):
    caplog.set_level(logging.DEBUG)

    async def failing_hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=500, text="receiver broke")

    url = await webhook_receiver(failing_hook)
    settings.notice_batch_window_s = 0
    settings.smtp_port = auth_smtp.port
    settings.smtp_username = "spinneret"
    settings.smtp_password = SecretStr(SMTP_PASSWORD)  # wrong: refused with 535
    settings.secret_key = SecretStr(SECRET_KEY)
    service = NoticeService(db, settings, clock=clock)
    site = make_site(webhook_url=url)
    record_match(site, "http://x.test/secret-check.png")
    result = await service.send_once()
    assert result.sent == [] and len(result.retrying) == 2
    hook_secret = (site.webhook_secret or webhook_secret(SECRET_KEY.encode(), site.id).decode())
    with db.session(readonly=True) as session:
        stored = " ".join(f"{d.last_error} {d.recipient}" for d in session.scalars(
            select(Delivery)))
        audit = " ".join(str(e.details) for e in session.scalars(select(AuditEvent)))
    logged = caplog.text
    assert "535" in stored and "500" in stored, stored  # the failures were recorded...
    for secret in (SMTP_PASSWORD, SECRET_KEY, hook_secret):
        assert secret not in logged, secret  # ...without a secret in them
        assert secret not in stored and secret not in audit, secret


async def test_no_token_in_logs_or_audit_when_used_or_refused(caplog, api):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    wrong = "spn_" + "w" * 40
    for headers in (api.bearer("admin"), {"Authorization": f"Bearer {wrong}"}):
        await api.client.get("/api/v1/whoami", headers=headers)
        await api.client.post("/api/v1/lists", json={"name": "x"}, headers=headers)
    response = await api.client.get("/login")
    assert response.status == 200
    await api.client.post("/login", data={"token": api.tokens["viewer"], "csrf": "bad"})
    await api.client.post("/login", data={"token": wrong, "csrf": "bad"})
    with api.db.session(readonly=True) as session:
        audit = " ".join(f"{e.actor} {e.target} {e.details}"
                         for e in session.scalars(select(AuditEvent)))
    assert audit, "the calls were audited"
    for secret in (*api.tokens.values(), wrong):
        assert secret not in caplog.text, secret
        assert secret not in audit, secret
