"""Find the abuse mailbox in an RDAP answer for an IP network (RFC 9083). Pure: no I/O.

The registries nest entities: the network's registrant organisation often holds the
`abuse` role entity inside its own `entities`. Contact details are jCard (RFC 7095):
`"vcardArray": ["vcard", [["email", {}, "text", "abuse@example.net"], ...]]`.
"""

from __future__ import annotations

from typing import Any

from spinneret.records.contacts import InvalidContact, check_email

MAX_BYTES = 1024 * 1024  # answers are a few kB; registries with many entities, tens
_MAX_DEPTH = 8  # entities inside entities; real answers nest two or three deep


def abuse_contacts(answer: Any) -> list[tuple[str, str]]:
    """(email, detail) of every entity with the `abuse` role, outermost first, no
    duplicates. `detail` names the entity and the network. ValueError on a non-object."""
    if not isinstance(answer, dict):
        raise ValueError("RDAP answer is not a JSON object")
    network = " ".join(str(answer.get(k)) for k in ("handle", "name") if answer.get(k))
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entity in _entities(answer, 0):
        roles = entity.get("roles")
        if not isinstance(roles, list) or "abuse" not in roles:
            continue
        handle = str(entity.get("handle") or "?")
        for email in vcard_emails(entity.get("vcardArray")):
            if email.lower() not in seen:
                seen.add(email.lower())
                found.append((email, f"RDAP abuse entity {handle}"
                                     + (f" of network {network}" if network else "")))
    return found


def _entities(node: dict, depth: int):
    if depth >= _MAX_DEPTH:
        return
    children = node.get("entities")
    if not isinstance(children, list):
        return
    for child in children:
        if isinstance(child, dict):
            yield child
            yield from _entities(child, depth + 1)


def vcard_emails(vcard: Any) -> list[str]:
    """The `email` properties of a jCard; malformed parts are skipped."""
    if not (isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list)):
        return []
    emails = []
    for prop in vcard[1]:
        if (isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email"
                and isinstance(prop[3], str)):
            try:
                emails.append(check_email(prop[3]))
            except InvalidContact:
                continue
    return emails
