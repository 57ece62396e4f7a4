"""Lists and matching through the JSON API, on real Redis: import (same validation and
atomicity as the CLI), export, retract, delete; match an upload and a given hash."""

from __future__ import annotations

import gzip
import hashlib

from aiohttp import FormData

CSV = "algorithm,hash,label\nmd5,{md5},first\nsha256,{sha},second\n"


async def _import(api, name, body, *, role="analyst", **params):
    return await api.client.post(f"/api/v1/lists/{name}/import", data=body,
                                 params=params, headers=api.bearer(role))


async def test_import_match_export_retract_delete(api, make_png):
    image = make_png(3)
    md5, sha = hashlib.md5(image).hexdigest(), hashlib.sha256(image).hexdigest()
    body = CSV.format(md5=md5, sha=sha).encode()
    response = await _import(api, "authority", body, format="csv", category="illegal",
                             source="test-authority")
    assert response.status == 200, await response.text()
    result = await response.json()
    assert (result["version"], result["added"], result["info"]["counts"]) == (
        1, 2, {"md5": 1, "sha256": 1})

    response = await api.client.get("/api/v1/lists", headers=api.bearer("viewer"))
    [listed] = await response.json()
    assert (listed["name"], listed["entries"], listed["category"]) == ("authority", 2, "illegal")
    assert listed["updated_by"].startswith("api:analyst-test#")

    # Upload an image: hashed, matched, never stored.
    response = await api.client.post("/api/v1/match", data=image,
                                     headers=api.bearer("viewer"))
    assert response.status == 200, await response.text()
    found = await response.json()
    assert {m["algorithm"] for m in found["matches"]} == {"md5", "sha256"}
    assert all(m["decision"] == "auto" for m in found["matches"])
    assert {h["algorithm"] for h in found["hashes"]} >= {"sha256", "pdq"}
    # The same as a multipart form.
    form = FormData()
    form.add_field("file", image, filename="x.png", content_type="image/png")
    response = await api.client.post("/api/v1/match", data=form, headers=api.bearer("viewer"))
    assert len((await response.json())["matches"]) == 2
    # A given hash.
    response = await api.client.get("/api/v1/match", params={"algorithm": "md5", "hash": md5},
                                    headers=api.bearer("viewer"))
    [match] = (await response.json())["matches"]
    assert (match["label"], match["list"], match["distance"]) == ("first", "authority", 0)

    response = await api.client.get("/api/v1/lists/authority/export",
                                    params={"format": "csv"}, headers=api.bearer("viewer"))
    exported = await response.text()
    assert md5 in exported and sha in exported and exported.startswith("algorithm,hash")

    response = await api.client.post("/api/v1/lists/authority/retract", json={"hash": md5},
                                     headers=api.bearer("analyst"))
    assert (await response.json())["removed"] == 1
    response = await api.client.post("/api/v1/lists/authority/retract", json={"hash": md5},
                                     headers=api.bearer("analyst"))
    assert response.status == 404
    # The following matcher sees the retraction at once.
    response = await api.client.get("/api/v1/match", params={"algorithm": "md5", "hash": md5},
                                    headers=api.bearer("viewer"))
    assert (await response.json())["matches"] == []

    response = await api.client.delete("/api/v1/lists/authority",
                                       headers=api.bearer("analyst"))
    assert response.status == 200
    response = await api.client.get("/api/v1/lists/authority", headers=api.bearer("viewer"))
    assert response.status == 404
    assert "no hash list" in (await response.json())["error"]
    response = await api.client.delete("/api/v1/lists/authority",
                                       headers=api.bearer("analyst"))
    assert response.status == 404
    assert "no hash list" in (await response.json())["error"]

    response = await api.client.get("/api/v1/audit", params={"target": "list:authority"},
                                    headers=api.bearer("viewer"))
    events = await response.json()
    ops = [e["details"]["op"] for e in reversed(events)]
    assert ops == ["import", "retract", "retract", "delete", "delete"]
    # Refused attempts are audited too, with the answer they got.
    assert [e["details"]["status"] for e in reversed(events)][-2:] == [200, 404]
    assert events[-1]["details"]["version"] == 1 and events[-1]["actor"].startswith("api:")


async def test_bad_import_changes_nothing(api):
    good = "algorithm,hash\nmd5," + "a" * 32 + "\n"
    assert (await _import(api, "l1", good.encode(), format="csv")).status == 200
    bad = "algorithm,hash\nmd5," + "b" * 32 + "\nmd5,nothex\n"
    response = await _import(api, "l1", bad.encode(), format="csv")
    assert response.status == 400
    assert (await response.json())["error"].startswith("line 3:")
    info = api.store.get_list("l1")
    assert (info.version, info.counts) == (1, {"md5": 1})
    assert [e.hash for e in api.store.entries("l1")] == ["a" * 32]
    # No format and no file name: a clear 400, nothing stored.
    response = await _import(api, "l2", good.encode())
    assert response.status == 400 and "format" in (await response.json())["error"]
    # gzip is recognised from the content; the format from the file name.
    response = await _import(api, "l2", gzip.compress(good.encode()), filename="l2.csv.gz")
    assert response.status == 200, await response.text()


async def test_upload_cap_and_bad_input(api):
    api.svc.settings.max_upload_bytes = 1000
    response = await _import(api, "big", b"x" * 5000, format="txt", algorithm="md5")
    assert response.status == 413
    assert "limit of 1000 bytes" in (await response.json())["error"]
    response = await api.client.post("/api/v1/match", data=b"not an image",
                                     headers=api.bearer("viewer"))
    assert response.status == 422
    response = await api.client.get("/api/v1/match", params={"algorithm": "md5", "hash": "zz"},
                                    headers=api.bearer("viewer"))
    assert response.status == 400 and "md5 hash" in (await response.json())["error"]
    response = await api.client.post("/api/v1/lists", data=b"{not json",
                                     headers=api.bearer("analyst"))
    assert response.status == 400 and "JSON" in (await response.json())["error"]
    response = await api.client.get("/api/v1/nothing", headers=api.bearer("viewer"))
    assert response.status == 404 and (await response.json())["status"] == 404


async def test_create_list(api):
    response = await api.client.post("/api/v1/lists", json={"name": "allow1", "kind": "allow"},
                                     headers=api.bearer("analyst"))
    assert response.status == 201
    assert (await response.json())["kind"] == "allow"
    response = await api.client.post("/api/v1/lists", json={"name": "allow1"},
                                     headers=api.bearer("analyst"))
    assert response.status == 409


async def test_import_reports_weak_and_shared_rows_and_a_match_names_both_images(api):
    body = (b"algorithm,hash,label,source_id\n"
            b"dhash,e0e0e0e0e0e0e0e0,stripes,w1\n"
            b"dhash,96c3a5f00f5a3c69,design light,d1\n"
            b"dhash,96c3a5f00f5a3c69,design dark,d2\n")
    response = await _import(api, "designs", body, format="csv")
    assert response.status == 200, await response.text()
    result = await response.json()
    assert (result["rows"], result["shared"], result["weak"]) == (3, 2, 1)
    assert result["info"]["weak"] == {"dhash": 1}
    response = await api.client.get("/api/v1/match", params={
        "algorithm": "dhash", "hash": "96c3a5f00f5a3c69"}, headers=api.bearer("viewer"))
    found = (await response.json())["matches"]
    assert sorted(m["source_id"] for m in found) == ["d1", "d2"]
    response = await api.client.get("/api/v1/match", params={
        "algorithm": "dhash", "hash": "e0e0e0e0e0e0e0e0"}, headers=api.bearer("viewer"))
    assert (await response.json())["matches"] == []  # a weak hash decides nothing alone
