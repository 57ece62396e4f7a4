"""/api/v1/contacts/{host}: who notices about a host go to, and its manual override."""

from __future__ import annotations

from aiohttp import web

from spinneret.api.endpoints import API_PREFIX, Endpoint, Param, path_param
from spinneret.api.http import PRINCIPAL, field, json_body, ok, services, set_audit
from spinneret.records.contacts import ContactRepository, normalise_host


def _host(request: web.Request) -> str:
    return normalise_host(request.match_info["host"])  # InvalidContact: 400


async def show_contacts(request: web.Request) -> web.Response:
    refresh = request.query.get("refresh", "").lower() in ("1", "true", "yes")
    svc = services(request)
    found = await svc.notices.contacts().resolve(_host(request), refresh=refresh)
    return ok(found.to_json())


async def set_contact(request: web.Request) -> web.Response:
    host = _host(request)
    data = await json_body(request)
    email = field(data, "email", str, required=True)
    note = field(data, "note", str, default="")
    set_audit(request, f"host:{host}", op="contact.set", email=email)
    svc = services(request)
    record = ContactRepository(svc.db).set_override(
        host, email, note=note, actor=request[PRINCIPAL].actor, now=svc.clock.now())
    return ok({"host": record.host, "email": record.email, "note": record.note,
               "source": "override", "created_by": record.created_by,
               "created_at": record.created_at})


async def clear_contact(request: web.Request) -> web.Response:
    host = _host(request)
    set_audit(request, f"host:{host}", op="contact.clear")
    gone = ContactRepository(services(request).db).clear_override(
        host, actor=request[PRINCIPAL].actor)
    return ok({"host": host, "cleared": gone})


P = API_PREFIX
_HOST = path_param("host")
ENDPOINTS = [
    Endpoint("GET", f"{P}/contacts/{{host}}", show_contacts, "admin",
             "Who notices about a host go to (override, registered, security.txt, RDAP), "
             "each with its source, and whether the answer came from the cache",
             params=(_HOST, Param("refresh", schema={"type": "boolean"}))),
    Endpoint("PUT", f"{P}/contacts/{{host}}", set_contact, "admin",
             "Send notices about a host to this address, whatever else is known",
             params=(_HOST,),
             body={"application/json": {"type": "object", "required": ["email"], "properties": {
                 "email": {"type": "string"}, "note": {"type": "string"}}}}),
    Endpoint("DELETE", f"{P}/contacts/{{host}}", clear_contact, "admin",
             "Remove a host's manual override", params=(_HOST,)),
]
