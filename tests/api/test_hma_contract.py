"""Contract tests for the HMA-compatible face (/hma): one per endpoint, each asserting the
shape HMA 1.1.x answers (OpenMediaMatch's blueprints), against the real app on loopback
with the test Redis. Images are benign synthetic photos; URLs are served by a loopback
server."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestServer

from spinneret.api.hma import content_id, content_key
from spinneret.demo import edits, images
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.store import ListEntry
from spinneret.records.audit import AuditLog

H = "/hma"


@pytest.fixture
def photos(settings):
    options = HashOptions.from_settings(settings)
    listed = images.generate_bytes(21)
    near = edits.recompress(images.generate(21), quality=45)
    unlisted = images.generate_bytes(22)
    return {"listed": listed, "near": near, "unlisted": unlisted,
            "listed_hashes": hash_image(listed, options),
            "unlisted_hashes": hash_image(unlisted, options)}


@pytest.fixture
def bank(api, photos):
    hashes = photos["listed_hashes"]
    entries = [ListEntry("pdq", hashes.get("pdq").hex, "synthetic", "img-21"),
               ListEntry("md5", hashes.get("md5").hex, "synthetic", "img-21")]
    api.store.replace_list("HMA_BANK", entries, kind="block", category="illegal")
    return {"name": "HMA_BANK", "id": content_id("HMA_BANK", "img-21")}


@pytest.fixture
async def image_server(photos):
    async def serve(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in photos or not isinstance(photos[name], bytes):
            raise web.HTTPNotFound()
        return web.Response(body=photos[name], content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    server = TestServer(app)
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


def _photo_form(data: bytes, field: str = "photo") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(field, data, filename="upload.png", content_type="image/png")
    return form


async def _json(response, status: int = 200):
    assert response.status == status, await response.text()
    return await response.json()


async def test_status_is_not_loaded_then_alive_then_stale(api, bank, monkeypatch):
    response = await api.client.get(f"{H}/status")
    assert (response.status, await response.text()) == (503, "INDEX-NOT-LOADED")
    for _ in range(600):
        response = await api.client.get(f"{H}/status")
        if response.status == 200:
            break
        await asyncio.sleep(0.1)
    assert (response.status, await response.text()) == (200, "I-AM-ALIVE")

    def unreachable() -> int:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(api.store, "version", unreachable)
    response = await api.client.get(f"{H}/status")
    assert (response.status, await response.text()) == (503, "INDEX-STALE")


async def test_hash_upload_and_url(api, photos, image_server, settings):
    settings.allow_private_networks = True  # the image server is on loopback
    expected = {v.algorithm: v.hex for v in photos["listed_hashes"].values}
    got = await _json(await api.client.post(f"{H}/h/hash", data=_photo_form(photos["listed"]),
                                            headers=api.bearer("viewer")))
    assert got == expected and got["pdq"] == photos["listed_hashes"].get("pdq").hex
    got = await _json(await api.client.get(f"{H}/h/hash", headers=api.bearer("viewer"),
                                           params={"url": f"{image_server}/listed"}))
    assert got == expected
    got = await _json(await api.client.get(f"{H}/h/hash", headers=api.bearer("viewer"),
                                           params={"url": f"{image_server}/listed",
                                                   "types": "pdq"}))
    assert list(got) == ["pdq"]

    bad = await api.client.post(f"{H}/h/hash", data=_photo_form(photos["listed"], "video"),
                                headers=api.bearer("viewer"))
    assert (await _json(bad, 400))["message"].startswith("no such content_type: 'video'")
    missing = await api.client.get(f"{H}/h/hash", headers=api.bearer("viewer"),
                                   params={"url": f"{image_server}/absent"})
    assert "answered HTTP 404" in (await _json(missing, 502))["message"]
    no_file = await api.client.post(f"{H}/h/hash", data={"photo": "text"},
                                    headers=api.bearer("viewer"))
    assert (await _json(no_file, 400)) == {"message": "Missing multipart/form-data file upload"}


async def test_lookup_by_signal_gives_banks_with_content_ids(api, bank, photos):
    pdq = photos["listed_hashes"].get("pdq").hex
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"signal_type": "pdq", "signal": pdq}))
    assert got == {"HMA_BANK": [{"bank_content_id": bank["id"], "distance": "0"}]}
    unlisted = photos["unlisted_hashes"].get("pdq").hex
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"signal_type": "pdq", "signal": unlisted}))
    assert got == {}
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"signal_type": "pdq", "signal": pdq,
                                                   "banks": "OTHER"}))
    assert got == {}
    bad = await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                               params={"signal_type": "pdq", "signal": "zz"})
    assert (await _json(bad, 400))["message"].startswith("invalid signal:")
    unknown = await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                   params={"signal_type": "vpdq", "signal": pdq})
    assert (await _json(unknown, 400)) == {"message": "No such SignalType 'vpdq'"}
    neither = await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"))
    assert "Either url or both signal and signal_type" in (await _json(neither, 400))["message"]


async def test_lookup_by_upload_and_url_per_signal_type(api, bank, photos, image_server,
                                                        settings):
    settings.allow_private_networks = True
    got = await _json(await api.client.post(f"{H}/m/lookup", data=_photo_form(photos["near"]),
                                            headers=api.bearer("viewer")))
    assert set(got) == {v.algorithm for v in photos["listed_hashes"].values}
    [match] = got["pdq"]["HMA_BANK"]
    assert match["bank_content_id"] == bank["id"] and int(match["distance"]) <= 31
    assert got["md5"] == {}  # recompressed: not the listed file
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"url": f"{image_server}/listed"}))
    assert got["md5"] == {"HMA_BANK": [{"bank_content_id": bank["id"], "distance": "0"}]}
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"url": f"{image_server}/unlisted"}))
    assert all(v == {} for v in got.values())


async def test_raw_lookup(api, bank, photos):
    pdq = photos["listed_hashes"].get("pdq").hex
    params = {"signal_type": "pdq", "signal": pdq}
    got = await _json(await api.client.get(f"{H}/m/raw_lookup", headers=api.bearer("viewer"),
                                           params=params))
    assert got == {"matches": [bank["id"]]}
    got = await _json(await api.client.get(f"{H}/m/raw_lookup", headers=api.bearer("viewer"),
                                           params={**params, "include_distance": "true"}))
    assert got == {"matches": [{"bank_content_id": bank["id"], "distance": "0"}]}
    missing = await api.client.get(f"{H}/m/raw_lookup", headers=api.bearer("viewer"),
                                   params={"signal_type": "pdq"})
    assert (await _json(missing, 400)) == {"message": "signal is required"}


async def test_index_status(api, bank):
    got = await _json(await api.client.get(f"{H}/m/index/status", headers=api.bearer("viewer")))
    assert got["pdq"]["present"] is True and got["pdq"]["size"] == 1
    assert got["pdq"]["built_to"] > 0
    assert got["phash"] == {"present": False, "built_to": -1, "size": 0}
    only = await _json(await api.client.get(f"{H}/m/index/status", headers=api.bearer("viewer"),
                                            params={"signal_type": "md5"}))
    assert list(only) == ["md5"]


async def test_compare(api, photos):
    a = photos["listed_hashes"].get("pdq").hex
    b = photos["unlisted_hashes"].get("pdq").hex
    distance = (int(a, 16) ^ int(b, 16)).bit_count()
    got = await _json(await api.client.post(f"{H}/m/compare", headers=api.bearer("viewer"),
                                            json={"pdq": [a, a], "phash": ["0" * 16, "1" * 16]}))
    assert got == {"pdq": [True, {"distance": 0}], "phash": [False, {"distance": 16}]}
    got = await _json(await api.client.post(f"{H}/m/compare", headers=api.bearer("viewer"),
                                            json={"pdq": [a, b]}))
    assert got == {"pdq": [distance <= 31, {"distance": distance}]}
    bad = await api.client.post(f"{H}/m/compare", headers=api.bearer("viewer"),
                                json={"pdq": [a]})
    assert "exactly 2" in (await _json(bad, 400))["message"]


async def test_banks_create_show_delete(api, bank):
    analyst = api.bearer("analyst")
    got = await _json(await api.client.get(f"{H}/c/banks", headers=api.bearer("viewer")))
    assert {"name": "HMA_BANK", "matching_enabled_ratio": 1.0} .items() <= got[0].items()
    created = await _json(await api.client.post(f"{H}/c/banks", headers=analyst,
                                                json={"name": "NEW_BANK"}), 201)
    assert created["name"] == "NEW_BANK" and created["matching_enabled_ratio"] == 1.0
    again = await api.client.post(f"{H}/c/banks", headers=analyst, json={"name": "NEW_BANK"})
    assert (await _json(again, 403)) == {"message": "Bank already exists"}
    shown = await _json(await api.client.get(f"{H}/c/bank/NEW_BANK", headers=analyst))
    assert shown["name"] == "NEW_BANK"
    absent = await api.client.get(f"{H}/c/bank/NOPE", headers=analyst)
    assert (await _json(absent, 404)) == {"message": "bank 'NOPE' not found"}
    done = await _json(await api.client.delete(f"{H}/c/bank/NEW_BANK", headers=analyst))
    assert done == {"message": "Done"}
    actions = [(e.action, e.actor) for e in AuditLog(api.db).list(limit=3)]
    assert ("hma.bank_create", "api:analyst-test#2") in actions
    assert ("hma.bank_delete", "api:analyst-test#2") in actions
    assert (await api.client.get(f"{H}/c/bank/NEW_BANK", headers=analyst)).status == 404


async def test_bank_content_add_get_delete(api, bank, photos, image_server, settings):
    settings.allow_private_networks = True
    analyst = api.bearer("analyst")
    added = await _json(await api.client.post(f"{H}/c/bank/HMA_BANK/content", headers=analyst,
                                              data=_photo_form(photos["unlisted"])))
    hashes = photos["unlisted_hashes"]
    assert added["signals"]["pdq"] == hashes.get("pdq").hex
    assert added["id"] == content_id("HMA_BANK", f"hma:{hashes.sha256}")
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"signal_type": "pdq",
                                                   "signal": hashes.get("pdq").hex}))
    assert got == {"HMA_BANK": [{"bank_content_id": added["id"], "distance": "0"}]}

    shown = await _json(await api.client.get(
        f"{H}/c/bank/HMA_BANK/content/{added['id']}", headers=analyst,
        params={"include_signals": "true"}))
    assert shown["id"] == added["id"] and shown["bank"]["name"] == "HMA_BANK"
    assert shown["signals"] == added["signals"]
    assert "signals" not in await _json(await api.client.get(
        f"{H}/c/bank/HMA_BANK/content/{added['id']}", headers=analyst))

    deleted = await _json(await api.client.delete(
        f"{H}/c/bank/HMA_BANK/content/{added['id']}", headers=analyst))
    assert deleted == {"deleted": len(added["signals"])}
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"signal_type": "pdq",
                                                   "signal": hashes.get("pdq").hex}))
    assert got == {}
    gone = await api.client.get(f"{H}/c/bank/HMA_BANK/content/{added['id']}", headers=analyst)
    assert (await _json(gone, 404))["message"] == f"content '{added['id']}' not found"
    # The bank's earlier content is untouched.
    kept = await api.client.get(f"{H}/c/bank/HMA_BANK/content/{bank['id']}", headers=analyst)
    assert kept.status == 200

    by_url = await _json(await api.client.post(
        f"{H}/c/bank/HMA_BANK/content", headers=analyst,
        params={"url": f"{image_server}/unlisted", "types": "pdq,sha256"}))
    assert set(by_url["signals"]) == {"pdq", "sha256"} and by_url["id"] == added["id"]
    neither = await api.client.post(f"{H}/c/bank/HMA_BANK/content", headers=analyst)
    assert "Neither `url` nor multipart" in (await _json(neither, 400))["message"]


async def test_bank_add_raw_signal(api, bank):
    analyst = api.bearer("analyst")
    md5 = hashlib.md5(b"benign").hexdigest()
    added = await _json(await api.client.post(f"{H}/c/bank/HMA_BANK/signal", headers=analyst,
                                              json={"md5": md5.upper()}))
    assert added == {"id": content_id("HMA_BANK", content_key("", "md5", md5)),
                     "signals": {"md5": md5}}
    got = await _json(await api.client.get(f"{H}/m/lookup", headers=api.bearer("viewer"),
                                           params={"signal_type": "md5", "signal": md5}))
    assert got == {"HMA_BANK": [{"bank_content_id": added["id"], "distance": "0"}]}
    bad = await api.client.post(f"{H}/c/bank/HMA_BANK/signal", headers=analyst,
                                json={"pdq": "abc"})
    assert (await _json(bad, 400))["message"].startswith("Invalid pdq signal:")
    absent = await api.client.post(f"{H}/c/bank/NOPE/signal", headers=analyst,
                                   json={"md5": md5})
    assert absent.status == 404
    other = hashlib.md5(b"another benign").hexdigest()
    as_content = await _json(await api.client.post(
        f"{H}/c/bank/HMA_BANK/content", headers=analyst,
        json={"md5": other, "metadata": {"content_id": "ignored"}}))
    assert as_content["signals"] == {"md5": other}
    empty = await api.client.post(f"{H}/c/bank/HMA_BANK/content", headers=analyst,
                                  json={"metadata": {}})
    assert (await _json(empty, 400)) == {"message": "No signals given"}


async def test_credentials_roles_and_anonymous_read(api, bank, photos, settings):
    pdq = photos["listed_hashes"].get("pdq").hex
    params = {"signal_type": "pdq", "signal": pdq}
    none = await api.client.get(f"{H}/m/lookup", params=params)
    assert (await _json(none, 401)) == {"message": "missing, unknown or revoked Bearer token"}
    viewer = await api.client.post(f"{H}/c/banks", headers=api.bearer("viewer"),
                                   json={"name": "X"})
    assert "needs the analyst role" in (await _json(viewer, 403))["message"]
    refused = AuditLog(api.db).list(limit=1)[0]
    assert (refused.action, refused.actor, refused.details["status"]) == (
        "hma.refused", "api:viewer-test#1", 403)

    settings.hma_anonymous_read = True
    anonymous = await api.client.get(f"{H}/m/lookup", params=params)
    assert set(await _json(anonymous)) == {"HMA_BANK"}
    write = await api.client.post(f"{H}/c/banks", json={"name": "X"})
    assert write.status == 401
    wrong = await api.client.get(f"{H}/m/lookup", params=params,
                                 headers={"Authorization": "Bearer spn_wrong"})
    assert wrong.status == 401  # a bad token is refused, never taken for anonymous


async def test_unknown_path_and_wrong_method_answer_in_hma_shape(api):
    unknown = await api.client.get(f"{H}/m/nothing-here", headers=api.bearer("viewer"))
    assert unknown.status == 404 and "message" in await unknown.json()
    wrong = await api.client.put(f"{H}/m/lookup", headers=api.bearer("viewer"))
    assert wrong.status == 405 and "message" in await wrong.json()


async def test_an_hma_client_hash_then_lookup(api, bank, photos):
    """The two calls HMA clients make (e.g. a chat server's media check): hash the upload,
    then look each signal up; the answer has HMA's shapes."""
    headers = api.bearer("viewer")
    signals = await _json(await api.client.post(f"{H}/h/hash", headers=headers,
                                                data=_photo_form(photos["listed"])))
    results = {}
    for signal_type in ("pdq", "md5"):
        results[signal_type] = await _json(await api.client.get(
            f"{H}/m/lookup", headers=headers,
            params={"signal_type": signal_type, "signal": signals[signal_type]}))
    for found in results.values():
        assert list(found) == ["HMA_BANK"]
        [hit] = found["HMA_BANK"]
        assert isinstance(hit["bank_content_id"], int) and isinstance(hit["distance"], str)


async def test_root_paths_when_enabled(context, settings, tokens, bank, photos):
    """With hma_root_paths on, HMA's own paths answer too (clients with a fixed base URL)."""
    from aiohttp.test_utils import TestClient

    from spinneret.api.app import create_app

    settings.hma_root_paths = True
    client = TestClient(TestServer(create_app(context)))
    await client.start_server()
    try:
        headers = {"Authorization": f"Bearer {tokens['viewer']}"}
        pdq = photos["listed_hashes"].get("pdq").hex
        got = await _json(await client.get("/m/lookup", headers=headers,
                                           params={"signal_type": "pdq", "signal": pdq}))
        assert got == {"HMA_BANK": [{"bank_content_id": bank["id"], "distance": "0"}]}
        assert (await client.get("/status")).status in (200, 503)
        banks = await _json(await client.get("/c/banks", headers=headers))
        assert [b["name"] for b in banks] == ["HMA_BANK"]
        unknown = await client.get("/m/nothing", headers=headers)
        assert unknown.status == 404 and "message" in await unknown.json()
    finally:
        await client.close()


def test_anonymous_mode_is_loud_in_config_show(cli, monkeypatch):
    import json

    from spinneret.config import reset_settings_cache

    code, out, err = cli("config", "show", "--format", "json")
    assert code == 0 and json.loads(out)["hma_anonymous_read"] is False and "WARNING" not in err
    monkeypatch.setenv("SPINNERET_HMA_ANONYMOUS_READ", "true")
    reset_settings_cache()
    code, out, err = cli("config", "show", "--format", "json")
    assert code == 0 and json.loads(out)["hma_anonymous_read"] is True
    assert "WARNING: hma_anonymous_read is ON" in err
    code, out, err = cli("config", "show")
    assert "WARNING: hma_anonymous_read is ON" in err
