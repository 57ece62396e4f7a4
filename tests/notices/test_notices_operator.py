"""Operator settings for delivery (docs/notices.md): SMTP host, port, credentials, STARTTLS,
sender address and template overrides, each against a real aiosmtpd server on loopback."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from spinneret.config import Settings
from spinneret.notices.service import NoticeService
from spinneret.records.models import Delivery
from tests.conftest import run_cli
from tests.notices.smtp_server import PasswordCheck, SmtpServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notices.md"


# Loopback only: the STARTTLS test below covers AUTH the way production should run it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def auth_smtp():
    """A server that takes mail only after AUTH (allowed without TLS here, on loopback)."""
    check = PasswordCheck("spinneret", "s3cret pass")
    server = SmtpServer(authenticator=check, auth_required=True, auth_require_tls=False)
    server.start()
    server.auth = check
    yield server
    server.stop()


def test_documented_settings_exist():
    names = set(re.findall(r"\bSPINNERET_[A-Z0-9_]+\b", DOCS.read_text()))
    assert {"SPINNERET_SMTP_HOST", "SPINNERET_SMTP_PORT", "SPINNERET_SMTP_STARTTLS",
            "SPINNERET_SMTP_USERNAME", "SPINNERET_SMTP_PASSWORD", "SPINNERET_MAIL_FROM",
            "SPINNERET_TEMPLATES_DIR"} <= names
    fields = {f"SPINNERET_{name.upper()}" for name in Settings.model_fields}
    assert names - {"SPINNERET_CONFIG_FILE"} <= fields, names - fields


def test_environment_settings_credentials_sender_and_template_override(
        db, settings, clock, make_site, record_match, cli_env, auth_smtp, tmp_path):
    """The documented variables, read by the real `spinneret notices send`."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "subject.txt.j2").write_text(
        "[{{ notice.reference }}] Removal request from Example Hotline\n")
    (templates / "notice.txt.j2").write_text(
        "Example Hotline asks {{ notice.site_name }} to remove:\n"
        "{% for item in items %}- {{ item.image_url }} ({{ item.list_name }})\n{% endfor %}"
        "Respond here: {{ owner_url }}\n")
    site = make_site("operator-site")
    record_match(site, "http://x.test/custom.png")
    env = {**cli_env, "SPINNERET_NOTICE_BATCH_WINDOW_S": "0",
           "SPINNERET_SMTP_HOST": "127.0.0.1", "SPINNERET_SMTP_PORT": str(auth_smtp.port),
           "SPINNERET_SMTP_STARTTLS": "false", "SPINNERET_SMTP_USERNAME": "spinneret",
           "SPINNERET_SMTP_PASSWORD": "s3cret pass",
           "SPINNERET_MAIL_FROM": "Example Hotline <notices@hotline.test>",
           "SPINNERET_TEMPLATES_DIR": str(templates)}
    sent = run_cli("notices", "send", env=env)
    assert sent.returncode == 0 and "sent 1," in sent.stdout, sent.stdout + sent.stderr

    [mail] = auth_smtp.messages
    assert auth_smtp.auth.attempts[-1][1:] == ("spinneret", "s3cret pass")
    assert mail.login == "spinneret"
    assert mail.mail_from == "notices@hotline.test"
    assert mail.message["From"] == "Example Hotline <notices@hotline.test>"
    assert mail.message["Message-ID"].endswith("@hotline.test>")
    assert mail.message["Subject"].endswith("] Removal request from Example Hotline")
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Example Hotline asks operator-site to remove:\n"
                           "- http://x.test/custom.png (demo-list)\n")
    assert "/owner/" in text
    # Templates the operator did not override come from the package.
    html = mail.message.get_body(("html",)).get_content()
    assert "http://x.test/custom.png" in html and "Acknowledge, report removal" in html


async def test_wrong_smtp_password_is_retried_with_the_servers_answer(
        db, settings, clock, make_site, record_match, auth_smtp):
    settings.notice_batch_window_s = 0
    settings.smtp_port = auth_smtp.port
    settings.smtp_username = "spinneret"
    settings.smtp_password = SecretStr("wrong")
    service = NoticeService(db, settings, clock=clock)
    record_match(make_site(), "http://x.test/1.png")
    result = await service.send_once()
    assert result.sent == [] and len(result.retrying) == 1
    with db.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "pending" and "535" in delivery.last_error
    assert auth_smtp.messages == []

    settings.smtp_password = SecretStr("s3cret pass")  # the operator fixes the setting
    clock.advance(settings.delivery_backoff_max_s)
    assert len((await NoticeService(db, settings, clock=clock).send_once()).sent) == 1
    assert [m.login for m in auth_smtp.messages] == ["spinneret"]


@pytest.fixture
def server_cert(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command line tool."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


async def test_starttls_with_auth_against_a_server_that_requires_it(
        db, settings, clock, make_site, record_match, server_cert, monkeypatch):
    cert, key = server_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    check = PasswordCheck("spinneret", "s3cret pass")
    server = SmtpServer(tls_context=context, require_starttls=True, authenticator=check,
                        auth_required=True).start()  # AUTH only after STARTTLS
    # How an operator trusts a private CA: the standard OpenSSL variable (docs/notices.md).
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        settings.notice_batch_window_s = 0
        settings.smtp_port = server.port
        settings.smtp_username = "spinneret"
        settings.smtp_password = SecretStr("s3cret pass")
        record_match(make_site(), "http://x.test/tls.png")

        settings.smtp_starttls = False  # plain text is refused by this server
        result = await NoticeService(db, settings, clock=clock).send_once()
        assert result.sent == [] and server.messages == []

        settings.smtp_starttls = True
        clock.advance(settings.delivery_backoff_max_s)
        assert len((await NoticeService(db, settings, clock=clock).send_once()).sent) == 1
        [mail] = server.messages
        assert mail.tls and mail.login == "spinneret"
        assert "http://x.test/tls.png" in mail.message.get_body(("plain",)).get_content()
    finally:
        server.stop()
