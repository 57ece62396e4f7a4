"""Issue 18 item 2: webhook URLs go through the SSRF guard, refused at registration (CLI,
API, UI) and again at delivery (DNS can change), with nothing of an internal answer (the
HTTP status) coming back in the delivery error."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from spinneret.config import reset_settings_cache
from spinneret.crawler.ssrf import SsrfPolicy
from spinneret.notices.errors import DeliveryError
from spinneret.notices.webhook import WebhookSender
from spinneret.records.models import Site
from tests.api.conftest import api, context, tokens  # noqa: F401 - fixtures
from tests.notices.conftest import db, make_site  # noqa: F401 - fixtures

INTERNAL_WEBHOOKS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "http://localhost:8080/hook",
    "http://[::ffff:127.0.0.1]:8080/hook",
    "http://[2002:a9fe:a9fe::]/",
    "http://2130706433/hook",
    "http://10.0.0.7/hook",
]


@pytest.fixture
def settings(settings):
    """The default policy (the shared fixture allows private networks for loopback sites)."""
    return settings.model_copy(update={"allow_private_networks": False})


@pytest.fixture
async def receiver():
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=418)  # an "internal service" with a telling status

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    server.hits = hits
    yield server
    await server.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1",
                                  "[::ffff:7f00:1]"])
async def test_delivery_to_an_internal_address_is_refused_before_any_request(receiver, host):
    sender = WebhookSender(timeout_s=5, user_agent="test")  # the default policy
    url = f"http://{host}:{receiver.port}/hook"
    with pytest.raises(DeliveryError) as refused:
        await sender.send(url, {"x": 1}, secret=b"k", idempotency_key="d1")
    assert receiver.hits == []
    assert refused.value.permanent
    message = str(refused.value)
    assert "SSRF guard" in message and "SPINNERET_ALLOWED_NETWORKS" in message
    assert "418" not in message  # no internal port scanner


async def test_an_allowed_network_lets_the_webhook_through(receiver):
    sender = WebhookSender(timeout_s=5, user_agent="test",
                           policy=SsrfPolicy(allowed_networks=["127.0.0.1/32"]))
    with pytest.raises(DeliveryError, match="HTTP 418"):
        await sender.send(f"http://127.0.0.1:{receiver.port}/hook", {"x": 1}, secret=b"k",
                          idempotency_key="d1")
    assert receiver.hits == ["/hook"]


async def test_the_outbox_refuses_a_webhook_whose_address_changed_after_registration(
        db, settings, make_site, receiver):  # noqa: F811
    from spinneret.notices.service import NoticeService
    from spinneret.records.models import Delivery
    from tests.notices.conftest import record_match  # noqa: F401

    site = make_site(webhook_url="https://hooks.example.org/in")
    # Registered while public; now (as after a DNS change) it points inside.
    with db.session() as session:
        session.execute(update(Site).where(Site.id == site.id).values(
            webhook_url=f"http://localhost:{receiver.port}/hook"))
    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.images import ImageRecorder
    from spinneret.records.types import MatchRecordInput

    crawl_id = CrawlRepository(db).create(site.id).id
    ImageRecorder(db).record_image(crawl_id, site.id, "http://x.test/p.html", "http://x.test/a.png",
                                   "ab" * 32, matches=[MatchRecordInput(
                                       list_name="l", algorithm="sha256", entry_hash="ab" * 32,
                                       query_hash="ab" * 32, distance=0, decision="auto",
                                       category="illegal", source="t", label="x")])
    settings.notice_batch_window_s = 0
    result = await NoticeService(db, settings).send_once()
    assert receiver.hits == []
    with db.session() as session:
        webhook = [d for d in session.query(Delivery).all() if d.channel == "webhook"]
    assert webhook and all(d.status == "failed" for d in webhook), result
    assert "SSRF guard" in webhook[0].last_error


@pytest.mark.parametrize("url", INTERNAL_WEBHOOKS)
async def test_the_api_refuses_an_internal_webhook(api, url):  # noqa: F811
    response = await api.client.post("/api/v1/sites", json={
        "url": "https://www.example.org/", "name": "hooked", "webhook_url": url},
        headers=api.bearer("admin"))
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert "SSRF guard" in error and "SPINNERET_ALLOW_PRIVATE_NETWORKS" in error
    response = await api.client.post("/api/v1/sites", json={
        "url": "https://www.example.org/", "name": "plain", "owner_email": "o@example.org"},
        headers=api.bearer("admin"))
    assert response.status == 201
    response = await api.client.patch("/api/v1/sites/plain", json={"webhook_url": url},
                                      headers=api.bearer("admin"))
    assert response.status == 400 and "SSRF guard" in (await response.json())["error"]


async def test_the_ui_refuses_an_internal_webhook(api):  # noqa: F811
    headers, csrf = api.session("admin")
    response = await api.client.post("/sites", data={
        "url": "https://www.example.org/", "name": "hooked", "owner_email": "o@example.org",
        "webhook_url": "http://169.254.169.254/latest/", "csrf": csrf},
        headers=headers, allow_redirects=False)
    assert response.status == 400, await response.text()
    assert "SSRF guard" in await response.text()
    listed = await api.client.get("/api/v1/sites", headers=api.bearer("admin"))
    assert (await listed.json()) == []


@pytest.mark.parametrize("url", INTERNAL_WEBHOOKS[:3])
def test_the_cli_refuses_an_internal_webhook(cli, monkeypatch, url):
    monkeypatch.setenv("SPINNERET_ALLOW_PRIVATE_NETWORKS", "false")
    reset_settings_cache()
    code, out, err = cli("sites", "add", "https://www.example.org/", "--name", "hooked",
                         "--webhook", url)
    assert code == 2, out + err
    assert err.startswith("error: webhook URL") and "SSRF guard" in err
    assert "Traceback" not in err
    code, out, _ = cli("sites", "ls", "--format", "json")
    assert "hooked" not in out


def test_a_public_webhook_is_still_accepted(cli, monkeypatch):
    monkeypatch.setenv("SPINNERET_ALLOW_PRIVATE_NETWORKS", "false")
    reset_settings_cache()
    code, out, err = cli("sites", "add", "https://www.example.org/", "--name", "hooked",
                         "--webhook", "https://93.184.215.14/hook")
    assert code == 0, err
