"""Per-list controls, consensus review and the feedback export through the JSON API and the
UI, on real Redis and the test database."""

from __future__ import annotations

import hashlib


def _flip(hex_: str, bits: int) -> str:
    return f"{int(hex_, 16) ^ ((1 << bits) - 1):0{len(hex_)}x}"


async def _match(api, algorithm: str, value: str) -> list[dict]:
    response = await api.client.get("/api/v1/match", params={
        "algorithm": algorithm, "hash": value, "quality": "100"}, headers=api.bearer("viewer"))
    assert response.status == 200, await response.text()
    return (await response.json())["matches"]


async def test_switches_and_thresholds_through_the_api(api, make_png):
    image = make_png(3)
    md5, sha = hashlib.md5(image).hexdigest(), hashlib.sha256(image).hexdigest()
    response = await api.client.post("/api/v1/match", data=image, headers=api.bearer("viewer"))
    pdq = next(h["hash"] for h in (await response.json())["hashes"] if h["algorithm"] == "pdq")
    body = f"algorithm,hash,label\nmd5,{md5},a\nsha256,{sha},b\npdq,{pdq},c\n".encode()
    response = await api.client.post("/api/v1/lists/authority/import", data=body,
                                     params={"format": "csv"}, headers=api.bearer("analyst"))
    assert response.status == 200, await response.text()
    analyst = api.bearer("analyst")

    response = await api.client.post("/api/v1/lists/authority/disable", headers=analyst)
    assert (await response.json())["enabled"] is False
    assert await _match(api, "md5", md5) == []
    response = await api.client.post("/api/v1/lists/authority/disable",
                                     headers=api.bearer("viewer"))
    assert response.status == 403
    await api.client.post("/api/v1/lists/authority/enable", headers=analyst)
    assert len(await _match(api, "md5", md5)) == 1

    response = await api.client.post("/api/v1/lists/authority/entries/disable",
                                     json={"hash": md5, "algorithm": "md5"}, headers=analyst)
    assert (await response.json())["disabled_entries"] == [{"algorithm": "md5", "hash": md5}]
    assert await _match(api, "md5", md5) == []
    assert len(await _match(api, "sha256", sha)) == 1
    response = await api.client.post("/api/v1/lists/authority/entries/disable",
                                     json={"hash": "0" * 32, "algorithm": "md5"},
                                     headers=analyst)
    assert response.status == 404

    near = _flip(pdq, 20)
    assert [m["decision"] for m in await _match(api, "pdq", near)] == ["auto"]
    response = await api.client.post("/api/v1/lists/authority/thresholds",
                                     json={"algorithm": "pdq", "auto": 10}, headers=analyst)
    assert response.status == 200, await response.text()
    controls = await response.json()
    assert controls["effective_thresholds"]["pdq"]["auto"] == 10
    assert [m["decision"] for m in await _match(api, "pdq", near)] == ["review"]
    response = await api.client.post("/api/v1/lists/authority/thresholds",
                                     json={"algorithm": "pdq", "review": 99}, headers=analyst)
    assert response.status == 400
    assert "wider" in (await response.json())["error"]
    response = await api.client.post("/api/v1/lists/authority/release", headers=analyst)
    assert response.status == 400  # not quarantined

    response = await api.client.get("/api/v1/lists/authority", headers=api.bearer("viewer"))
    shown = (await response.json())["controls"]
    assert (shown["enabled"], shown["quarantined"], shown["thresholds"]) == (
        True, False, {"pdq": {"auto": 10, "review": None}})
    headers, _ = api.session("viewer")
    page = await (await api.client.get("/lists/authority", headers=headers)).text()
    assert "Threshold pdq" in page and md5 in page


async def test_consensus_review_and_feedback_through_the_api(api, settings, record_match):
    settings.review_consensus = 2
    record_match("http://127.0.0.1:9/a.png", list_name="authority")
    response = await api.client.get("/api/v1/review", headers=api.bearer("viewer"))
    [item] = await response.json()
    url = f"/api/v1/review/{item['id']}"

    response = await api.client.post(f"{url}/confirm", json={}, headers=api.bearer("analyst"))
    assert (await response.json())["outcome"] == "pending"
    response = await api.client.post(f"{url}/confirm", json={}, headers=api.bearer("analyst"))
    assert response.status == 409
    response = await api.client.post(f"{url}/reject", json={"note": "not it"},
                                     headers=api.bearer("admin"))
    assert (await response.json())["outcome"] == "pending"
    response = await api.client.get("/api/v1/review", headers=api.bearer("viewer"))
    [shown] = await response.json()
    assert shown["consensus"]["disputed"] is True
    assert len(shown["consensus"]["confirmed_by"]) == len(shown["consensus"]["rejected_by"]) == 1
    headers, _ = api.session("viewer")
    page = await (await api.client.get("/review", headers=headers)).text()
    assert "disputed" in page and "Decided so far" in page

    settings.review_consensus = 1
    record_match("http://127.0.0.1:9/b.png", list_name="authority")
    response = await api.client.get("/api/v1/review", headers=api.bearer("viewer"))
    other = next(i for i in await response.json() if i["id"] != item["id"])
    response = await api.client.post(f"/api/v1/review/{other['id']}/reject",
                                     json={"note": "a logo"}, headers=api.bearer("analyst"))
    assert response.status == 200, await response.text()
    response = await api.client.get("/api/v1/lists/authority/feedback",
                                    headers=api.bearer("viewer"))
    [row] = await response.json()
    assert (row["entry_hash"], row["algorithm"], row["note"], row["image_url"]) == (
        "ab" * 32, "pdq", "a logo", "http://127.0.0.1:9/b.png")
    assert row["by"].startswith("api:analyst-test")
    response = await api.client.get("/api/v1/lists/nothing-here/feedback",
                                    headers=api.bearer("viewer"))
    assert response.status == 404
