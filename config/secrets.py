"""Masking secrets in text that leaves the process: `config show`, logs, error pages.

Every form a secret takes in our settings is covered: a URL's `user:password@`, a query
parameter named like a password or key (`?password=`, `&token=`, `api_key=` ...), and the
values of the secret settings themselves (SMTP password, secret key) wherever they appear.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "********"
# scheme://[user]:password@  (the password may be empty-user form redis://:pw@host)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@?#]*:)(?P<pw>[^@\s/]*)@",
                           re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pass|pwd|secret|secret_key|token|access_token|"
    r"auth|auth_token|api_key|apikey|key|sig|signature|private_key)=)(?P<value>[^&#\s'\"]+)",
    re.IGNORECASE,
)
_MIN_SECRET_LEN = 4  # shorter "secrets" would mask ordinary words


def mask_secrets(text: str, values: Iterable[str] = ()) -> str:
    """`text` with URL passwords, secret query parameters and the given values masked."""
    if not text:
        return text
    for value in sorted({v for v in values if v and len(v) >= _MIN_SECRET_LEN},
                        key=len, reverse=True):
        text = text.replace(value, MASK)
    if "@" in text:
        text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@" if m["pw"] else m[0], text)
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: m["head"] + MASK, text)
    return text


class _Masking:
    """The log record factory wrapper: every record's message and traceback masked once,
    when it is made (records are made only for enabled levels, so this costs little)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.values: set[str] = set()

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        masked = mask_secrets(message, self.values)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_secrets(text, self.values)
        return record


def install_log_masking(values: Iterable[str] = ()) -> None:
    """Mask secrets in every log record of this process from now on (idempotent; `values`
    are added to the secrets already known)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _Masking):
        factory = _Masking(factory)
        logging.setLogRecordFactory(factory)
    factory.values.update(v for v in values if v)
