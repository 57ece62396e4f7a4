"""/api/v1/contacts/{host} (admin): resolve, set and clear a host's override; notice detail
and the notice page show where each recipient came from."""

from __future__ import annotations

import pytest

from tests.notices.contact_servers import LoopbackServer, rdap_answer


@pytest.fixture
def rdap_server():
    server = LoopbackServer().start()
    server.routes["/ip/127.0.0.1"] = rdap_answer()
    yield server
    server.stop()


async def test_contacts_override_set_shown_and_cleared(api, settings, rdap_server):
    settings.rdap_base_url = rdap_server.url
    admin = api.bearer("admin")
    response = await api.client.put("/api/v1/contacts/127.0.0.1", headers=admin,
                                    json={"email": "desk@hosting.test", "note": "by phone"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["host"], body["email"], body["source"]) == ("127.0.0.1", "desk@hosting.test",
                                                             "override")
    shown = await (await api.client.get("/api/v1/contacts/127.0.0.1", headers=admin)).json()
    assert shown["source"] == "override" and shown["from_cache"] is False
    assert shown["contacts"] == [{"email": "desk@hosting.test", "source": "override",
                                  "detail": "by phone"}]
    assert rdap_server.requests == []
    cleared = await api.client.delete("/api/v1/contacts/127.0.0.1", headers=admin)
    assert (await cleared.json())["cleared"] is True
    # Without the override (and no site on the host): looked up, then from the cache.
    shown = await (await api.client.get("/api/v1/contacts/127.0.0.1", headers=admin)).json()
    assert shown["source"] == "rdap" and shown["from_cache"] is False
    assert shown["contacts"][0]["email"] == "abuse@hosting.test"
    assert any("security.txt" in e for e in shown["errors"])
    again = await (await api.client.get("/api/v1/contacts/127.0.0.1", headers=admin)).json()
    assert again["from_cache"] is True
    refreshed = await (await api.client.get("/api/v1/contacts/127.0.0.1?refresh=true",
                                            headers=admin)).json()
    assert refreshed["from_cache"] is False
    assert rdap_server.count("/ip/127.0.0.1") == 2


async def test_contacts_need_admin_and_good_input(api):
    for role in ("viewer", "analyst"):
        response = await api.client.get("/api/v1/contacts/site.test", headers=api.bearer(role))
        assert response.status == 403
        response = await api.client.put("/api/v1/contacts/site.test", headers=api.bearer(role),
                                        json={"email": "a@site.test"})
        assert response.status == 403
    admin = api.bearer("admin")
    response = await api.client.put("/api/v1/contacts/site.test", headers=admin,
                                    json={"email": "not an address"})
    assert response.status == 400
    assert "is not an e-mail address" in (await response.json())["error"]
    response = await api.client.put("/api/v1/contacts/site.test", headers=admin, json={})
    assert response.status == 400
    response = await api.client.get("/api/v1/contacts/a%20b", headers=admin)
    assert response.status == 400
    assert "is not a host name" in (await response.json())["error"]


async def test_notice_detail_and_page_show_the_recipient_source(api, owner_notice, smtp,
                                                                settings):
    viewer = api.bearer("viewer")
    detail = await (await api.client.get(f"/api/v1/notices/{owner_notice.notice.id}",
                                         headers=viewer)).json()
    [delivery] = detail["deliveries"]
    assert delivery["recipient"] == "owner@example.org"
    assert delivery["recipient_source"] == "registered"
    assert any("(contact: registered)" in e["detail"] for e in detail["timeline"])
    headers, _ = api.session("viewer")
    page = await (await api.client.get(f"/notices/{owner_notice.notice.id}",
                                       headers=headers)).text()
    assert "owner@example.org (contact: registered)" in page
