"""Owner links and the owner page served by the real aiohttp app."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import select

from spinneret.api.app import create_app
from spinneret.notices.errors import CsrfError, LinkExpired, LinkTampered
from spinneret.notices.links import OwnerLinks, load_secret_key
from spinneret.notices.recheck import Rechecker
from spinneret.notices.service import NoticeService
from spinneret.records.models import NoticeItem, OwnerResponse


def test_secret_key_generated_once_with_0600(settings):
    first = load_secret_key(settings)
    path = settings.data_dir / "secret_key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_secret_key(settings) == first
    settings.secret_key = SecretStr("configured")
    assert load_secret_key(settings) == b"configured"


def test_link_tamper_and_expiry(settings, clock):
    links = OwnerLinks(b"k" * 32, base_url="http://h", ttl_s=3600, clock=clock)
    token = links.token(7, nonce="n1")
    assert links.verify(token).notice_id == 7
    with pytest.raises(LinkTampered):
        links.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    other = OwnerLinks(b"x" * 32, base_url="http://h", ttl_s=3600, clock=clock)
    with pytest.raises(LinkTampered):
        other.verify(token)
    clock.advance(3600)
    with pytest.raises(LinkExpired):
        links.verify(token)


def test_form_token_is_bound_to_its_link(clock):
    links = OwnerLinks(b"k" * 32, base_url="http://h", ttl_s=3600, clock=clock)
    token, other = links.token(7), links.token(8)
    links.check_csrf(token, links.csrf_token(token))
    for wrong in (links.csrf_token(other), "", None, "\u00e9" * 64):
        with pytest.raises(CsrfError):
            links.check_csrf(token, wrong)


@pytest.fixture
async def owner_client(db, settings, clock, make_site, record_match):
    settings.notice_batch_window_s = 0
    settings.secret_key = SecretStr("test-secret-key")
    settings.owner_link_ttl_s = 86400
    service = NoticeService(db, settings, clock=clock)
    site = make_site()
    record_match(site, "http://x.test/owner.png")
    service.apply_policy()
    [notice] = service.list()
    app = create_app(SimpleNamespace(settings=settings, db=db), clock=clock)
    client = TestClient(TestServer(app))
    await client.start_server()
    from spinneret.records.models import Notice
    with db.session() as session:
        nonce = session.get(Notice, notice.id).owner_token_nonce
    links = OwnerLinks.from_settings(settings, clock=clock)
    yield SimpleNamespace(client=client, links=links, notice=notice, service=service,
                          token=links.token(notice.id, nonce=nonce), clock=clock)
    await client.close()


async def test_owner_page_and_dispute(owner_client, db):
    c = owner_client
    response = await c.client.get(f"/owner/{c.token}")
    assert response.status == 200
    page = await response.text()
    assert "http://x.test/owner.png" in page and c.links.csrf_token(c.token) in page

    response = await c.client.post(f"/owner/{c.token}", data={"action": "dispute"})
    assert response.status == 403  # no CSRF token
    response = await c.client.post(f"/owner/{c.token}", data={
        "action": "dispute", "csrf": c.links.csrf_token(c.token)})
    assert response.status == 400  # a dispute needs a comment
    response = await c.client.post(f"/owner/{c.token}", data={
        "action": "dispute", "csrf": c.links.csrf_token(c.token),
        "comment": "This is our own logo."})
    assert response.status == 200 and "dispute is recorded" in await response.text()
    assert c.service.show(c.notice.id).status == "disputed"
    with db.session() as session:
        [saved] = session.scalars(select(OwnerResponse)).all()
        assert (saved.action, saved.comment) == ("dispute", "This is our own logo.")


async def test_owner_link_tampered_or_expired_refused(owner_client, clock):
    c = owner_client
    forged = c.links.token(c.notice.id + 1, nonce="guess")
    tampered = c.token[:-3] + ("xyz" if not c.token.endswith("xyz") else "abc")
    for bad in (tampered, forged.split(".")[0] + "." + c.token.split(".")[1]):
        response = await c.client.get(f"/owner/{bad}")
        assert response.status == 403
        assert "not valid" in await response.text()
    # A CSRF token of another link is refused.
    response = await c.client.post(f"/owner/{c.token}", data={
        "action": "acknowledge", "csrf": c.links.csrf_token(forged)})
    assert response.status == 403
    clock.advance(86400)
    response = await c.client.get(f"/owner/{c.token}")
    assert response.status == 410
    assert "expired" in await response.text()
    response = await c.client.post(f"/owner/{c.token}", data={
        "action": "acknowledge", "csrf": c.links.csrf_token(c.token)})
    assert response.status == 410


async def test_owner_acknowledges_and_reminders_continue(owner_client, db, settings):
    c = owner_client
    response = await c.client.post(f"/owner/{c.token}", data={
        "action": "acknowledge", "csrf": c.links.csrf_token(c.token)})
    assert response.status == 200
    assert "the notice is acknowledged" in await response.text()
    assert c.service.show(c.notice.id).status == "acknowledged"
    with db.session() as session:
        [saved] = session.scalars(select(OwnerResponse)).all()
        assert (saved.action, saved.notice_id) == ("acknowledge", c.notice.id)
    # Acknowledging is not removing: while the image is up, the owner is still reminded.
    c.clock.advance(settings.reminder_after_s)
    assert c.service.follow_up().reminders == [c.notice.id]


async def test_owner_reports_removal_and_the_items_are_rechecked_at_once(owner_client, db,
                                                                         settings):
    c = owner_client
    rechecker = Rechecker(db, settings, clock=c.clock)
    with db.session() as session:  # as after a recheck that found the image still up
        for item in session.scalars(select(NoticeItem)):
            item.last_checked_at = c.clock.now()
    with db.session() as session:
        assert rechecker.due(session, 10) == []
    response = await c.client.post(f"/owner/{c.token}", data={
        "action": "removed", "csrf": c.links.csrf_token(c.token),
        "comment": "Deleted from the server and the CDN."})
    assert response.status == 200
    assert "we will check the listed URLs again shortly" in await response.text()
    with db.session() as session:
        assert [d.url for d in rechecker.due(session, 10)] == ["http://x.test/owner.png"]
        [saved] = session.scalars(select(OwnerResponse)).all()
        assert (saved.action, saved.comment) == ("removed", "Deleted from the server and the CDN.")
    # The owner's word is not proof: the item stays open until the recheck sees it gone.
    view = c.service.show(c.notice.id)
    assert view.status == "sent" and [i.status for i in view.items] == ["open"]
