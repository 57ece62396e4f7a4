"""The route table: every route of the app with its role, and the OpenAPI document built
from it. Auth, the audit log, the OpenAPI document and the role tests all read this table,
so a route cannot be added without a role or left out of the document.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROLES = ("viewer", "analyst", "admin")  # each role may do everything the ones before it may
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Param:
    name: str
    location: str = "query"  # "query" | "path"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    role: str | None  # None: no token needed (health, owner pages, login)
    summary: str
    kind: str = "api"  # "api": Bearer token, JSON | "ui": session cookie, HTML | "public"
    params: tuple[Param, ...] = ()
    body: dict[str, dict[str, Any]] | None = None  # content type -> schema
    body_required: bool = True
    responses: dict[int, str] = field(default_factory=dict)
    produces: str = "application/json"

    @property
    def mutating(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def path_param(name: str, schema: dict[str, Any] | None = None) -> Param:
    return Param(name, "path", schema or {"type": "string"}, required=True)


def id_param(name: str = "id") -> Param:
    return path_param(name, {"type": "integer", "minimum": 1})


_ERROR = {"$ref": "#/components/schemas/Error"}


def openapi_document(endpoints: list[Endpoint]) -> dict[str, Any]:
    """OpenAPI 3.0 description of every route in `endpoints`."""
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Spinneret API",
            "version": "1",
            "description": "Hash lists, sites, crawls, matches, review and notices. "
                           "JSON under /api/v1 with a Bearer token; the web UI uses a "
                           "session cookie; owner pages use signed links.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "spn_session"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                    "required": ["error", "status"],
                },
            },
        },
    }


def _operation(ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.kind if ep.kind != "api" else ep.path.removeprefix(API_PREFIX).split("/")[1]],
    }
    if ep.role is not None:
        op["description"] = f"Needs role `{ep.role}` or higher."
        op["security"] = [{"bearer": []}] if ep.kind == "api" else [{"session": []}]
    else:
        op["security"] = []
    params = [
        {"name": p.name, "in": p.location, "required": p.required or p.location == "path",
         "schema": p.schema, **({"description": p.description} if p.description else {})}
        for p in ep.params
    ]
    declared = {p.name for p in ep.params if p.location == "path"}
    params += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
               for name in ep.path_params if name not in declared]
    if params:
        op["parameters"] = params
    if ep.body:
        op["requestBody"] = {
            "required": ep.body_required,
            "content": {ctype: {"schema": schema} for ctype, schema in ep.body.items()},
        }
    ok = 201 if ep.method == "POST" and 201 in ep.responses else 200
    responses: dict[str, Any] = {}
    for status, description in {ok: "OK", **ep.responses}.items():
        content = {ep.produces: {"schema": {}}} if status < 300 else {}
        responses[str(status)] = {"description": description, **(
            {"content": content} if content else {})}
    errors = {400: "Bad request"}
    if ep.role is not None:
        errors.update({401: "No or unknown token", 403: "Role too small"})
    if ep.path_params:
        errors[404] = "Not found"
    for status, description in errors.items():
        responses.setdefault(str(status), {
            "description": description,
            **({"content": {"application/json": {"schema": _ERROR}}} if ep.kind == "api" else {}),
        })
    op["responses"] = responses
    return op
