"""Small helpers for JSON handlers: responses, request bodies, query parameters."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from spinneret.api.auth import Principal
from spinneret.api.errors import MALFORMED_BODY, ApiError, malformed_body, refuse_nul
from spinneret.api.services import SERVICES, Services

MAX_JSON_BYTES = 64 * 1024
MAX_SQL_ID = 2**31 - 1  # record ids are SQL INTEGER (32-bit on PostgreSQL)

PRINCIPAL = web.RequestKey("principal", object)
ENDPOINT = web.RequestKey("endpoint", object)
AUDIT_TARGET = web.RequestKey("audit_target", str)
AUDIT_DETAILS = web.RequestKey("audit_details", dict)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_request_text(request: web.Request) -> None:
    refuse_nul(request.path, "the path")
    for name, value in request.query.items():
        refuse_nul(value, f"query parameter {name!r}")


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(jsonable(data), status=status, dumps=json.dumps)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


async def json_body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object (an empty one when `optional` and there is no body)."""
    if request.content_length and request.content_length > MAX_JSON_BYTES:
        raise ApiError(413, f"JSON body larger than {MAX_JSON_BYTES} bytes")
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, f"JSON body larger than {MAX_JSON_BYTES} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "a JSON object body is required")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


async def form_body(request: web.Request) -> MultiDictProxy:
    """The fields of a form (urlencoded or multipart; empty for other content types). Every
    handler reads forms through this, so a malformed body is a 400, never a 500; a body over
    the app's size cap raises aiohttp's 413."""
    try:
        form = await request.post()
    except MALFORMED_BODY as exc:
        raise malformed_body(exc, "form body") from None
    for name, value in form.items():
        if isinstance(value, str):
            refuse_nul(value, f"form field {name!r}")
    return form


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *,
          required: bool = False, default: Any = None) -> Any:
    """One field of a JSON body, type-checked (bool is not accepted as int)."""
    if name not in data or data[name] is None:
        if required:
            raise ApiError(400, f"field {name!r} is required")
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ApiError(400, f"field {name!r} must be {_kind_names(kinds)}")
    if not isinstance(value, kinds):
        raise ApiError(400, f"field {name!r} must be {_kind_names(kinds)}")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"field {name!r} must be a list of strings")
    for text in value if isinstance(value, list) else [value]:
        if isinstance(text, str):
            refuse_nul(text, f"field {name!r}")
    return value


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list of strings"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def query_int(request: web.Request, name: str, default: int | None = None, *,
              minimum: int = 0, maximum: int = 1_000_000) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be an integer") from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"query parameter {name!r} must be between {minimum} and {maximum}")
    return value


def path_int(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(404, f"{name} {raw!r} is not a number") from None
    if not 0 < value <= MAX_SQL_ID:
        raise ApiError(404, f"no such {name} {value}")
    return value


def set_audit(request: web.Request, target: str, **details: Any) -> None:
    """What the audit entry of this (mutating) request names as its target and details."""
    request[AUDIT_TARGET] = target
    request[AUDIT_DETAILS] = jsonable(details)
