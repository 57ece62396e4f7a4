"""Hash lists as two hash-sharing programmes publish them (read by matcher/exchange.py).

- `ncmec-xml`: a saved NCMEC Hash Sharing v2 query result (`<queryResult>` with `<images>`
  / `<videos>` of `<image>`/`<video>` entries: `<id>`, `<classification>`,
  `<fingerprints>` with `<md5>`, `<sha1>`, `<pdna>`, `<pdq>`...). A `<deletedImage>` /
  `<deletedVideo>` entry is a tombstone: its hashes are retracted (left out, even where
  another entry of the file lists them). MD5 and PDQ are read; the entry's classification
  becomes the label, `ncmec:<id>` the source id; other fingerprints (SHA-1, PhotoDNA,
  video ones) have no Spinneret algorithm and are skipped.
- `tcap-json`: a saved page of Tech Against Terrorism's TCAP hash-list API (`{"results":
  [...]}`) or a JSON array of its entries (`hash_digest`, `algorithm`, `ideology`,
  `file_type`, `deleted`, `id`). PDQ, MD5 and SHA256 are read (SHA512, TMK skipped);
  `deleted: true` is a retraction; the ideology becomes the label, `tcap:<id>` the source
  id. JSON carries no line numbers, so an error names the line where the bad value is
  written.

Both are read whole (they are documents, not line formats) and yield rows only once the
whole file is understood, so a tombstone late in the file still retracts.
"""

from __future__ import annotations

import json
import xml.parsers.expat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from spinneret.matcher.errors import InvalidHashList

NCMEC_XML = "ncmec-xml"
TCAP_JSON = "tcap-json"
FORMATS = (NCMEC_XML, TCAP_JSON)

_NCMEC_ALGORITHMS = {"md5": "md5", "pdq": "pdq"}
_NCMEC_ENTRIES = {"image", "video"}
_TCAP_ALGORITHMS = {"PDQ": "pdq", "MD5": "md5", "SHA256": "sha256", "SHA-256": "sha256"}
_TCAP_SKIPPED = {"SHA512", "SHA-512", "TMK"}

# (line, algorithm, hash, label, source id), as matcher/hashlist.py validates rows.
Row = tuple[int, str, str, str, str]


def rows(stream: Iterable[str], format: str) -> Iterator[Row]:
    text = "".join(stream)
    try:  # the stream keeps bytes that are not UTF-8 as surrogates
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise InvalidHashList(line, "the file is not UTF-8 text") from None
    listed, retracted = _ncmec(text) if format == NCMEC_XML else _tcap(text)
    for row in listed:
        if (row[1], row[2].strip().lower()) not in retracted:
            yield row


# --- NCMEC -------------------------------------------------------------------------------


@dataclass
class _Entry:
    line: int
    deleted: bool
    id: str = ""
    classification: str = ""
    fingerprints: list[tuple[int, str, str]] = field(default_factory=list)


def _ncmec(text: str) -> tuple[list[Row], set[tuple[str, str]]]:
    parser = xml.parsers.expat.ParserCreate()
    stack: list[str] = []
    entries: list[_Entry] = []
    current: _Entry | None = None
    chars: list[str] = []
    saw_root = False

    def start(name: str, _attrs) -> None:
        nonlocal current, saw_root
        tag = name.rpartition(":")[2]
        if not stack:
            if tag != "queryResult":
                raise InvalidHashList(parser.CurrentLineNumber, f"expected an NCMEC "
                                      f"<queryResult> document, not <{tag}>")
            saw_root = True
        stack.append(tag)
        chars.clear()
        kind = tag.lower().removeprefix("deleted")
        if current is None and kind in _NCMEC_ENTRIES and len(stack) == 3:
            current = _Entry(parser.CurrentLineNumber, tag.lower().startswith("deleted"))

    def end(_name: str) -> None:
        nonlocal current
        tag = stack.pop()
        value = "".join(chars).strip()
        chars.clear()
        if current is None:
            return
        if len(stack) == 3 and tag == "id":
            current.id = value
        elif len(stack) == 3 and tag == "classification":
            current.classification = value
        elif len(stack) == 4 and stack[-1] == "fingerprints":
            current.fingerprints.append((parser.CurrentLineNumber, tag.lower(), value))
        elif len(stack) == 2:
            entries.append(current)
            current = None

    def no_doctype(*_args) -> None:  # no DTD: no entity expansion, no external fetches
        raise InvalidHashList(parser.CurrentLineNumber, "a DOCTYPE is not accepted")

    parser.StartDoctypeDeclHandler = no_doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars.append
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        reason = xml.parsers.expat.errors.messages.get(exc.code, str(exc))
        raise InvalidHashList(exc.lineno, f"malformed XML: {reason}") from None
    if not saw_root:
        raise InvalidHashList(1, "empty file: expected an NCMEC <queryResult> document")
    listed: list[Row] = []
    retracted: set[tuple[str, str]] = set()
    for entry in entries:
        if not entry.id:
            raise InvalidHashList(entry.line, "entry without an <id>")
        for line, kind, value in entry.fingerprints:
            algorithm = _NCMEC_ALGORITHMS.get(kind)
            if algorithm is None:
                continue
            if entry.deleted:
                retracted.add((algorithm, value.lower()))
            else:
                listed.append((line, algorithm, value, entry.classification,
                               f"ncmec:{entry.id}"))
    return listed, retracted


# --- TCAP --------------------------------------------------------------------------------


def _tcap(text: str) -> tuple[list[Row], set[tuple[str, str]]]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", 1)
        raise InvalidHashList(line, f"invalid JSON: {exc}") from None
    results = document.get("results") if isinstance(document, dict) else document
    if not isinstance(results, list):
        raise InvalidHashList(1, "expected a TCAP hash-list page {\"results\": [...]} or a "
                                 "JSON array of its entries")
    listed: list[Row] = []
    retracted: set[tuple[str, str]] = set()
    for index, record in enumerate(results):
        if not isinstance(record, dict):
            raise InvalidHashList(_line_of(text, record), f"results[{index}] is not an object")
        digest, algorithm = record.get("hash_digest"), record.get("algorithm")
        for key, value in (("hash_digest", digest), ("algorithm", algorithm)):
            if not isinstance(value, str):
                raise InvalidHashList(_line_of(text, record.get("id", value)),
                                      f"results[{index}]: {key!r} must be a string")
        line = _line_of(text, digest)
        name = _TCAP_ALGORITHMS.get(algorithm.strip().upper())
        if name is None:
            if algorithm.strip().upper() in _TCAP_SKIPPED:
                continue
            raise InvalidHashList(line, f"results[{index}]: unknown algorithm {algorithm!r} "
                                        f"(PDQ, MD5, SHA256 are read; SHA512, TMK skipped)")
        deleted = record.get("deleted", False)
        if not isinstance(deleted, bool):
            raise InvalidHashList(line, f"results[{index}]: 'deleted' must be true or false")
        if deleted:
            retracted.add((name, digest.strip().lower()))
            continue
        ideology = record.get("ideology") or ""
        listed.append((line, name, digest, str(ideology),
                       f"tcap:{record['id']}" if record.get("id") is not None else ""))
    return listed, retracted


def _line_of(text: str, value: object) -> int:
    """The line where `value` (a string or number of the document) is first written."""
    needle = json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value)
    at = text.find(needle) if needle else -1
    return text.count("\n", 0, at) + 1 if at >= 0 else 1
