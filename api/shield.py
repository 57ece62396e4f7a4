"""An Arachnid Shield compatible scanning API under /shield/, for the `arachnid-shield-sdk`
(pointed at it with ARACHNID_SHIELD_URL=<base>/shield/) and clients written against Shield.

- `POST v1/media/`: the raw media as the body, with its Content-Type (image/* only);
- `POST v1/url/`: `{"url": ...}`, fetched like the crawler fetches an image;
- `POST v1/pdq/`: `{"hashes": [...]}`, PDQ hashes in base64 (as Shield takes them) or hex.

Credentials are HTTP Basic: the password is a Spinneret API token (any role), the username
the token's name or the word `token`. Errors are `{"detail": "..."}` with the HTTP status.

A scan answers what Shield answers: `sha256_hex` and `sha1_base32` of the scanned bytes,
`classification` (from the matched list's category: `csam` for lists of category `csam` or
`illegal`, `harmful-abusive-material` for any other matched list, `no-known-match`),
`match_type` (`exact` for a SHA-256/MD5 match, `near` for a perceptual one) and
`near_match_details`. Only block-list matches with the decision `auto` count; a
review-grade match answers `no-known-match` (see api/compat.py `actionable`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io

from aiohttp import web

from spinneret.api.auth import Principal
from spinneret.api.compat import (
    PROTOCOL_PREFIXES,
    Face,
    actionable,
    fetch_media,
    protocol_app,
    route,
    scan,
    services_of,
)
from spinneret.api.errors import ApiError
from spinneret.api.http import field, json_body
from spinneret.api.services import Services
from spinneret.api.uploads import _copy, _too_big
from spinneret.matcher.algorithms import HashValue, default_registry
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.matching import Match
from spinneret.records.tokens import authenticate

PREFIX = PROTOCOL_PREFIXES[0].rstrip("/")
FIXED_USERNAME = "token"
MAX_PDQ_HASHES = 500  # 500 hex hashes fit the API's 64 KiB JSON cap
NO_KNOWN_MATCH = "no-known-match"
CSAM = "csam"
HARMFUL = "harmful-abusive-material"
_CSAM_CATEGORIES = frozenset({"csam", "illegal"})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"detail": message}, status=status)


def _basic_auth(request: web.Request, svc: Services) -> Principal | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded.strip(), validate=True).decode(
            "utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    token = authenticate(svc.db, password)
    if token is None or username not in (token.name, FIXED_USERNAME):
        return None
    return Principal(token.id, token.name, token.role)


FACE = Face("shield", _error, _basic_auth,
            "give HTTP Basic credentials: username = the token's name (or 'token'), "
            "password = a Spinneret API token",
            challenge='Basic realm="spinneret-shield"')


def classification(matches: list[Match]) -> str:
    """The most severe class among actionable matches (csam before the rest)."""
    if not matches:
        return NO_KNOWN_MATCH
    if any(m.category.strip().lower() in _CSAM_CATEGORIES for m in matches):
        return CSAM
    return HARMFUL


def _near_detail(match: Match) -> dict:
    """Shield names the listed media by its SHA-1/SHA-256, which a perceptual list entry
    does not have: they are empty, and the entry is named in the extra fields."""
    return {
        "timestamp": 0.0, "sha1_base32": "", "sha256_hex": "",
        "classification": classification([match]),
        "list": match.list, "algorithm": match.algorithm, "distance": match.distance,
        "label": match.label, "source_id": match.source_id,
    }


def scanned_media(data: bytes, hashes: ImageHashes, matches: list[Match]) -> dict:
    found = actionable(matches)
    exact = [m for m in found if default_registry().get(m.algorithm).exact]
    near = [m for m in found if m not in exact]
    sha256 = hashes.sha256 or hashlib.sha256(data).hexdigest()
    return {
        "size_bytes": len(data),
        "sha1_base32": base64.b32encode(hashlib.sha1(data).digest()).decode("ascii"),
        "sha256_hex": sha256.upper(),
        "classification": classification(found),
        "match_type": "exact" if exact else "near" if near else None,
        "near_match_details": [_near_detail(m) for m in near],
    }


async def _read_media(request: web.Request) -> bytes:
    """The raw body, in memory under the image size cap; image/* only."""
    svc = services_of(request)
    ctype = request.content_type.lower()
    if not ctype.startswith("image/"):
        raise ApiError(415, f"unsupported media type {ctype!r}: Spinneret scans images "
                            "(send the image's own image/* Content-Type)")
    limit = min(svc.settings.max_upload_bytes, svc.settings.max_image_bytes)
    if request.content_length is not None and request.content_length > limit:
        raise _too_big(limit)
    out = io.BytesIO()
    await _copy(request.content.iter_chunked(256 * 1024), out, limit)
    if not out.tell():
        raise ApiError(400, "the media is empty")
    return out.getvalue()


async def media(request: web.Request) -> web.Response:
    data = await _read_media(request)
    hashes, matches = await scan(services_of(request), data)
    return web.json_response(scanned_media(data, hashes, matches))


async def url(request: web.Request) -> web.Response:
    target = field(await json_body(request), "url", str, required=True).strip()
    if not target:
        raise ApiError(400, "field 'url' is empty")
    svc = services_of(request)
    data = await fetch_media(svc, target)
    hashes, matches = await scan(svc, data)
    return web.json_response(scanned_media(data, hashes, matches))


def parse_pdq(text: str) -> str:
    """A PDQ hash as Shield takes it (base64 of the 32 bytes) or as hex; returns hex."""
    pdq = default_registry().get("pdq")
    value = text.strip()
    if len(value) == pdq.hex_length:
        return pdq.parse(value)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != pdq.bits // 8:
        raise ApiError(400, f"not a PDQ hash (base64 of 32 bytes, or 64 hex digits): "
                            f"{value[:80]!r}")
    return raw.hex()


def _pdq_result(matches: list[Match]) -> dict:
    found = sorted(actionable(matches), key=lambda m: m.distance)
    if not found:
        return {"classification": NO_KNOWN_MATCH, "match_type": None,
                "near_match_details": None}
    return {"classification": classification(found), "match_type": "near",
            "near_match_details": _near_detail(found[0])}


async def pdq(request: web.Request) -> web.Response:
    hashes = (await json_body(request)).get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise ApiError(400, "field 'hashes' must be a list of strings")
    if not hashes or len(hashes) > MAX_PDQ_HASHES:
        raise ApiError(400, f"give 1 to {MAX_PDQ_HASHES} hashes, not {len(hashes)}")
    parsed = [parse_pdq(h) for h in hashes]  # all checked before any is matched
    matcher = await services_of(request).matcher()

    def match_all() -> dict:
        return {text: _pdq_result(matcher.match(
                    ImageHashes((HashValue("pdq", value, None),), "", 0, 0, 0)))
                for text, value in zip(hashes, parsed, strict=True)}

    return web.json_response({"scanned_hashes": await asyncio.to_thread(match_all)})


def create(svc: Services) -> web.Application:
    app = protocol_app(svc, FACE)
    for path, handler in (("/v1/media/", media), ("/v1/url/", url), ("/v1/pdq/", pdq)):
        route(app, "POST", path, handler, "viewer")
        route(app, "POST", path.rstrip("/"), handler, "viewer")
    return app


def mount(app: web.Application, svc: Services) -> None:
    app.add_subapp(PREFIX, create(svc))

