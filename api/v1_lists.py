"""/api/v1/lists and /api/v1/match: hash lists in the fingerprint store, and matching."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp import web

from spinneret.api.endpoints import API_PREFIX, Endpoint, Param, path_param
from spinneret.api.errors import ApiError
from spinneret.api.http import PRINCIPAL, field, json_body, ok, query_int, services, set_audit
from spinneret.api.uploads import receive_bytes, receive_upload
from spinneret.matcher.algorithms import HashValue, default_registry
from spinneret.matcher.backup import list_record
from spinneret.matcher.errors import EntryNotFound, HashListFileError, ListNotFound
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.hashlist import (
    ListFormat,
    export_list,
    guess_format,
    import_file,
    refine_format,
)
from spinneret.matcher.matching import min_qualities
from spinneret.matcher.service import hash_and_match
from spinneret.matcher.store import ListInfo
from spinneret.runtime.retro_match import RetroResults, start_retro_match_async

KINDS = ("block", "allow")
FORMATS = [f.value for f in ListFormat]


def list_json(info: ListInfo) -> dict:
    return list_record(info)  # the same fields as the CLI's JSON and a backup's manifest


async def list_lists(request: web.Request) -> web.Response:
    infos = await asyncio.to_thread(services(request).store.lists)
    return ok([list_json(i) for i in infos])


async def create_list(request: web.Request) -> web.Response:
    data = await json_body(request)
    name = field(data, "name", str, required=True)
    kind = field(data, "kind", str, default="block")
    if kind not in KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(KINDS)}")
    store = services(request).store
    set_audit(request, f"list:{name}", op="create", kind=kind)
    try:
        await asyncio.to_thread(store.get_list, name)
        raise ApiError(409, f"a hash list named {name!r} already exists")
    except ListNotFound:
        pass
    by = request[PRINCIPAL].actor
    await asyncio.to_thread(
        store.replace_list, name, [], kind=kind, source=field(data, "source", str, default=""),
        category=field(data, "category", str, default=""),
        description=field(data, "description", str, default=""), by=by)
    return ok(list_json(await asyncio.to_thread(store.get_list, name)), 201)


async def get_list(request: web.Request) -> web.Response:
    info = await asyncio.to_thread(services(request).store.get_list, request.match_info["name"])
    return ok({**list_json(info), "retro_match": await retro_match_json(request, info)})


def _import_format(requested: str | None, filename: str) -> ListFormat:
    if requested:
        if requested not in FORMATS:
            raise HashListFileError(f"format must be one of {', '.join(FORMATS)}")
        return ListFormat(requested)
    if not filename:
        raise HashListFileError("say the list format: ?format=csv|jsonl|txt (or a filename)")
    return guess_format(Path(filename))


async def import_upload(request: web.Request, name: str | None,
                        options: dict[str, str | None]) -> tuple[dict, ListInfo]:
    """Stream the upload to a temporary file and import it with the CLI's validation: all or
    nothing. `options`: format, algorithm, kind, source, category, description; a form may
    give them (and the list name, field `list`) as fields instead."""
    svc = services(request)
    if name:
        set_audit(request, f"list:{name}", op="import")
    async with receive_upload(request, svc.settings.max_upload_bytes) as upload:
        fields = {k: (v.strip() or None) for k, v in upload.fields.items()}
        name = name or fields.get("list")
        if not name:
            raise ApiError(400, "give the list a name")
        set_audit(request, f"list:{name}", op="import")
        merged = {k: options.get(k) or fields.get(k) for k in
                  ("format", "algorithm", "kind", "source", "category", "description")}
        if merged["kind"] is not None and merged["kind"] not in KINDS:
            raise ApiError(400, f"kind must be one of {', '.join(KINDS)}")
        if upload.size == 0:
            raise HashListFileError("the uploaded list is empty")
        requested = merged.pop("format")
        fmt = _import_format(requested, upload.filename)
        if not requested:  # exchange formats share .csv/.txt: look at the start too
            fmt = await asyncio.to_thread(refine_format, upload.path, fmt)
        result = await asyncio.to_thread(
            import_file, svc.store, upload.path, name, format=fmt,
            by=request[PRINCIPAL].actor, min_quality=min_qualities(svc.settings), **merged)
    info = await asyncio.to_thread(svc.store.get_list, name)
    summary = {"list": result.list, "version": result.version, "added": result.added,
               "removed": result.removed, "unchanged": result.unchanged,
               # Rows kept, rows sharing a hash, rows too weak to match alone (issue 13).
               "rows": result.rows, "shared": result.shared, "weak": result.weak}
    set_audit(request, f"list:{name}", op="import", filename=upload.filename,
              bytes=upload.size, **summary)
    # The new entries against every image seen before, without holding up the response
    # (runtime.retro_match): "queued" now; GET /lists/{name} gives the outcome.
    retro = await start_retro_match_async(svc.context, svc.db, result.list, result.version,
                                          matcher=svc.matcher_built)
    summary["retro_match"] = retro.as_json()
    return summary, info


async def retro_match_json(request: web.Request, info: ListInfo) -> dict | None:
    """The outcome of the retro-match of the list's current version (None: none ran)."""
    found = await asyncio.to_thread(RetroResults(services(request).store).get, info.name,
                                    info.version)
    return None if found is None else found.as_json()


async def import_list(request: web.Request) -> web.Response:
    options = {k: request.query.get(k) for k in
               ("format", "algorithm", "kind", "source", "category", "description")}
    summary, info = await import_upload(request, request.match_info["name"], options)
    return ok({**summary, "info": list_json(info)})


async def export_list_(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    requested = request.query.get("format", "csv")
    if requested not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}")
    store = services(request).store
    algorithm = request.query.get("algorithm") or None
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as out:
        await asyncio.to_thread(export_list, store, name, out, requested, algorithm)
        out.seek(0)
        types = {"csv": "text/csv", "jsonl": "application/x-ndjson", "txt": "text/plain",
                 ListFormat.threatexchange_csv: "text/csv",
                 ListFormat.threatexchange_file: "text/plain"}
        response = web.StreamResponse(headers={
            "Content-Type": f"{types.get(requested, 'text/plain')}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}.{requested}"',
            "X-Content-Type-Options": "nosniff"})  # labels are outside text: never render
        await response.prepare(request)
        while chunk := out.read(256 * 1024):
            await response.write(chunk.encode("utf-8", "surrogateescape"))
        await response.write_eof()
        return response


async def retract_hash(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    data = await json_body(request)
    value = field(data, "hash", str, required=True)
    algorithm = field(data, "algorithm", str)
    set_audit(request, f"list:{name}", op="retract", hash=value, algorithm=algorithm)
    removed = await asyncio.to_thread(services(request).store.retract, name, value, algorithm,
                                      by=request[PRINCIPAL].actor)
    if not removed:
        raise EntryNotFound(f"hash {value.strip().lower()} is not in list {name!r}")
    return ok({"list": name, "removed": removed})


async def delete_list(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    set_audit(request, f"list:{name}", op="delete")
    # delete_list raises ListNotFound (404) itself.
    await asyncio.to_thread(services(request).store.delete_list, name)
    return ok({"deleted": name})


def _match_json(m) -> dict:
    return {"list": m.list, "list_kind": m.list_kind, "category": m.category,
            "source": m.source, "algorithm": m.algorithm, "entry_hash": m.entry_hash,
            "query_hash": m.query_hash, "distance": m.distance, "label": m.label,
            "source_id": m.source_id, "decision": m.decision}


async def match_upload(request: web.Request) -> web.Response:
    """Hash an uploaded image and match it; the bytes are dropped once hashed."""
    svc = services(request)
    limit = min(svc.settings.max_upload_bytes, svc.settings.max_image_bytes)
    data = await receive_bytes(request, limit)
    matcher = await svc.matcher()
    hashes, matches = await asyncio.to_thread(hash_and_match, data, matcher, svc.hash_options)
    del data
    svc.api_images_hashed.inc()
    return ok({
        "image": {"format": hashes.format, "width": hashes.width, "height": hashes.height,
                  "size_bytes": hashes.size_bytes},
        "hashes": [{"algorithm": v.algorithm, "hash": v.hex, "quality": v.quality}
                   for v in hashes.values],
        "matches": [_match_json(m) for m in matches],
    })


async def match_hash(request: web.Request) -> web.Response:
    algorithm_name = request.query.get("algorithm", "")
    text = request.query.get("hash", "")
    if not algorithm_name or not text:
        raise ApiError(400, "give ?algorithm= and ?hash=")
    algorithm = default_registry().get(algorithm_name)
    quality = query_int(request, "quality", None, maximum=100)
    value = HashValue(algorithm.name, algorithm.parse(text), quality)
    matcher = await services(request).matcher()
    hashes = ImageHashes((value,), "", 0, 0, 0)
    matches = await asyncio.to_thread(matcher.match, hashes)
    return ok({"algorithm": value.algorithm, "hash": value.hex,
               "matches": [_match_json(m) for m in matches]})


_NAME = path_param("name")
_LIST_BODY = {"application/json": {
    "type": "object", "required": ["name"],
    "properties": {"name": {"type": "string"}, "kind": {"type": "string", "enum": list(KINDS)},
                   "source": {"type": "string"}, "category": {"type": "string"},
                   "description": {"type": "string"}}}}
_FILE_BODY = {
    "application/octet-stream": {"type": "string", "format": "binary"},
    "multipart/form-data": {"type": "object", "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}}},
}
_IMPORT_PARAMS = (
    Param("format", schema={"type": "string", "enum": FORMATS},
          description="Default: from ?filename= or the multipart file name."),
    Param("filename"), Param("algorithm", description="Algorithm of a TXT list."),
    Param("kind", schema={"type": "string", "enum": list(KINDS)}), Param("source"),
    Param("category"), Param("description"),
)
P = API_PREFIX
ENDPOINTS = [
    Endpoint("GET", f"{P}/lists", list_lists, "viewer", "Every hash list with its counts"),
    Endpoint("POST", f"{P}/lists", create_list, "analyst", "Create an empty hash list",
             body=_LIST_BODY, responses={201: "Created", 409: "A list of that name exists"}),
    Endpoint("GET", f"{P}/lists/{{name}}", get_list, "viewer", "One list's metadata",
             params=(_NAME,)),
    Endpoint("POST", f"{P}/lists/{{name}}/import", import_list, "analyst",
             "Replace a list with an uploaded CSV/JSONL/TXT file (optionally gzip), "
             "atomically: a bad row changes nothing",
             params=(_NAME, *_IMPORT_PARAMS), body=_FILE_BODY,
             responses={413: "Upload too large"}),
    Endpoint("GET", f"{P}/lists/{{name}}/export", export_list_, "viewer",
             "Export a list in the formats import reads",
             params=(_NAME, Param("format", schema={"type": "string", "enum": FORMATS}),
                     Param("algorithm")), produces="text/csv"),
    Endpoint("POST", f"{P}/lists/{{name}}/retract", retract_hash, "analyst",
             "Remove one hash from a list at once",
             params=(_NAME,), body={"application/json": {
                 "type": "object", "required": ["hash"],
                 "properties": {"hash": {"type": "string"}, "algorithm": {"type": "string"}}}}),
    Endpoint("DELETE", f"{P}/lists/{{name}}", delete_list, "analyst",
             "Delete a list and its entries", params=(_NAME,)),
    Endpoint("POST", f"{P}/match", match_upload, "viewer",
             "Hash an uploaded image and match it (the bytes are not stored)",
             body=_FILE_BODY, responses={413: "Upload too large", 422: "Not an image"}),
    Endpoint("GET", f"{P}/match", match_hash, "viewer", "Match a given hash",
             params=(Param("algorithm", required=True,
                           schema={"type": "string", "enum": default_registry().names()}),
                     Param("hash", required=True),
                     Param("quality", schema={"type": "integer", "minimum": 0,
                                              "maximum": 100}))),
]
