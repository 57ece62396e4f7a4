"""The webhook receiver's check: `notices.webhook.verify_request` and the snippet in
docs/webhooks.md, on fresh, stale, future-dated, unsigned and tampered requests."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from spinneret.notices.errors import WebhookSignatureError
from spinneret.notices.webhook import (
    DEFAULT_TOLERANCE_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    build_request,
    verify_request,
)

SECRET = b"site-webhook-secret"
SIGNED_AT = 1_764_081_600
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _signed(**overrides: str) -> tuple[dict[str, str], bytes]:
    request = build_request("http://hook.test/", {"type": "spinneret.notice.initial"},
                            secret=SECRET, idempotency_key="spn-1", timestamp=SIGNED_AT)
    headers = {**request.headers, **overrides}
    return {k: v for k, v in headers.items() if v is not None}, request.body


def _library(headers: dict[str, str], body: bytes, now: float) -> None:
    verify_request(SECRET, headers, body, now=now)


def _docs_snippet() -> Callable[[dict[str, str], bytes, float], None]:
    """The `verify` function of docs/webhooks.md, run as written (its clock is `time.time`)."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation

    def verify(headers: dict[str, str], body: bytes, now: float) -> None:
        namespace["time"] = type("Clock", (), {"time": staticmethod(lambda: now)})
        namespace["verify"](SECRET, headers, body)

    return verify


VERIFIERS = {"library": _library, "docs": _docs_snippet()}
REFUSED = {"library": WebhookSignatureError, "docs": PermissionError}


@pytest.fixture(params=sorted(VERIFIERS))
def verifier(request):
    return VERIFIERS[request.param], REFUSED[request.param]


def test_fresh_request_verifies_up_to_the_tolerance(verifier):
    verify, _ = verifier
    headers, body = _signed()
    for now in (SIGNED_AT, SIGNED_AT + DEFAULT_TOLERANCE_S, SIGNED_AT - DEFAULT_TOLERANCE_S):
        verify(headers, body, now)


def test_stale_request_is_refused(verifier):
    verify, refused = verifier
    headers, body = _signed()
    with pytest.raises(refused, match="replay"):
        verify(headers, body, SIGNED_AT + DEFAULT_TOLERANCE_S + 1)


def test_future_dated_request_is_refused(verifier):
    verify, refused = verifier
    headers, body = _signed()
    with pytest.raises(refused, match="replay"):
        verify(headers, body, SIGNED_AT - DEFAULT_TOLERANCE_S - 1)


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_missing_header_is_refused(verifier, missing):
    verify, refused = verifier
    headers, body = _signed(**{missing: None})
    assert missing not in headers
    with pytest.raises(refused):
        verify(headers, body, SIGNED_AT)


def test_non_numeric_timestamp_is_refused(verifier):
    verify, refused = verifier
    headers, body = _signed(**{TIMESTAMP_HEADER: "yesterday"})
    with pytest.raises(refused):
        verify(headers, body, SIGNED_AT)


def test_tampered_body_moved_timestamp_or_other_secret_is_refused(verifier):
    verify, refused = verifier
    headers, body = _signed()
    with pytest.raises(refused, match="signature"):
        verify(headers, body.replace(b"initial", b"reminder"), SIGNED_AT)
    moved = {**headers, TIMESTAMP_HEADER: str(SIGNED_AT + 60)}  # re-dated, same signature
    with pytest.raises(refused, match="signature"):
        verify(moved, body, SIGNED_AT + 60)
    other = build_request("http://hook.test/", {"type": "spinneret.notice.initial"},
                          secret=b"another-site", idempotency_key="spn-1", timestamp=SIGNED_AT)
    with pytest.raises(refused, match="signature"):
        verify(other.headers, other.body, SIGNED_AT)


def test_library_messages_say_what_is_wrong():
    headers, body = _signed(**{SIGNATURE_HEADER: None})
    with pytest.raises(WebhookSignatureError, match="missing signature headers"):
        verify_request(SECRET, headers, body, now=time.time())
    headers, body = _signed()
    with pytest.raises(WebhookSignatureError, match="outside the allowed window"):
        verify_request(SECRET, headers, body, now=SIGNED_AT + DEFAULT_TOLERANCE_S + 1)
