"""Loopback owner links, placeholder senders and the example crawler contact URL are warned
about where an operator looks: `config show`, and the start of `serve`, `worker`, `beat`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from spinneret.config import reset_settings_cache
from tests.worker_helpers import worker_env

SHIPPED = ("SPINNERET_PUBLIC_BASE_URL", "SPINNERET_CONTACT_URL", "SPINNERET_MAIL_FROM",
           "SPINNERET_NOTICE_SENDER_ORGANISATION", "SPINNERET_NOTICE_CONTACT_EMAIL",
           "SPINNERET_NOTICE_LEGAL_BASIS")


def test_config_show_warns_on_stderr_and_keeps_json_clean(cli, cli_env, monkeypatch):
    code, out, err = cli("config", "show", "--format", "json")
    assert code == 0 and err == ""  # the test deployment is configured
    for name in SHIPPED:
        monkeypatch.delenv(name)
    reset_settings_cache()
    code, out, err = cli("config", "show", "--format", "json")
    assert code == 0 and json.loads(out)["public_base_url"] == "http://127.0.0.1:8080"
    lines = err.splitlines()
    assert all(line.startswith("warning: ") for line in lines)
    assert ("warning: SPINNERET_PUBLIC_BASE_URL http://127.0.0.1:8080 is a loopback address: "
            "site owners cannot open their links (notices are held until it is fixed)") in lines
    assert any(line.startswith("warning: SPINNERET_CONTACT_URL "
                               "https://example.org/spinneret-contact is a placeholder")
               for line in lines)
    assert ("warning: SPINNERET_NOTICE_SENDER_ORGANISATION is not set (notices are held until "
            "it is fixed)") in lines

    monkeypatch.setenv("SPINNERET_NOTICE_DEMO", "true")
    reset_settings_cache()
    assert cli("config", "show")[2] == ""


def test_beat_warns_at_start_about_a_loopback_public_url(settings, tmp_path):
    env = {k: v for k, v in worker_env(settings).items() if k not in SHIPPED}
    log = tmp_path / "beat.log"
    with open(log, "wb") as out:
        beat = subprocess.Popen([sys.executable, "-m", "spinneret", "beat"], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "SPINNERET_CONTACT_URL" not in log.read_text() and time.monotonic() < deadline:
            assert beat.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        text = log.read_text()
        assert "warning: SPINNERET_PUBLIC_BASE_URL http://127.0.0.1:8080 is a loopback" in text
        assert "warning: SPINNERET_CONTACT_URL https://example.org/spinneret-contact" in text
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)


def test_compose_mail_host_is_required_or_the_mail_catcher():
    """The SMTP host is the operator's relay (compose refuses to start without it), or the
    `mailpit` service its comment names; never a service that does not exist."""
    from tests.test_deployment import COMPOSE, _load, _merged

    services = _merged(COMPOSE)
    env = _load(COMPOSE)["x-spinneret-env"]
    assert env["SPINNERET_SMTP_HOST"].startswith("${SPINNERET_SMTP_HOST:?")
    assert "SPINNERET_SMTP_HOST=mailpit SPINNERET_SMTP_PORT=1025" in COMPOSE.read_text()
    catcher = services["mailpit"]
    assert catcher["profiles"] == ["mail-catcher"]  # never started by a plain `up`
    assert catcher["image"].startswith("axllent/mailpit:")
    assert all(p.startswith("127.0.0.1:") for p in catcher["ports"])
    for name in ("SPINNERET_NOTICE_SENDER_ORGANISATION", "SPINNERET_NOTICE_CONTACT_EMAIL",
                 "SPINNERET_NOTICE_LEGAL_BASIS"):
        assert name in env, name
