"""`spinneret contacts show|set|clear`, and `notices show` naming each recipient's source."""

from __future__ import annotations

import asyncio
import json

import pytest

from spinneret.config import reset_settings_cache
from spinneret.notices.service import NoticeService
from tests.notices.contact_servers import (
    SECURITY_TXT_PATH,
    Answer,
    LoopbackServer,
    rdap_answer,
    security_txt,
)
from tests.notices.test_contacts import unregistered_site


@pytest.fixture
def servers(monkeypatch, cli_env):
    site, rdap = LoopbackServer().start(), LoopbackServer().start()
    rdap.routes["/ip/127.0.0.1"] = rdap_answer()
    monkeypatch.setenv("SPINNERET_RDAP_BASE_URL", rdap.url)
    reset_settings_cache()
    yield site, rdap
    site.stop()
    rdap.stop()


def test_show_looks_up_then_answers_from_cache_and_refresh_looks_up_again(cli, db, servers):
    site, rdap = servers
    site.routes[SECURITY_TXT_PATH] = Answer(body=security_txt("mailto:security@site.test"))
    unregistered_site(db, site.url)
    code, out, err = cli("contacts", "show", "127.0.0.1")
    assert code == 0, err
    assert "127.0.0.1: security.txt (fresh, looked up" in out
    assert f"security@site.test  source security.txt  {site.url}.well-known/security.txt" in out
    # The https:// try failed (nothing on 443) before the site's own origin answered.
    assert "failed: security.txt: connection" in out
    code, out, _ = cli("contacts", "show", "127.0.0.1")
    assert "127.0.0.1: security.txt (from cache" in out
    assert site.count(SECURITY_TXT_PATH) == 1
    code, out, _ = cli("contacts", "show", "127.0.0.1", "--refresh")
    assert "(fresh" in out and site.count(SECURITY_TXT_PATH) == 2
    assert rdap.requests == []


def test_set_show_clear_override(cli, servers):
    _, rdap = servers
    code, out, err = cli("contacts", "set", "Site.Test", "desk@site.test", "--note", "phoned")
    assert code == 0, err
    assert "site.test: notices go to desk@site.test (override)" in out
    code, out, _ = cli("contacts", "show", "site.test", "--format", "json")
    assert '"source": "override"' in out and '"detail": "phoned"' in out
    code, out, _ = cli("contacts", "clear", "site.test")
    assert "site.test: override removed" in out
    code, out, _ = cli("contacts", "clear", "site.test")
    assert "site.test: had no override" in out
    assert rdap.requests == []


@pytest.mark.parametrize(("args", "message"), [
    (("set", "site.test", "nope"), "'nope' is not an e-mail address"),
    (("show", "bad host"), "'bad host' is not a host name"),
    (("clear", "a/b"), "'a/b' is not a host name"),
])
def test_bad_input_is_one_clear_line(cli, args, message):
    code, out, err = cli("contacts", *args)
    assert code == 2
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_no_contact_found_says_so_with_the_failures(cli, db, servers):
    site, rdap = servers
    rdap.routes["/ip/127.0.0.1"] = Answer(404, "application/rdap+json", b"{}")
    unregistered_site(db, site.url)
    code, out, _ = cli("contacts", "show", "127.0.0.1")
    assert code == 0
    assert "127.0.0.1: none" in out and "no contact found" in out
    assert "failed: rdap: HTTP 404" in out


def test_notices_show_names_the_recipient_source(cli, db, settings, servers, smtp,
                                                 record_match):
    site, _ = servers
    site.routes[SECURITY_TXT_PATH] = Answer(body=security_txt("mailto:security@site.test"))
    reported = unregistered_site(db, site.url)
    record_match(reported, f"{site.url}img/1.png")
    settings.notice_batch_window_s = 0
    settings.smtp_port = smtp.port
    settings.rdap_base_url = servers[1].url
    asyncio.run(NoticeService(db, settings).send_once())
    [view] = NoticeService(db, settings).list()
    code, out, _ = cli("notices", "show", str(view.id), "--format", "json")
    assert code == 0
    [delivery] = json.loads(out)["deliveries"]
    assert (delivery["recipient"], delivery["recipient_source"], delivery["status"]) == (
        "security@site.test", "security.txt", "sent")
    code, out, _ = cli("notices", "show", str(view.id))
    assert code == 0 and "source" in out  # the deliveries table's column
