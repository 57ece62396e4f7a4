"""Read a security.txt file (RFC 9116) for its `Contact: mailto:` addresses. Pure: no I/O.

Fields are `Name: value` lines; `#` starts a comment. A file signed inline with OpenPGP
is read between its armor lines (the signature is not checked: the file came over TLS
from the host itself, which is what RFC 9116 relies on). A file whose `Expires:` is in
the past, or cannot be read as a date, is treated as absent, as the RFC asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from spinneret.records.contacts import InvalidContact, check_email

WELL_KNOWN_PATH = "/.well-known/security.txt"
MAX_BYTES = 32 * 1024  # real files are a few hundred bytes
_PGP_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"


@dataclass
class SecurityTxt:
    emails: list[str] = field(default_factory=list)  # in file order, no duplicates
    expires: datetime | None = None
    problem: str = ""  # why the file gives no usable contact ("" when it does)


def parse(text: str, *, now: datetime) -> SecurityTxt:
    result = SecurityTxt()
    expires_values: list[str] = []
    for line in _signed_body(text).splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, value = (part.strip() for part in line.split(":", 1))
        name = name.lower()
        if name == "contact":
            email = mailto_address(value)
            if email and email not in result.emails:
                result.emails.append(email)
        elif name == "expires":
            expires_values.append(value)
    if expires_values:
        result.expires = parse_expires(expires_values[0])
        if result.expires is None:
            result.problem = f"Expires {expires_values[0]!r} is not a date (RFC 3339)"
        elif result.expires <= now:
            result.problem = f"expired on {result.expires.isoformat()}"
    if result.problem:
        result.emails = []
    elif not result.emails:
        result.problem = "no Contact: mailto: line"
    return result


def mailto_address(value: str) -> str | None:
    """The address of a `mailto:` URI (query dropped), or None for other kinds or junk."""
    if not value.lower().startswith("mailto:"):
        return None
    address = unquote(urlsplit(value).path).strip()
    try:
        return check_email(address)
    except InvalidContact:
        return None


def parse_expires(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _signed_body(text: str) -> str:
    """The signed text of an OpenPGP cleartext-signed file; any other text as it is."""
    text = text.replace("\r\n", "\n")
    if _PGP_BEGIN not in text:
        return text
    after = text.split(_PGP_BEGIN, 1)[1]
    # Armor headers ("Hash: SHA256") end at the first blank line.
    parts = after.split("\n\n", 1)
    body = parts[1] if len(parts) == 2 else after
    body = body.split(_PGP_SIGNATURE, 1)[0]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.splitlines())
