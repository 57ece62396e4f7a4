"""/api/v1/lists/{name}/...: a list's controls (enable switches, threshold overrides, the
flood quarantine's release) and the false positives analysts recorded against its entries."""

from __future__ import annotations

import asyncio

from aiohttp import web

from spinneret.api.endpoints import API_PREFIX, Endpoint, path_param
from spinneret.api.http import PRINCIPAL, field, json_body, ok, services, set_audit
from spinneret.records.reviews import FeedbackRepository, feedback_json
from spinneret.runtime import list_controls


def _controls_json(info, settings) -> dict:
    return {"list": info.name, "version": info.version, **info.controls.to_json(),
            "effective_thresholds": list_controls.effective_thresholds(settings, info)}


async def get_controls(request: web.Request) -> web.Response:
    svc = services(request)
    info = await asyncio.to_thread(svc.store.get_list, request.match_info["name"])
    return ok(_controls_json(info, svc.settings))


async def _switch_list(request: web.Request, enabled: bool) -> web.Response:
    svc = services(request)
    name = request.match_info["name"]
    set_audit(request, f"list:{name}", op="enable" if enabled else "disable")
    info = await asyncio.to_thread(list_controls.set_enabled, svc.store, name, enabled,
                                   by=request[PRINCIPAL].actor)
    return ok(_controls_json(info, svc.settings))


async def enable_list(request: web.Request) -> web.Response:
    return await _switch_list(request, True)


async def disable_list(request: web.Request) -> web.Response:
    return await _switch_list(request, False)


async def _switch_entry(request: web.Request, enabled: bool) -> web.Response:
    svc = services(request)
    name = request.match_info["name"]
    data = await json_body(request)
    value = field(data, "hash", str, required=True)
    algorithm = field(data, "algorithm", str, required=True)
    set_audit(request, f"list:{name}", op="entry_enable" if enabled else "entry_disable",
              hash=value, algorithm=algorithm)
    info = await asyncio.to_thread(list_controls.set_entry_enabled, svc.store, name, value,
                                   algorithm, enabled, by=request[PRINCIPAL].actor)
    return ok(_controls_json(info, svc.settings))


async def disable_entry(request: web.Request) -> web.Response:
    return await _switch_entry(request, False)


async def enable_entry(request: web.Request) -> web.Response:
    return await _switch_entry(request, True)


async def set_threshold(request: web.Request) -> web.Response:
    svc = services(request)
    name = request.match_info["name"]
    data = await json_body(request)
    algorithm = field(data, "algorithm", str, required=True)
    auto = field(data, "auto", int)
    review = field(data, "review", int)
    set_audit(request, f"list:{name}", op="threshold", algorithm=algorithm, auto=auto,
              review=review)
    info = await asyncio.to_thread(lambda: list_controls.set_threshold(
        svc.store, svc.settings, name, algorithm, auto=auto, review=review,
        by=request[PRINCIPAL].actor))
    return ok(_controls_json(info, svc.settings))


async def release(request: web.Request) -> web.Response:
    svc = services(request)
    name = request.match_info["name"]
    set_audit(request, f"list:{name}", op="release")
    info = await asyncio.to_thread(list_controls.release, svc.store, name,
                                   by=request[PRINCIPAL].actor)
    return ok(_controls_json(info, svc.settings))


async def feedback(request: web.Request) -> web.Response:
    svc = services(request)
    name = request.match_info["name"]
    found = await asyncio.to_thread(FeedbackRepository(svc.db).for_list, name)
    if not found:
        await asyncio.to_thread(svc.store.get_list, name)  # unknown list: 404
    return ok([feedback_json(f) for f in found])


_NAME = path_param("name")
_ENTRY_BODY = {"application/json": {
    "type": "object", "required": ["hash", "algorithm"],
    "properties": {"hash": {"type": "string"}, "algorithm": {"type": "string"}}}}
P = f"{API_PREFIX}/lists/{{name}}"
ENDPOINTS = [
    Endpoint("GET", f"{P}/controls", get_controls, "viewer",
             "A list's switches, threshold overrides and flood quarantine", params=(_NAME,)),
    Endpoint("POST", f"{P}/enable", enable_list, "analyst",
             "Switch a list on for live matching", params=(_NAME,)),
    Endpoint("POST", f"{P}/disable", disable_list, "analyst",
             "Switch a list off: it matches nothing until enabled", params=(_NAME,)),
    Endpoint("POST", f"{P}/entries/disable", disable_entry, "analyst",
             "Switch one entry (algorithm + hash) of a list off", params=(_NAME,),
             body=_ENTRY_BODY),
    Endpoint("POST", f"{P}/entries/enable", enable_entry, "analyst",
             "Switch a disabled entry of a list on again", params=(_NAME,), body=_ENTRY_BODY),
    Endpoint("POST", f"{P}/thresholds", set_threshold, "analyst",
             "Override a list's auto / review distances for one algorithm (null: the "
             "deployment's)", params=(_NAME,), body={"application/json": {
                 "type": "object", "required": ["algorithm"],
                 "properties": {"algorithm": {"type": "string"},
                                "auto": {"type": ["integer", "null"], "minimum": 0},
                                "review": {"type": ["integer", "null"], "minimum": 0}}}}),
    Endpoint("POST", f"{P}/release", release, "analyst",
             "End a list's flood quarantine", params=(_NAME,),
             responses={400: "The list is not quarantined"}),
    Endpoint("GET", f"{P}/feedback", feedback, "viewer",
             "The list's entries analysts rejected as false positives (for its source); "
             "`spinneret lists feedback NAME --format csv` writes the same as CSV",
             params=(_NAME,)),
]
