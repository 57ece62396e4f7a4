"""/api/v1/review, /notices, /stats: the review queue, takedown notices, owner responses."""

from __future__ import annotations

from aiohttp import web

from spinneret.api.endpoints import API_PREFIX, Endpoint, Param, id_param
from spinneret.api.errors import ApiError
from spinneret.api.http import (
    PRINCIPAL,
    field,
    json_body,
    ok,
    path_int,
    query_int,
    services,
    set_audit,
)
from spinneret.api.timeline import notice_timeline
from spinneret.notices.owner import responses
from spinneret.notices.review import CONFIRM_OUTCOMES, REJECT_OUTCOMES, consensus_of
from spinneret.records.matched_images import image_json
from spinneret.records.models import NOTICE_STATUSES


async def review_queue(request: web.Request) -> web.Response:
    notices = services(request).notices
    needed = notices.review_consensus
    return ok([{**image_json(item),
                "consensus": consensus_of(item.reviews, needed).to_json()}
               for item in notices.review_queue()])


async def _decide(request: web.Request, action: str) -> web.Response:
    image_id = path_int(request)
    note = field(await json_body(request, optional=True), "note", str, default="")
    set_audit(request, f"image:{image_id}", op=f"review.{action}", note=note)
    decide = getattr(services(request).notices, action)
    outcome = decide(image_id, by=request[PRINCIPAL].actor, note=note)
    if action == "reject":
        body = {"id": image_id, "decision": action}
        if outcome != "reviewed_rejected":  # consensus: not decided yet
            body.update(outcome=outcome, explanation=REJECT_OUTCOMES[outcome])
        return ok(body)
    return ok({"id": image_id, "decision": action, "outcome": outcome,
               "explanation": CONFIRM_OUTCOMES[outcome]})


async def confirm_review(request: web.Request) -> web.Response:
    return await _decide(request, "confirm")


async def reject_review(request: web.Request) -> web.Response:
    return await _decide(request, "reject")


async def list_notices(request: web.Request) -> web.Response:
    statuses = tuple(request.query.getall("status", []))
    unknown = [s for s in statuses if s not in NOTICE_STATUSES]
    if unknown:
        raise ApiError(400, f"unknown status {unknown[0]!r} (one of {', '.join(NOTICE_STATUSES)})")
    views = services(request).notices.list(site=request.query.get("site") or None,
                                           statuses=statuses)
    return ok([v.to_json() for v in views])


async def get_notice(request: web.Request) -> web.Response:
    svc = services(request)
    view = svc.notices.show(path_int(request))
    return ok({**view.to_json(), "timeline": notice_timeline(svc.db, view)})


async def notice_responses(request: web.Request) -> web.Response:
    svc = services(request)
    view = svc.notices.show(path_int(request))
    with svc.db.session(readonly=True) as session:
        rows = [{"id": r.id, "action": r.action, "comment": r.comment, "at": r.at}
                for r in responses(session, view.id)]
    return ok(rows)


async def resend_notice(request: web.Request) -> web.Response:
    notice_id = path_int(request)
    set_audit(request, f"notice:{notice_id}", op="resend")
    queued = services(request).notices.resend(notice_id, actor=request[PRINCIPAL].actor)
    return ok({"id": notice_id, "deliveries_queued": queued})


def _query_bool(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false")
    return value in ("true", "1")


def _sent(result, notice_id: int | None = None) -> dict:
    """The outbox pass's counts; deliveries held by the deployment's settings are a 409."""
    if result.refused and result.held:
        raise ApiError(409, f"{len(result.held)} deliveries held: {result.refused}")
    body = {"sent": len(result.sent), "retrying": len(result.retrying),
            "failed": len(result.failed)}
    return body if notice_id is None else {"id": notice_id, **body}


async def send_notices(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 100, minimum=1, maximum=10_000)
    now = _query_bool(request, "now")
    set_audit(request, "notices", op="send", now=now)
    result = await services(request).notices.send_once(limit, now=now,
                                                       actor=request[PRINCIPAL].actor)
    return ok(_sent(result))


async def send_notice_now(request: web.Request) -> web.Response:
    notice_id = path_int(request)
    set_audit(request, f"notice:{notice_id}", op="send_now")
    result = await services(request).notices.send_once(
        now=True, notice_ids=[notice_id], actor=request[PRINCIPAL].actor)
    return ok(_sent(result, notice_id))


async def recheck_notices(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 500, minimum=1, maximum=10_000)
    set_audit(request, "notices", op="recheck")
    checked, follow = await services(request).notices.recheck_once(limit)
    return ok({"checked": checked.checked, "removed": len(checked.removed),
               "present": len(checked.present), "reappeared": len(checked.reappeared),
               "unknown": len(checked.unknown), "reminders": len(follow.reminders),
               "escalations": len(follow.escalations)})


async def notice_stats(request: web.Request) -> web.Response:
    return ok(services(request).notices.stats())


_NOTE = {"application/json": {"type": "object", "properties": {"note": {"type": "string"}}}}
_LIMIT = Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 10000})
P = API_PREFIX
ENDPOINTS = [
    Endpoint("GET", f"{P}/review", review_queue, "viewer",
             "Images waiting for a decision (one item per image, with every list entry it "
             "matched), oldest first"),
    Endpoint("POST", f"{P}/review/{{id}}/confirm", confirm_review, "analyst",
             "Confirm an image: its matches go into the site's next notice (the note is "
             "optional)", params=(id_param(),),
             body=_NOTE, body_required=False, responses={409: "Already decided"}),
    Endpoint("POST", f"{P}/review/{{id}}/reject", reject_review, "analyst",
             "Reject an image, saying why in `note` (required): each URL + list entry is "
             "suppressed", params=(id_param(),), body=_NOTE,
             body_required=False, responses={400: "No note", 409: "Already decided"}),
    Endpoint("GET", f"{P}/notices", list_notices, "viewer", "Notices with items and deliveries",
             params=(Param("site"), Param("status", schema={"type": "string",
                                                            "enum": list(NOTICE_STATUSES)}))),
    Endpoint("GET", f"{P}/notices/{{id}}", get_notice, "viewer",
             "One notice with its timeline", params=(id_param(),)),
    Endpoint("GET", f"{P}/notices/{{id}}/responses", notice_responses, "viewer",
             "The site owner's responses to a notice", params=(id_param(),)),
    Endpoint("POST", f"{P}/notices/{{id}}/resend", resend_notice, "analyst",
             "Queue a notice again to the site's current contacts", params=(id_param(),)),
    Endpoint("POST", f"{P}/notices/{{id}}/send-now", send_notice_now, "analyst",
             "Send an open notice now, before its batch window ends", params=(id_param(),),
             responses={409: "The deployment may not send notices yet (see the message)"}),
    Endpoint("POST", f"{P}/notices/send", send_notices, "analyst",
             "Group new matches into notices and process the outbox once",
             params=(_LIMIT, Param("now", schema={"type": "boolean"}))),
    Endpoint("POST", f"{P}/notices/recheck", recheck_notices, "analyst",
             "One recheck pass: removals, reappearances, reminders, escalations",
             params=(_LIMIT,)),
    Endpoint("GET", f"{P}/stats", notice_stats, "viewer",
             "Per site: open, removed, disputed; time-to-removal"),
]
