"""The Shield-compatible face in-process (the SDK itself runs in test_shield_sdk.py): its
credentials, and bad input answered as `{"detail": ...}` with the right status."""

from __future__ import annotations

import base64

from spinneret.demo import images

S = "/shield/v1"


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode())
            .decode()}


async def _detail(response, status: int) -> str:
    assert response.status == status, await response.text()
    return (await response.json())["detail"]


async def test_credentials(api, settings):
    token = api.tokens["viewer"]
    photo = images.generate_bytes(31)
    ok = await api.client.post(f"{S}/media/", data=photo, headers={
        **basic("token", token), "Content-Type": "image/png"})
    assert ok.status == 200 and (await ok.json())["classification"] == "no-known-match"
    by_name = await api.client.post(f"{S}/media/", data=photo, headers={
        **basic("viewer-test", token), "Content-Type": "image/png"})
    assert by_name.status == 200
    settings.hma_anonymous_read = True  # HMA's anonymous mode never opens Shield
    for headers in ({}, {"Authorization": f"Bearer {token}"}, {"Authorization": "Basic !!"},
                    basic("token", "spn_not-a-token")):
        refused = await api.client.post(f"{S}/media/", data=photo,
                                        headers={**headers, "Content-Type": "image/png"})
        assert "give HTTP Basic credentials" in await _detail(refused, 401)
        assert refused.headers["WWW-Authenticate"].startswith("Basic")


async def test_bad_input_answers_in_shield_shape(api, settings):
    settings.allow_private_networks = False  # as deployed: the SSRF guard refuses loopback
    auth = basic("token", api.tokens["viewer"])
    wrong_method = await api.client.get(f"{S}/media/", headers=auth)
    assert await _detail(wrong_method, 405)
    unknown = await api.client.post(f"{S}/video/", headers=auth)
    assert await _detail(unknown, 404)
    no_type = await api.client.post(f"{S}/media/", data=b"\x00\x01", headers=auth)
    assert "unsupported media type" in await _detail(no_type, 415)
    empty = await api.client.post(f"{S}/media/", data=b"",
                                  headers={**auth, "Content-Type": "image/png"})
    assert await _detail(empty, 400) == "the media is empty"
    not_json = await api.client.post(f"{S}/url/", data=b"{", headers={
        **auth, "Content-Type": "application/json"})
    assert "not valid JSON" in await _detail(not_json, 400)
    url_type = await api.client.post(f"{S}/url/", json={"url": 5}, headers=auth)
    assert await _detail(url_type, 400) == "field 'url' must be a string"
    private = await api.client.post(f"{S}/url/", json={"url": "http://127.0.0.1:9/x.png"},
                                    headers=auth)
    assert "not allowed" in await _detail(private, 400)
    too_many = await api.client.post(f"{S}/pdq/", json={"hashes": ["0" * 64] * 501},
                                     headers=auth)
    assert await _detail(too_many, 400) == "give 1 to 500 hashes, not 501"
    wrong_length = base64.b64encode(b"\x01" * 31).decode()
    short = await api.client.post(f"{S}/pdq/", json={"hashes": ["0" * 64, wrong_length]},
                                  headers=auth)
    assert "not a PDQ hash" in await _detail(short, 400)
    listed = await api.client.post(f"{S}/pdq/", json={"hashes": "abc"}, headers=auth)
    assert await _detail(listed, 400) == "field 'hashes' must be a list of strings"


def _flip(hex_hash: str, bits: int) -> str:
    return f"{int(hex_hash, 16) ^ ((1 << bits) - 1):064x}"


async def test_only_auto_decisions_are_reported_to_protocol_clients(api):
    """A review-grade distance (between PDQ's auto 31 and review 40) is not a match to a
    Shield or HMA client, which would act on it; /api/v1/match still shows it for review."""
    from spinneret.matcher.store import ListEntry

    # A hash with detail (a repeated 64-bit pattern would be a weak entry: it never decides)
    listed = "d23f0824128b2f330c5c7fd0a6a3a4506513270e269e0d37f2a74de452e6b438"
    api.store.replace_list("ILLEGAL", [ListEntry("pdq", listed, "synthetic")], kind="block",
                           category="illegal")
    near, borderline = _flip(listed, 20), _flip(listed, 35)
    auth = basic("token", api.tokens["viewer"])
    got = await (await api.client.post(f"{S}/pdq/", json={"hashes": [near, borderline]},
                                       headers=auth)).json()
    assert got["scanned_hashes"][near]["classification"] == "csam"
    assert got["scanned_hashes"][borderline] == {
        "classification": "no-known-match", "match_type": None, "near_match_details": None}
    for signal, expected in ((near, {"ILLEGAL"}), (borderline, set())):
        found = await (await api.client.get("/hma/m/lookup", headers=api.bearer("viewer"),
                                            params={"signal_type": "pdq",
                                                    "signal": signal})).json()
        assert set(found) == expected
    review = await (await api.client.get("/api/v1/match", headers=api.bearer("viewer"),
                                         params={"algorithm": "pdq",
                                                 "hash": borderline})).json()
    assert [m["decision"] for m in review["matches"]] == ["review"]
