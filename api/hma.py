"""A Hasher-Matcher-Actioner (HMA / OpenMediaMatch 1.1.x) compatible subset under /hma/
(and at the root paths when `hma_root_paths` is on), so an HMA client's hash, lookup and
curation calls get the shapes HMA answers.

- `GET /status`: `I-AM-ALIVE`, or 503 `INDEX-NOT-LOADED` / `INDEX-STALE` (plain text);
- `/h/hash`: GET `?url=`, or POST a multipart file in a field named by its content type
  (`photo`); answers `{signal_type: hash}`;
- `/m/lookup` (GET `?signal_type=&signal=` answers `{BANK: [{"bank_content_id": int,
  "distance": "str"}]}`; GET `?url=` and POST an upload answer that per signal type),
  `/m/raw_lookup`, `/m/index/status`, `POST /m/compare`;
- curation: `/c/banks`, `/c/bank/<name>`, `/c/bank/<name>/content[/<id>]`,
  `/c/bank/<name>/signal`: banks are hash lists, a bank content is the entries of one
  listed image (same list and source id), named by a deterministic integer (`content_id`).

Signal types are Spinneret's algorithm names (`pdq`, `md5`, `sha256`, `phash`, `dhash`,
`cropdct`). Errors are `{"message": ...}`. Credentials: a Bearer token as for /api/v1
(viewer for hashing and lookups, analyst for curation changes); with `hma_anonymous_read`
on, a call without credentials may do what a viewer may.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from spinneret.api.auth import Principal
from spinneret.api.compat import (
    PROTOCOL_PREFIXES,
    Face,
    actionable,
    fetch_media,
    guarded,
    protocol_app,
    route,
    scan,
    services_of,
)
from spinneret.api.errors import MALFORMED_BODY, ApiError, malformed_body
from spinneret.api.http import json_body, principal
from spinneret.api.services import Services
from spinneret.api.uploads import _copy, _part_chunks
from spinneret.matcher.algorithms import HashValue, default_registry
from spinneret.matcher.errors import ListNotFound, UnknownAlgorithm
from spinneret.matcher.hashing import ImageHashes, hash_image
from spinneret.matcher.matching import Match, Thresholds
from spinneret.matcher.store import ListEntry, ListInfo

log = logging.getLogger(__name__)

PREFIX = PROTOCOL_PREFIXES[1].rstrip("/")
CONTENT_TYPES = ("photo",)  # HMA's content types Spinneret can hash
ANONYMOUS = Principal(0, "anonymous", "viewer")
ID_BITS = 53  # content ids stay exact in every JSON reader (IEEE doubles)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _bearer(request: web.Request, svc: Services) -> Principal | None:
    if "Authorization" not in request.headers and svc.settings.hma_anonymous_read:
        return ANONYMOUS
    return svc.auth.bearer(request)


FACE = Face("hma", _error, _bearer, "missing, unknown or revoked Bearer token")


# --- content ids ----------------------------------------------------------------------------


def content_key(entry_source_id: str, algorithm: str, hash: str) -> str:
    """What groups entries into one bank content: the listed image's source id, else the
    single hash."""
    return entry_source_id or f"{algorithm}:{hash}"


def content_id(bank: str, key: str) -> int:
    """A deterministic positive integer for a bank content (stable across restarts and
    processes; unique across banks)."""
    digest = hashlib.sha256(f"{bank}\x1f{key}".encode("utf-8", "surrogateescape")).digest()
    return (int.from_bytes(digest[:8], "big") >> (64 - ID_BITS)) or 1


def _entry_id(bank: str, entry: ListEntry) -> int:
    return content_id(bank, content_key(entry.source_id, entry.algorithm, entry.hash))


def _match_id(match: Match) -> int:
    return content_id(match.list, content_key(match.source_id, match.algorithm,
                                              match.entry_hash))


# --- hashing ---------------------------------------------------------------------------------


def _algorithm(name: str):
    try:
        return default_registry().get(name)
    except UnknownAlgorithm:
        raise ApiError(400, f"No such SignalType '{name}'") from None


def _selected_types(request: web.Request) -> set[str] | None:
    raw = request.query.get("types")
    if raw is None:
        return None
    names = {_algorithm(n).name for n in raw.split(",") if n.strip()}
    if not names:
        raise ApiError(400, "empty signal type selection")
    return names


def _content_type(name: str) -> None:
    if name not in CONTENT_TYPES:
        raise ApiError(400, f"no such content_type: '{name}' (Spinneret hashes "
                            f"{', '.join(CONTENT_TYPES)})")


async def _uploaded(request: web.Request) -> bytes:
    """The one file of a multipart form, in memory under the image cap; its field names
    the content type."""
    svc = services_of(request)
    limit = min(svc.settings.max_upload_bytes, svc.settings.max_image_bytes)
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "Missing multipart/form-data file upload")
    found: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.filename is None:
                continue
            if found is not None:
                raise ApiError(400, "Only one file allowed per request")
            _content_type(part.name or "")
            out = io.BytesIO()
            await _copy(_part_chunks(part), out, limit)
            found = out.getvalue()
    except MALFORMED_BODY as exc:
        raise malformed_body(exc, "multipart body") from None
    if not found:
        raise ApiError(400, "Missing multipart/form-data file upload")
    return found


async def _media(request: web.Request, *, from_url: bool) -> bytes:
    if not from_url:
        return await _uploaded(request)
    url = request.query.get("url", "").strip()
    if not url:
        raise ApiError(400, "url is required")
    _content_type(request.query.get("content_type") or "photo")
    return await fetch_media(services_of(request), url)


def _signals(hashes: ImageHashes, types: set[str] | None) -> dict[str, str]:
    return {v.algorithm: v.hex for v in hashes.values if types is None or v.algorithm in types}


async def hash_get(request: web.Request) -> web.Response:
    return await _hash(request, from_url=True)


async def hash_post(request: web.Request) -> web.Response:
    return await _hash(request, from_url=False)


async def _hash(request: web.Request, *, from_url: bool) -> web.Response:
    types = _selected_types(request)
    data = await _media(request, from_url=from_url)
    hashes = await asyncio.to_thread(hash_image, data, services_of(request).hash_options)
    return web.json_response(_signals(hashes, types))


# --- matching --------------------------------------------------------------------------------


def _banks_filter(request: web.Request) -> set[str] | None:
    raw = request.query.get("banks")
    return {b.strip() for b in raw.split(",") if b.strip()} if raw else None


def by_bank(matches: Iterable[Match], banks: set[str] | None = None) -> dict[str, list[dict]]:
    """HMA's lookup shape: bank -> [{bank_content_id, distance}], one per content."""
    out: dict[str, dict[int, dict]] = {}
    for m in sorted(actionable(list(matches)), key=lambda m: m.distance):
        if banks is not None and m.list not in banks:
            continue
        out.setdefault(m.list, {}).setdefault(
            _match_id(m), {"bank_content_id": _match_id(m), "distance": str(m.distance)})
    return {bank: list(items.values()) for bank, items in out.items()}


async def _match_signal(request: web.Request, signal_type: str, signal: str) -> list[Match]:
    algorithm = _algorithm(signal_type)
    try:
        value = algorithm.parse(signal)
    except Exception as exc:  # InvalidHash: the algorithm's own message
        raise ApiError(400, f"invalid signal: {exc}") from None
    matcher = await services_of(request).matcher()
    query = ImageHashes((HashValue(algorithm.name, value, None),), "", 0, 0, 0)
    return await asyncio.to_thread(matcher.match, query)


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise ApiError(400, f"{name} is required")
    return value


async def lookup_get(request: web.Request) -> web.Response:
    if request.query.get("url"):
        return await _lookup_media(request, from_url=True)
    signal, signal_type = request.query.get("signal"), request.query.get("signal_type")
    if not signal or not signal_type:
        raise ApiError(400, "Either url or both signal and signal_type are required")
    matches = await _match_signal(request, signal_type, signal)
    return web.json_response(by_bank(matches, _banks_filter(request)))


async def lookup_post(request: web.Request) -> web.Response:
    return await _lookup_media(request, from_url=False)


async def _lookup_media(request: web.Request, *, from_url: bool) -> web.Response:
    types = _selected_types(request)
    banks = _banks_filter(request)
    data = await _media(request, from_url=from_url)
    hashes, matches = await scan(services_of(request), data)
    del data
    per_type = {name: by_bank([m for m in matches if m.algorithm == name], banks)
                for name in _signals(hashes, types)}
    selected = request.query.get("signal_type")
    if from_url and selected:
        return web.json_response(per_type.get(_algorithm(selected).name, {}))
    return web.json_response(per_type)


async def raw_lookup(request: web.Request) -> web.Response:
    matches = await _match_signal(request, _required(request, "signal_type"),
                                  _required(request, "signal"))
    found = by_bank(matches, _banks_filter(request))
    items = [item for bank in found.values() for item in bank]
    with_distance = request.query.get("include_distance", "false").lower() in ("true", "1")
    return web.json_response(
        {"matches": items if with_distance else [i["bank_content_id"] for i in items]})


async def index_status(request: web.Request) -> web.Response:
    svc = services_of(request)
    matcher = await svc.matcher()
    sizes = await asyncio.to_thread(matcher.size)
    lists = await asyncio.to_thread(svc.store.lists)
    names = [a.name for a in default_registry()]
    limit = request.query.get("signal_type")
    if limit is not None:
        names = [_algorithm(limit).name]
    status = {}
    for name in names:
        updated = [i.updated_at for i in lists if i.counts.get(name)]
        status[name] = {"present": bool(sizes.get(name)),
                        "built_to": int(max(updated)) if updated else -1,
                        "size": sizes.get(name, 0)}
    return web.json_response(status)


async def compare(request: web.Request) -> web.Response:
    data = await json_body(request)
    thresholds = Thresholds.from_settings(services_of(request).settings)
    results = {}
    for name, pair in data.items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise ApiError(400, f"Comparison hash list length must be exactly 2 ({name})")
        algorithm = _algorithm(name)
        try:
            left, right = (algorithm.parse(str(h)) for h in pair)
        except Exception as exc:  # InvalidHash
            raise ApiError(400, f"Invalid {name} hash: {exc}") from None
        distance = (int(left, 16) ^ int(right, 16)).bit_count()
        limit = 0 if algorithm.exact else thresholds.get(algorithm).auto
        results[name] = [distance <= limit, {"distance": distance}]
    return web.json_response(results)


async def status(request: web.Request) -> web.Response:
    svc = services_of(request)
    if svc.matcher_built is None:
        _build_in_background(svc)
        return web.Response(status=503, text="INDEX-NOT-LOADED")
    try:
        await svc.matcher()  # applies any change not seen yet
    except Exception as exc:  # the store cannot be read: the index may be behind it
        log.warning("HMA status: index not in step with the store: %s", exc)
        return web.Response(status=503, text="INDEX-STALE")
    return web.Response(text="I-AM-ALIVE")


@dataclass
class _FaceState:
    """Per server: the index build /status started, one lock per bank for adds."""

    build: asyncio.Task | None = None
    add_locks: dict[str, asyncio.Lock] = field(default_factory=dict)


_STATE: weakref.WeakKeyDictionary[Services, _FaceState] = weakref.WeakKeyDictionary()


def _state(svc: Services) -> _FaceState:
    return _STATE.setdefault(svc, _FaceState())


def _build_in_background(svc: Services) -> None:
    state = _state(svc)
    if state.build is None or state.build.done():
        state.build = asyncio.get_running_loop().create_task(svc.matcher())


# --- curation --------------------------------------------------------------------------------


def bank_json(info: ListInfo) -> dict:
    return {"name": info.name, "matching_enabled_ratio": 1.0, "kind": info.kind,
            "category": info.category}


async def _bank(request: web.Request) -> ListInfo:
    name = request.match_info["bank_name"]
    try:
        return await asyncio.to_thread(services_of(request).store.get_list, name)
    except ListNotFound:
        raise ApiError(404, f"bank '{name}' not found") from None


async def banks_index(request: web.Request) -> web.Response:
    infos = await asyncio.to_thread(services_of(request).store.lists)
    return web.json_response([bank_json(i) for i in infos])


async def bank_show(request: web.Request) -> web.Response:
    return web.json_response(bank_json(await _bank(request)))


async def bank_create(request: web.Request) -> web.Response:
    data = await json_body(request)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "field 'name' is required")
    store = services_of(request).store
    try:
        await asyncio.to_thread(store.get_list, name)
        raise ApiError(403, "Bank already exists")
    except ListNotFound:
        pass
    await asyncio.to_thread(store.replace_list, name, [], kind="block",
                            by=request_actor(request))
    return web.json_response(bank_json(await asyncio.to_thread(store.get_list, name)),
                             status=201)


async def bank_delete(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(services_of(request).store.delete_list,
                                request.match_info["bank_name"])
    except ListNotFound:
        pass  # as HMA: deleting an absent bank is done
    return web.json_response({"message": "Done"})


def request_actor(request: web.Request) -> str:
    return principal(request).actor


async def _add_entries(request: web.Request, info: ListInfo,
                       entries: list[ListEntry]) -> web.Response:
    """Add one content's entries to a bank: the list is rewritten with them (the store
    swaps lists whole), one add per bank at a time in this process."""
    svc = services_of(request)
    store = svc.store
    async with _state(svc).add_locks.setdefault(info.name, asyncio.Lock()):
        def rewrite():
            current = store.get_list(info.name)
            keep = [e for e in store.entries(info.name)
                    if (e.algorithm, e.hash) not in {(n.algorithm, n.hash) for n in entries}]
            return store.replace_list(info.name, [*keep, *entries], kind=current.kind,
                                      source=current.source, category=current.category,
                                      description=current.description,
                                      by=request_actor(request))

        result = await asyncio.to_thread(rewrite)
    if result.added:
        # The bank grew: its new entries against every image seen before, as a list import
        # does (runtime.retro_match); HMA's answer stays HMA's, the outcome is the list's.
        from spinneret.runtime.retro_match import start_retro_match_async

        await start_retro_match_async(svc.context, svc.db, info.name, result.version,
                                      matcher=svc.matcher_built)
    return web.json_response({"id": _entry_id(info.name, entries[0]),
                              "signals": {e.algorithm: e.hash for e in entries}})


async def bank_add_content(request: web.Request) -> web.Response:
    info = await _bank(request)
    from_url = bool(request.query.get("url"))
    if not from_url and request.content_type == "application/json":
        # A raw hash as JSON `{signal_type: hash}` (HMA's /signal), `metadata` ignored.
        signals = {k: v for k, v in (await json_body(request)).items() if k != "metadata"}
        return await _add_signals(request, info, signals)
    if not from_url and not request.content_type.startswith("multipart/"):
        raise ApiError(400, "Neither `url` nor multipart file upload was received")
    types = _selected_types(request)
    data = await _media(request, from_url=from_url)
    hashes = await asyncio.to_thread(hash_image, data, services_of(request).hash_options)
    source_id = f"hma:{hashes.sha256 or hashlib.sha256(data).hexdigest()}"
    del data
    entries = [ListEntry(name, value, "", source_id)
               for name, value in _signals(hashes, types).items()]
    return await _add_entries(request, info, entries)


async def bank_add_signal(request: web.Request) -> web.Response:
    info = await _bank(request)
    return await _add_signals(request, info, await json_body(request))


async def _add_signals(request: web.Request, info: ListInfo, data: dict) -> web.Response:
    if not data:
        raise ApiError(400, "No signals given")
    parsed: dict[str, str] = {}
    for name, value in data.items():
        algorithm = _algorithm(name)
        try:
            parsed[algorithm.name] = algorithm.parse(str(value))
        except Exception as exc:  # InvalidHash
            raise ApiError(400, f"Invalid {name} signal: {exc}") from None
    key = json.dumps(sorted(parsed.items()))
    source_id = f"hma:signal:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    if len(parsed) == 1:  # one hash: its content id is the hash's own
        source_id = ""
    entries = [ListEntry(name, value, "", source_id) for name, value in parsed.items()]
    return await _add_entries(request, info, entries)


async def _content(request: web.Request) -> tuple[ListInfo, int, list[ListEntry]]:
    info = await _bank(request)
    try:
        wanted = int(request.match_info["content_id"])
    except ValueError:
        raise ApiError(404, f"content '{request.match_info['content_id']}' not found") from None
    store = services_of(request).store
    entries = await asyncio.to_thread(
        lambda: [e for e in store.entries(info.name) if _entry_id(info.name, e) == wanted])
    if not entries:
        raise ApiError(404, f"content '{wanted}' not found")
    return info, wanted, entries


async def bank_get_content(request: web.Request) -> web.Response:
    info, wanted, entries = await _content(request)
    body = {"id": wanted, "disable_until_ts": 0, "collab_metadata": {},
            "original_media_uri": None,
            "bank": {"name": info.name, "matching_enabled_ratio": 1.0}}
    if request.query.get("include_signals", "false").lower() == "true":
        body["signals"] = {e.algorithm: e.hash for e in entries}
    return web.json_response(body)


async def bank_delete_content(request: web.Request) -> web.Response:
    info, _wanted, entries = await _content(request)
    store = services_of(request).store
    by = request_actor(request)
    deleted = 0
    for entry in entries:
        deleted += await asyncio.to_thread(store.retract, info.name, entry.hash,
                                           entry.algorithm, by=by)
    return web.json_response({"deleted": deleted})


# --- the application -----------------------------------------------------------------------

_BLUEPRINTS = {
    "/h": [("GET", "/hash", hash_get, "viewer"), ("POST", "/hash", hash_post, "viewer")],
    "/m": [("GET", "/lookup", lookup_get, "viewer"), ("POST", "/lookup", lookup_post, "viewer"),
           ("GET", "/raw_lookup", raw_lookup, "viewer"),
           ("GET", "/index/status", index_status, "viewer"),
           ("POST", "/compare", compare, "viewer")],
    "/c": [("GET", "/banks", banks_index, "viewer"), ("POST", "/banks", bank_create, "analyst"),
           ("GET", "/bank/{bank_name}", bank_show, "viewer"),
           ("DELETE", "/bank/{bank_name}", bank_delete, "analyst"),
           ("POST", "/bank/{bank_name}/content", bank_add_content, "analyst"),
           ("POST", "/bank/{bank_name}/signal", bank_add_signal, "analyst"),
           ("GET", "/bank/{bank_name}/content/{content_id}", bank_get_content, "viewer"),
           ("DELETE", "/bank/{bank_name}/content/{content_id}", bank_delete_content,
            "analyst")],
}


def _blueprint(svc: Services, prefix: str) -> web.Application:
    app = protocol_app(svc, FACE)
    for method, path, handler, role in _BLUEPRINTS[prefix]:
        route(app, method, path, handler, role)
    return app


def create(svc: Services) -> web.Application:
    """Everything under one application (mounted at /hma)."""
    app = protocol_app(svc, FACE)
    route(app, "GET", "/status", status, None)
    for prefix, routes in _BLUEPRINTS.items():
        for method, path, handler, role in routes:
            route(app, method, prefix + path, handler, role)
    return app


def mount(app: web.Application, svc: Services) -> None:
    app.add_subapp(PREFIX, create(svc))
    if svc.settings.hma_anonymous_read:
        log.warning("HMA anonymous read-only mode is ON: calls without a token may hash and "
                    "look up (hma_anonymous_read)")
    if svc.settings.hma_root_paths:
        app.router.add_route("GET", "/status", guarded(FACE, status, None))
        for prefix in _BLUEPRINTS:
            app.add_subapp(prefix, _blueprint(svc, prefix))
