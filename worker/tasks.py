"""Celery tasks: thin wrappers over domain code, named explicitly, idempotent."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import redis
from celery import signals
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from spinneret.runtime.celery_app import (
    HASH_AND_MATCH_TASK,
    RECHECK_TASK,
    REPORT_TASK,
    RETRO_MATCH_TASK,
    SEND_NOTICES_TASK,
    app,
)
from spinneret.runtime.pipeline import ImageJob
from spinneret.runtime.task_payload import ImageTaskPayload
from spinneret.runtime.worker_state import reset_worker_state, worker_state

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError)


@app.task(
    name=HASH_AND_MATCH_TASK,
    bind=True,
    # Outcomes live in SQL; storing a result per image would fill Redis on a big crawl.
    # Callers that wait on one (tests) ask with apply_async(..., ignore_result=False).
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=8,
)
def hash_and_match(self, payload: dict) -> dict:
    """Hash one image, match it, record image and matches in SQL.

    payload: an `ImageTaskPayload` message (runtime/task_payload.py): where the image was
    found, and either its bytes or a short-lived Redis key holding them (deleted after use).

    Every image ends with a record, so a crawl never waits for one: an image the task
    cannot finish (soft time limit, an unexpected error, a worker killed under it
    `task_max_attempts` times) is recorded as skipped with the reason. Only transient
    errors (Redis, SQL unreachable) leave it unrecorded, to be retried.
    """
    state = worker_state()
    task_id = self.request.id
    starts = state.ledger.started(task_id)
    try:
        if starts > state.context.settings.task_max_attempts:
            result = _give_up(state, payload, (
                f"hashing did not finish in {starts - 1} attempts (its worker was killed: "
                "hard time limit, memory limit or crash)"))
        else:
            result = _hash_and_match(state, payload)
    except TRANSIENT_ERRORS:
        state.ledger.ended_alive(task_id)
        raise  # retried; the ledger keeps the task until it is recorded
    except SoftTimeLimitExceeded:
        result = _give_up(state, payload, f"hashing exceeded {_soft_limit_s(self):g} s time limit")
    except Exception as exc:
        log.exception("image task %s failed; recording the image as skipped", task_id)
        result = _give_up(state, payload, f"internal error: {type(exc).__name__}: {exc}")
    # Only now that the outcome is committed can the ledger entry go.
    state.ledger.done(task_id)
    result["retries"] = self.request.retries
    return result


def _soft_limit_s(task) -> float:
    per_call = (task.request.timelimit or (None, None))[1]
    return float(per_call or task.app.conf.task_soft_time_limit)


def _job(task: ImageTaskPayload) -> ImageJob:
    return ImageJob(crawl_id=task.crawl_id, site_id=task.site_id, page_url=task.page_url,
                    image_url=task.image_url, via=task.via)


def _hash_and_match(state, payload: dict) -> dict:
    task = ImageTaskPayload.from_message(payload)
    job = _job(task)
    data = task.data
    if data is None and task.data_key:
        data = state.transit.get(task.data_key)
        if data is None:
            # Bytes gone: a redelivery after the record was made, or they expired unprocessed.
            outcome = state.processor.skip(job, task.sha256, "image bytes expired before hashing")
            return _result(outcome)
    if data is None:
        raise ValueError("hash_and_match payload has neither data nor data_key")
    outcome = state.processor.process(job, bytes(data))
    _drop_bytes(state, payload)  # only once the outcome is committed
    return _result(outcome)


def _give_up(state, payload: dict, reason: str) -> dict:
    """Record the image as skipped for `reason`: its task fails for good."""
    _drop_bytes(state, payload)
    try:
        task = ImageTaskPayload.from_message(payload)
    except ValueError:  # InvalidPayload
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        log.error("dropping a malformed image task (%s): %r", reason, keys)
        return {"status": "dropped", "reason": reason, "recorded": False}
    return _result(state.processor.skip(_job(task), task.sha256, reason))


def _drop_bytes(state, payload: dict) -> None:
    # Read raw: even a message too malformed to parse must not leave its bytes behind.
    data_key = payload.get("data_key") if isinstance(payload, dict) else None
    if data_key and isinstance(data_key, str):
        state.transit.delete(data_key)


def _result(outcome) -> dict:
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "sha256": outcome.sha256,
        "matches": len(outcome.matches),
        "recorded": outcome.recorded,
    }


# Beat fires these on a schedule and nobody reads their return value: no result to store.
@app.task(name=SEND_NOTICES_TASK, ignore_result=True, acks_late=True,
          autoretry_for=TRANSIENT_ERRORS, retry_backoff=5, max_retries=5)
def send_notices() -> dict:
    """Group new matches into notices, then send every due delivery (the outbox is
    idempotent, so overlapping runs never send one delivery twice)."""
    return dataclasses.asdict(asyncio.run(worker_state().notices.send_once()))


@app.task(name=RECHECK_TASK, ignore_result=True, acks_late=True,
          autoretry_for=TRANSIENT_ERRORS, retry_backoff=5, max_retries=5)
def recheck_notices() -> dict:
    """Re-fetch due notice items; close removed ones; send reminders and escalations."""
    checked, follow = asyncio.run(worker_state().notices.recheck_once())
    return {"recheck": dataclasses.asdict(checked), "follow_up": dataclasses.asdict(follow)}


@app.task(name=REPORT_TASK, acks_late=True, autoretry_for=TRANSIENT_ERRORS,
          retry_backoff=5, max_retries=5)
def fetch_report(report_id: int) -> dict:
    """Fetch one reported URL and its images, match and record them, hand matches to the
    notice path (runtime.reports). A report already ended is left as it is."""
    from spinneret.runtime.reports import run_report

    state = worker_state()
    report = asyncio.run(run_report(state.context, int(report_id), state.processor))
    return {"report": report.id, "status": report.status, "reason": report.reason}


@app.task(name=RETRO_MATCH_TASK, acks_late=True, autoretry_for=TRANSIENT_ERRORS,
          retry_backoff=5, max_retries=5)
def retro_match(name: str, version: int) -> dict:
    """Match what version `version` of list `name` added against every image seen before
    (runtime.retro_match); a rerun records nothing twice."""
    from spinneret.runtime.retro_match import RetroMatcher

    state = worker_state()
    context = state.context
    result = asyncio.run(RetroMatcher(context.store, context.db, context.settings,
                                      matcher=state.matcher).run(name, int(version)))
    return result.as_json()


@signals.worker_process_init.connect
def _load_index_in_child(**_: object) -> None:
    # Each prefork child loads its index before taking tasks.
    reset_worker_state()
    worker_state()


@signals.worker_process_shutdown.connect
def _close_child(**_: object) -> None:
    reset_worker_state()
