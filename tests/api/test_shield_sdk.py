"""The published `arachnid-shield-sdk`, unchanged, against a real `spinneret serve` on
loopback: every call (media, URL, PDQ), sync and async, for a listed, a near-listed and an
unlisted image, bad input (wrong type, not an image, oversized, unreachable URL, a scheme
the SSRF guard refuses, malformed PDQ) and a wrong password.

The SDK reads ARACHNID_SHIELD_URL when it is imported, so it runs in its own process (as
a client application would) with the variable set; it prints what it got as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import pytest

from spinneret.demo import edits, images
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.store import ListEntry
from spinneret.records.tokens import create_token
from tests.api.served import free_port, spinneret_serve

pytest.importorskip("arachnid_shield_sdk", reason="pip install -e '.[test]' (the Shield SDK)")

MAX_IMAGE_BYTES = 1_000_000

SDK_RUNNER = r'''
import asyncio, json, sys
from arachnid_shield_sdk import (ArachnidShield, ArachnidShieldAsync, ArachnidShieldException,
                                 ScanMediaFromPdq)

cases = json.load(sys.stdin)
username, password = cases.pop("username"), cases.pop("password")


def outcome(call):
    try:
        result = call()
    except ArachnidShieldException as exc:
        return {"error": exc.detail.detail}
    return {"ok": result.to_dict(), "matches": getattr(result, "matches_known_media", None)}


async def async_outcome(call):
    try:
        result = await call()
    except ArachnidShieldException as exc:
        return {"error": exc.detail.detail}
    return {"ok": result.to_dict(), "matches": getattr(result, "matches_known_media", None)}


def calls(client):
    out = {}
    for name, (path, mime) in cases["media"].items():
        data = open(path, "rb").read()
        out["media:" + name] = (lambda d=data, m=mime: client.scan_media_from_bytes(d, m))
    for name, url in cases["url"].items():
        out["url:" + name] = (lambda u=url: client.scan_media_from_url(u))
    for name, hashes in cases["pdq"].items():
        out["pdq:" + name] = (lambda h=hashes: client.scan_pdq_hashes(ScanMediaFromPdq(h)))
    return out


sync = {k: outcome(c) for k, c in calls(ArachnidShield(username, password)).items()}


async def run_async():
    client = ArachnidShieldAsync(username, password)
    return {k: await async_outcome(c) for k, c in calls(client).items()}

print(json.dumps({"sync": sync, "async": asyncio.run(run_async())}))
'''


def run_sdk(base: str, cases: dict) -> dict:
    env = {"ARACHNID_SHIELD_URL": f"{base}/shield/", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SDK_RUNNER], input=json.dumps(cases),
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def scene(tmp_path, context, settings):
    """Four benign synthetic photos: one listed by SHA-256, one by PDQ (category illegal)
    and one by PDQ in a policy list; the near-listed one is the PDQ-listed photo
    recompressed; one is on no list."""
    options = HashOptions.from_settings(settings)
    exact = images.generate_bytes(11)
    near_source = images.generate(12)
    policy = images.generate_bytes(13)
    files = {
        "exact.png": exact,
        "near.jpg": edits.recompress(near_source, quality=45),
        "policy.png": policy,
        "unlisted.png": images.generate_bytes(14),
        "notes.txt": b"plain text, not an image\n",
        "broken.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "big.png": images.generate_bytes(15, size=(1400, 1000)),
    }
    assert len(files["big.png"]) > MAX_IMAGE_BYTES
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    listed_pdq = hash_image(edits.encode(near_source), options).get("pdq").hex
    policy_pdq = hash_image(policy, options).get("pdq").hex
    store = context.store
    store.replace_list("shield-illegal", [
        ListEntry("sha256", hashlib.sha256(exact).hexdigest(), "synthetic exact", "ex-1"),
        ListEntry("pdq", listed_pdq, "synthetic near", "near-1"),
    ], kind="block", category="illegal", source="test-authority")
    store.replace_list("shield-policy", [ListEntry("pdq", policy_pdq, "synthetic policy")],
                       kind="block", category="policy")
    return {"dir": tmp_path, "listed_pdq": listed_pdq, "files": files,
            "unlisted_pdq": hash_image(files["unlisted.png"], options).get("pdq").hex}


@pytest.fixture
def image_site(scene):
    """The scene's files served over HTTP on loopback (a plain static server)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(scene["dir"])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the image server on port {port} did not start")


def test_the_shield_sdk_scans_against_spinneret(scene, image_site, settings, context,
                                                tmp_path, monkeypatch):
    monkeypatch.setenv("SPINNERET_MAX_IMAGE_BYTES", str(MAX_IMAGE_BYTES))
    token = create_token(context.db, "viewer", "shield-client", actor="test").secret
    d = scene["dir"]
    listed_b64 = base64.b64encode(bytes.fromhex(scene["listed_pdq"])).decode()
    cases = {
        "username": "shield-client", "password": token,
        "media": {name: (str(d / file), mime) for name, file, mime in (
            ("exact", "exact.png", "image/png"), ("near", "near.jpg", "image/jpeg"),
            ("policy", "policy.png", "image/png"), ("unlisted", "unlisted.png", "image/png"),
            ("wrong_type", "notes.txt", "text/plain"),
            ("not_an_image", "broken.png", "image/png"),
            ("oversized", "big.png", "image/png"))},
        "url": {"near": f"{image_site}/near.jpg", "unlisted": f"{image_site}/unlisted.png",
                "missing": f"{image_site}/no-such.png",
                "unreachable": f"http://127.0.0.1:{free_port()}/x.png",
                "file_scheme": "file:///etc/passwd"},
        "pdq": {"mixed": [listed_b64, scene["unlisted_pdq"]], "malformed": ["not-a-hash"]},
    }
    with spinneret_serve(settings, tmp_path / "serve.log") as base:
        results = run_sdk(base, cases)
        wrong = run_sdk(base, {**cases, "password": token + "x",
                               "media": {"exact": cases["media"]["exact"]},
                               "url": {}, "pdq": {}})
        wrong_user = run_sdk(base, {**cases, "username": "someone-else",
                                    "media": {"exact": cases["media"]["exact"]},
                                    "url": {}, "pdq": {}})

    for mode in ("sync", "async"):
        got = results[mode]
        exact = got["media:exact"]["ok"]
        assert got["media:exact"]["matches"] is True
        assert exact["classification"] == "csam" and exact["match_type"] == "exact"
        assert exact["sha256_hex"] == hashlib.sha256(scene["files"]["exact.png"]).hexdigest(
            ).upper()
        assert exact["sha1_base32"] == base64.b32encode(
            hashlib.sha1(scene["files"]["exact.png"]).digest()).decode()
        assert exact["size_bytes"] == len(scene["files"]["exact.png"])

        for near in (got["media:near"], got["url:near"]):
            assert near["matches"] is True
            assert near["ok"]["classification"] == "csam"
            assert near["ok"]["match_type"] == "near"
            [detail] = near["ok"]["near_match_details"]
            assert detail["classification"] == "csam" and detail["timestamp"] == 0.0

        policy = got["media:policy"]["ok"]
        assert policy["classification"] == "harmful-abusive-material"
        for unlisted in (got["media:unlisted"], got["url:unlisted"]):
            assert unlisted["matches"] is False
            assert unlisted["ok"]["classification"] == "no-known-match"
            assert unlisted["ok"]["match_type"] is None
            assert unlisted["ok"]["near_match_details"] == []

        assert "unsupported media type 'text/plain'" in got["media:wrong_type"]["error"]
        assert "cannot hash this image" in got["media:not_an_image"]["error"]
        assert f"limit of {MAX_IMAGE_BYTES} bytes" in got["media:oversized"]["error"]
        assert "answered HTTP 404" in got["url:missing"]["error"]
        assert got["url:unreachable"]["error"].startswith("cannot fetch http://127.0.0.1:")
        assert "scheme 'file' not allowed" in got["url:file_scheme"]["error"]

        scanned = got["pdq:mixed"]["ok"]["scanned_hashes"]
        assert scanned[listed_b64]["classification"] == "csam"
        assert scanned[listed_b64]["match_type"] == "near"
        assert scanned[scene["unlisted_pdq"]] == {
            "classification": "no-known-match", "match_type": None, "near_match_details": None}
        assert "not a PDQ hash" in got["pdq:malformed"]["error"]

        for refused in (wrong[mode]["media:exact"], wrong_user[mode]["media:exact"]):
            assert "give HTTP Basic credentials" in refused["error"]
