"""The fingerprint store: hash lists in Redis, the source of truth the matchers sync from.

Contract (key layout in docs/redis-keys.md):

- A list's keys share one hash tag, `{prefix}:list:{<name>}:...`, so they live in one Redis
  Cluster slot; no command spans two lists. Store-wide keys (global version, changelog, list
  registry) share the tag `{<prefix>}`.
- `replace_list` writes the new entries aside under a fresh token (pipelined HSET in large
  batches, with a TTL lease), swaps the list's meta to that token in one Lua script, then
  UNLINKs the old entries. A failure before the swap deletes what was written aside; a killed
  process leaves only aside keys that expire and that the next import of that list deletes.
- Every change bumps the global version and appends to a capped stream in one script that
  also PUBLISHes the new version on `channel`. Stream ids are `<version>-0`, so
  `changes_since(v)` is one XRANGE.
- Entries are Redis hashes per (list, algorithm): field = lowercase hex hash, value = one
  record per listed image (`matcher.columns.PayloadRecord`: label, or label + U+001F +
  source_id [+ U+001F + quality]), records joined by U+001E. A hash listed for two images
  (two variants of one design) keeps both; a row repeated exactly is stored once.
- An import counts per algorithm the rows it kept (`rows:`), those whose hash another row
  shares (`shared:`) and the weak ones (`weak:`, too weak to match alone: see
  `HashAlgorithm.entry_quality`), in the list's meta next to `count:` (distinct hashes).
"""

from __future__ import annotations

import binascii
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import redis

from spinneret.matcher.algorithms import AlgorithmRegistry, default_registry
from spinneret.matcher.algorithms.base import first_not_hex, is_hex
from spinneret.matcher.algorithms.quality import shape_qualities
from spinneret.matcher.columns import (
    RECORD_SEPARATOR,
    EntryColumns,
    PayloadRecord,
    Payloads,
    decode_records,
)
from spinneret.matcher.controls import ListControls, parse_controls
from spinneret.matcher.errors import (
    EntryNotFound,
    InvalidHash,
    InvalidListKind,
    InvalidListName,
    ListNotFound,
    MatcherError,
)

log = logging.getLogger(__name__)

KINDS = ("block", "allow")
#: The error our scripts raise when the list's token moved under them: try again.
_CONFLICT = "SPINNERET_CONFLICT"
_ATTEMPTS = 5
T = TypeVar("T")
# No braces (they would break the hash tag), no colons or spaces (keys stay parseable).
_LIST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ListEntry:
    algorithm: str
    hash: str
    label: str = ""
    source_id: str = ""
    #: The list's own quality figure for the hash (0-100), when it gives one.
    quality: int | None = None


@dataclass(frozen=True)
class ListInfo:
    name: str
    kind: str
    source: str
    category: str
    description: str
    version: int
    counts: dict[str, int]
    created_at: float
    updated_at: float
    updated_by: str
    #: Per algorithm: rows kept (hash, source id pairs), rows sharing their hash with
    #: another row, and rows too weak to match alone. Lists imported before these were
    #: counted show `rows == counts` and no weak or shared rows.
    rows: dict[str, int] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)
    weak: dict[str, int] = field(default_factory=dict)
    #: The analysts' switches, threshold overrides and flood quarantine (matcher.controls).
    controls: ListControls = field(default_factory=ListControls)
    #: The store's count of images hashed when this version was imported (flood guard).
    images_at_import: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_weak(self) -> int:
        return sum(self.weak.values())

    @property
    def total_shared(self) -> int:
        return sum(self.shared.values())


@dataclass(frozen=True)
class ImportResult:
    list: str
    version: int
    added: int
    removed: int
    unchanged: int
    #: Rows kept (every distinct hash, source id pair), rows sharing their hash with another
    #: row, and rows too weak to match alone (they only corroborate).
    rows: int = 0
    shared: int = 0
    weak: int = 0


@dataclass(frozen=True)
class StoreChange:
    version: int
    list: str
    op: str  # "replace" | "delete" | "retract" | "resync"
    algorithm: str | None = None
    hash: str | None = None


@dataclass(frozen=True)
class ListChange:
    """One version of a list, as the store's changelog records it."""

    version: int  # the list's version this change made
    store_version: int
    op: str  # "replace" | "retract"
    algorithms: tuple[str, ...] = ()  # retract: the algorithms the hash was removed from
    hash: str | None = None


class StoreConflict(MatcherError):
    """The list changed underneath an operation (or its aside data expired); retry it."""


class _ListChanged(Exception):
    """The list's token moved while an operation read or wrote it: try again."""


def _retry_on_conflict(attempt: Callable[[], T], failure: str) -> T:
    """`attempt()`, tried again while the list changes under it (a script's SPINNERET_CONFLICT
    error, or `_ListChanged`); `StoreConflict(failure)` after the last try."""
    for _ in range(_ATTEMPTS):
        try:
            return attempt()
        except _ListChanged:
            continue
        except redis.ResponseError as exc:
            if not str(exc).startswith(_CONFLICT):
                raise
    raise StoreConflict(failure)


class StoreCorrupt(MatcherError):
    """Entries in Redis that the store did not write (wrong length or not hex)."""


# KEYS: version, changelog. ARGV: maxlen, channel, list, op, algorithm, hash.
_COMMIT_LUA = """
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], v .. '-0',
           'list', ARGV[3], 'op', ARGV[4], 'algorithm', ARGV[5], 'hash', ARGV[6])
redis.call('PUBLISH', ARGV[2], v)
return v
"""

# KEYS: meta, aside, new entry keys... ARGV: token, now, meta field/value pairs...
_SWAP_LUA = """
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    return redis.error_reply('aside entries expired before the swap')
  end
end
local old_token = redis.call('HGET', KEYS[1], 'token')
local old_algorithms = redis.call('HGET', KEYS[1], 'algorithms')
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local head = string.match(field, '^(%a+):')
  if head == 'count' or head == 'rows' or head == 'shared' or head == 'weak'
      or head == 'floor' then
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'updated_at', ARGV[2], unpack(ARGV, 3))
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
for i = 3, #KEYS do redis.call('PERSIST', KEYS[i]) end
redis.call('HDEL', KEYS[2], ARGV[1])
return {old_token or '', old_algorithms or '', version}
"""

# KEYS: meta, entry keys... ARGV: token, hash, now, by, then per entry key: algorithm,
# rows, shared rows and weak rows the hash holds there (read before; the token check
# guarantees they are still the ones stored).
_RETRACT_LUA = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return redis.error_reply('SPINNERET_CONFLICT list changed')
end
local removed = {}
for i = 2, #KEYS do
  local at = 5 + (i - 2) * 4
  local algorithm = ARGV[at]
  if redis.call('HDEL', KEYS[i], ARGV[2]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'count:' .. algorithm, -1)
    if redis.call('HEXISTS', KEYS[1], 'rows:' .. algorithm) == 1 then
      redis.call('HINCRBY', KEYS[1], 'rows:' .. algorithm, 0 - tonumber(ARGV[at + 1]))
      redis.call('HINCRBY', KEYS[1], 'shared:' .. algorithm, 0 - tonumber(ARGV[at + 2]))
      redis.call('HINCRBY', KEYS[1], 'weak:' .. algorithm, 0 - tonumber(ARGV[at + 3]))
    end
    table.insert(removed, algorithm)
  end
end
if #removed > 0 then
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[3], 'updated_by', ARGV[4])
end
return removed
"""

# KEYS: aside entry key. ARGV: lease (s), then field, value pairs (value: records joined by
# U+001E, distinct). Adds each field, or appends to an existing one the records it lacks (a
# hash listed again in a later batch), and renews the key's TTL. Returns {records added, rows
# newly sharing a hash}.
_MERGE_LUA = """
local RS = string.char(30)
local function split(text)
  local out, start = {}, 1
  while true do
    local i = string.find(text, RS, start, true)
    if not i then
      table.insert(out, string.sub(text, start))
      return out
    end
    table.insert(out, string.sub(text, start, i - 1))
    start = i + 1
  end
end
local added, shared = 0, 0
for i = 2, #ARGV, 2 do
  local new = split(ARGV[i + 1])
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    added = added + #new
    if #new > 1 then shared = shared + #new end
  else
    local value = redis.call('HGET', KEYS[1], ARGV[i])
    local old = split(value)
    local have = {}
    for _, record in ipairs(old) do have[record] = true end
    local appended = 0
    for _, record in ipairs(new) do
      if not have[record] then
        value = value .. RS .. record
        have[record] = true
        appended = appended + 1
      end
    end
    if appended > 0 then
      redis.call('HSET', KEYS[1], ARGV[i], value)
      added = added + appended
      shared = shared + appended + (#old == 1 and 1 or 0)
    end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {added, shared}
"""

# KEYS: meta, entry keys... ARGV: token
_DELETE_LUA = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return redis.error_reply('SPINNERET_CONFLICT list changed')
end
redis.call('UNLINK', unpack(KEYS))
return 1
"""


# KEYS: scanned hash, other hash (same list, same slot). ARGV: cursor, count.
# Counts fields of one page present in the other hash without sending them to the client.
_INTERSECT_PAGE_LUA = """
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local fields = page[2]
local n = 0
for i = 1, #fields, 2 do
  n = n + redis.call('HEXISTS', KEYS[2], fields[i])
end
return {page[1], n}
"""


# KEYS: scanned (new) hash, old hash, added hash (same list, same slot). ARGV: cursor, count,
# ttl. Copies the fields of one page that the old version lacks into the added hash.
_ADDED_PAGE_LUA = """
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local fields = page[2]
local n = 0
for i = 1, #fields, 2 do
  if redis.call('HEXISTS', KEYS[2], fields[i]) == 0 then
    redis.call('HSET', KEYS[3], fields[i], fields[i + 1])
    n = n + 1
  end
end
if n > 0 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
return {page[1], n}
"""


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def validate_list_name(name: str) -> str:
    if not isinstance(name, str) or not _LIST_NAME.match(name):
        raise InvalidListName(
            f"invalid list name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class _ListKeys:
    base: str

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def aside(self) -> str:
        return f"{self.base}:aside"

    def entries(self, token: str, algorithm: str) -> str:
        return f"{self.base}:e:{token}:{algorithm}"

    @property
    def controls(self) -> str:
        return f"{self.base}:controls"

    @property
    def disabled(self) -> str:
        return f"{self.base}:disabled"

    @property
    def flood(self) -> str:
        return f"{self.base}:flood"

    def added(self, version: int, algorithm: str) -> str:
        """Entries version `version` added (kept a while for retro-match)."""
        return f"{self.base}:added:{version}:{algorithm}"

    @property
    def extras(self) -> str:
        """The set of the list's per-version keys (added entries, retro-match outcomes):
        deleting the list deletes them."""
        return f"{self.base}:extras"


class FingerprintStore:
    """Hash lists in Redis (single server, Valkey or Cluster). Thread-safe as redis-py is."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "spinneret",
        registry: AlgorithmRegistry | None = None,
        *,
        batch_size: int = 10_000,
        changelog_maxlen: int = 10_000,
        aside_lease_s: int = 600,
        added_ttl_s: int = 7 * 86400,
    ) -> None:
        self._r = client
        self.prefix = prefix
        self._registry = registry or default_registry()
        self._batch_size = batch_size
        self._maxlen = changelog_maxlen
        self._lease_s = aside_lease_s
        self._added_ttl_s = added_ttl_s
        tag = "{" + prefix + "}"
        self.version_key = f"{prefix}:store:{tag}:version"
        self.changelog_key = f"{prefix}:store:{tag}:changes"
        self.registry_key = f"{prefix}:store:{tag}:lists"
        # Images hashed by the pipeline (the flood guard's denominator, matcher.flood).
        self.images_key = f"{prefix}:store:{tag}:images"
        self._commit = client.register_script(_COMMIT_LUA)
        self._swap = client.register_script(_SWAP_LUA)
        self._retract = client.register_script(_RETRACT_LUA)
        self._delete = client.register_script(_DELETE_LUA)
        self._merge = client.register_script(_MERGE_LUA)
        self._intersect_page = client.register_script(_INTERSECT_PAGE_LUA)
        self._added_page = client.register_script(_ADDED_PAGE_LUA)

    @property
    def client(self) -> redis.Redis:
        """The Redis client (followers subscribe to `channel` with it)."""
        return self._r

    @property
    def channel(self) -> str:
        """Pub/sub channel; every change publishes the new global version (a decimal string)."""
        return f"{self.prefix}:store:changes"

    def list_keys(self, name: str) -> _ListKeys:
        return _ListKeys(f"{self.prefix}:list:{{{validate_list_name(name)}}}")

    # --- reading -------------------------------------------------------------

    def version(self) -> int:
        return int(self._r.get(self.version_key) or 0)

    def get_list(self, name: str) -> ListInfo:
        keys = self.list_keys(name)
        meta = self._meta(keys)
        if meta is None:
            raise ListNotFound(name)
        return _info(name, meta, self._controls(keys))

    def lists(self) -> list[ListInfo]:
        names = sorted(_s(n) for n in self._r.smembers(self.registry_key))
        pipe = self._r.pipeline(transaction=False)
        for name in names:
            keys = self.list_keys(name)
            pipe.hgetall(keys.meta)
            pipe.hgetall(keys.controls)
            pipe.smembers(keys.disabled)
        replies = pipe.execute()
        infos = []
        for position, name in enumerate(names):
            raw, controls, disabled = replies[3 * position: 3 * position + 3]
            meta = {_s(k): _s(v) for k, v in raw.items()}
            if "version" in meta and "token" in meta:
                infos.append(_info(name, meta, parse_controls(
                    {_s(k): _s(v) for k, v in controls.items()}, {_s(m) for m in disabled})))
        return infos

    def _controls(self, keys: _ListKeys) -> ListControls:
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(keys.controls)
        pipe.smembers(keys.disabled)
        raw, disabled = pipe.execute()
        return parse_controls({_s(k): _s(v) for k, v in raw.items()},
                              {_s(m) for m in disabled})

    # --- per-list controls (matcher.controls) -------------------------------------------

    def set_enabled(self, name: str, enabled: bool, *, by: str = "") -> ListInfo:
        """Switch list `name` on or off for live matching (its entries are kept)."""
        keys = self._existing(name)
        self._r.hset(keys.controls, mapping={"enabled": "1" if enabled else "0",
                                             "changed_by": by})
        self._log(name, "controls")
        return self.get_list(name)

    def set_entry_enabled(self, name: str, hash: str, algorithm: str, enabled: bool, *,
                          by: str = "") -> ListInfo:
        """Switch one entry (algorithm + hash) of list `name` on or off; EntryNotFound when
        the list does not hold it (disabling), InvalidHash when it is no such hash."""
        keys = self._existing(name)
        alg = self._registry.get(algorithm)
        value = alg.parse(hash)
        member = f"{alg.name}:{value}"
        if enabled:
            self._r.srem(keys.disabled, member)
        else:
            meta = self._meta(keys) or {}
            if not self._r.hexists(keys.entries(meta.get("token", ""), alg.name), value):
                raise EntryNotFound(f"list {name!r} has no {alg.name} entry {value}")
            self._r.sadd(keys.disabled, member)
        self._r.hset(keys.controls, "changed_by", by)
        self._log(name, "controls", alg.name, value)
        return self.get_list(name)

    def set_threshold(self, name: str, algorithm: str, *, auto: int | None,
                      review: int | None, by: str = "") -> ListInfo:
        """Override (None: go back to the deployment's) list `name`'s distances for
        `algorithm`. Callers check the values first (`matcher.controls.check_override`)."""
        keys = self._existing(name)
        alg = self._registry.get(algorithm).name
        pipe = self._r.pipeline(transaction=False)
        for head, value in (("auto", auto), ("review", review)):
            if value is None:
                pipe.hdel(keys.controls, f"{head}:{alg}")
            else:
                pipe.hset(keys.controls, f"{head}:{alg}", int(value))
        pipe.hset(keys.controls, "changed_by", by)
        pipe.execute()
        self._log(name, "controls", alg)
        return self.get_list(name)

    def release(self, name: str, *, by: str = "") -> ListInfo:
        """End list `name`'s flood quarantine; its current version is not quarantined
        again (MatcherError when it is not quarantined)."""
        keys = self._existing(name)
        info = self.get_list(name)
        if not info.controls.quarantined:
            raise MatcherError(f"list {name!r} is not quarantined")
        pipe = self._r.pipeline(transaction=False)
        pipe.hdel(keys.controls, "quarantined", "quarantined_at", "quarantined_matches",
                  "quarantined_images")
        pipe.hset(keys.controls, mapping={"released": info.version, "changed_by": by})
        pipe.execute()
        self._log(name, "controls")
        return self.get_list(name)

    def note_quarantine(self, name: str) -> int:
        """Tell followers that the flood guard quarantined `name` (they reread its controls)."""
        return self._log(name, "controls")

    def _existing(self, name: str) -> _ListKeys:
        keys = self.list_keys(name)
        if self._meta(keys) is None:
            raise ListNotFound(name)
        return keys

    def _algorithms_of(self, meta: dict[str, str], algorithm: str | None) -> list[str]:
        """The list's algorithms, or just `algorithm` (validated) if it has it."""
        algorithms = _split(meta.get("algorithms", ""))
        if algorithm is None:
            return algorithms
        wanted = self._registry.get(algorithm).name
        return [a for a in algorithms if a == wanted]

    def _installed(self, name: str, algorithms: list[str]) -> list[str]:
        """The algorithms this process has: a list keeps the rows of a plug-in that was
        removed (SPINNERET_PLUGINS), and the warm start loads the others."""
        missing = [alg for alg in algorithms if alg not in self._registry]
        if missing:
            log.warning("list %s: skipping its %s entries (algorithm not installed)",
                        name, ", ".join(missing))
        return [alg for alg in algorithms if alg in self._registry]

    def entries(self, name: str, algorithm: str | None = None) -> Iterator[ListEntry]:
        """Stream a list's entries in HSCAN batches (an entry changed meanwhile may be missed or
        seen twice, as with any HSCAN)."""
        keys = self.list_keys(name)
        meta = self._meta(keys)
        if meta is None:
            raise ListNotFound(name)
        algorithms = self._algorithms_of(meta, algorithm)
        for alg in algorithms:
            key = keys.entries(meta["token"], alg)
            for field_, value in self._r.hscan_iter(key, count=self._batch_size):
                for record in decode_records(_s(value)):
                    yield ListEntry(alg, _s(field_), record.label, record.source_id,
                                    record.quality)

    def entry_columns(self, name: str, algorithm: str | None = None) -> dict[str, EntryColumns]:
        """A list's entries as columns per algorithm (the warm-start read: HSCAN pages decoded
        straight into one bytes block each, no object per entry). One consistent version: if
        the list is replaced during the read, it is read again."""
        keys = self.list_keys(name)

        def read() -> dict[str, EntryColumns]:
            meta = self._meta(keys)
            if meta is None:
                raise ListNotFound(name)
            algorithms = self._installed(name, self._algorithms_of(meta, algorithm))
            token = meta["token"]
            columns = {
                alg: self._read_columns(name, keys.entries(token, alg), alg)
                for alg in algorithms
            }
            # A replace swaps the token and UNLINKs the old keys: a scan that overlapped it
            # may have ended early on the vanished key.
            if _s(self._r.hget(keys.meta, "token")) != token:
                raise _ListChanged
            return columns

        return _retry_on_conflict(read, f"list {name!r} kept changing while being read")

    def _read_columns(self, name: str, key: str, algorithm: str) -> EntryColumns:
        size = self._registry.get(algorithm).hex_length // 2
        digests: list[bytes] = []
        payloads: list[Payloads] = []
        read = 0
        cursor = 0
        while True:
            cursor, page = self._r.hscan(key, cursor, count=self._batch_size)
            if page:
                fields = list(page)
                values = list(page.values())
                if isinstance(fields[0], str):  # a client with decode_responses=True
                    fields = [f.encode() for f in fields]
                    values = [v.encode() for v in values]
                joined = b"".join(fields)
                if len(joined) != 2 * size * len(fields) or len(set(map(len, fields))) != 1:
                    raise StoreCorrupt(f"list {name!r}: a stored {algorithm} hash is not "
                                       f"{2 * size} hex digits")
                try:
                    digests.append(binascii.unhexlify(joined))
                except binascii.Error:
                    raise StoreCorrupt(f"list {name!r}: a stored {algorithm} hash is not "
                                       "hex") from None
                payloads.append(Payloads.from_values(values))
                read += len(fields)
            if not int(cursor):
                break
        columns = EntryColumns(algorithm, size, b"".join(digests), Payloads.concat(payloads)
                               if payloads else Payloads.from_values([]))
        if read > int(self._r.hlen(key)):  # HSCAN repeated fields during a rehash
            columns = columns.unique()
        return columns

    def changes_since(self, version: int) -> list[StoreChange]:
        """Changes after `version`, oldest first; one `resync` change if the changelog no longer
        reaches back that far (or the store was reset below `version`)."""
        current = self.version()
        if version == current:
            return []
        resync = [StoreChange(current, "*", "resync")]
        if version > current:
            return resync
        items = self._r.xrange(self.changelog_key, min=f"{version + 1}-0", max="+")
        if not items or _id_version(items[0][0]) != version + 1:
            return resync
        changes = []
        for stream_id, fields in items:
            f = {_s(k): _s(v) for k, v in fields.items()}
            changes.append(StoreChange(
                _id_version(stream_id), f["list"], f["op"], f.get("algorithm") or None,
                f.get("hash") or None,
            ))
        return changes

    def history(self, name: str, limit: int = 50) -> list[ListChange]:
        """The last `limit` versions of list `name`, newest first, whoever made them (CLI,
        API, UI), read from the changelog: each replace and each retract call is one version,
        numbered back from the list's current version. Stops at the list's last deletion;
        shorter when the changelog (capped for the whole store) no longer reaches back."""
        meta = self._meta(self.list_keys(name))
        if meta is None:
            raise ListNotFound(name)
        version = int(meta["version"])
        changes: list[ListChange] = []
        newest, page = "+", 1000
        while version > 0 and len(changes) < limit:
            items = self._r.xrevrange(self.changelog_key, max=newest, min="-", count=page)
            for stream_id, fields in items:
                f = {_s(k): _s(v) for k, v in fields.items()}
                if f["list"] != name:
                    continue
                if f["op"] == "delete":
                    return changes
                if f["op"] == "controls":  # switches and overrides: no new list version
                    continue
                at = _id_version(stream_id)
                last = changes[-1] if changes else None
                if (f["op"] == "retract" and last is not None and last.op == "retract"
                        and last.hash == f.get("hash") and last.store_version == at + 1):
                    # One retract call logs one change per algorithm it removed the hash from.
                    changes[-1] = ListChange(last.version, at, "retract",
                                             (f.get("algorithm", ""), *last.algorithms), last.hash)
                    continue
                if version == 0 or len(changes) == limit:
                    return changes
                changes.append(ListChange(
                    version, at, f["op"],
                    (f["algorithm"],) if f.get("algorithm") else (), f.get("hash") or None))
                version -= 1
            if len(items) < page:
                break
            newest = f"({_s(items[-1][0])}"
        return changes

    # --- writing -------------------------------------------------------------

    def replace_list(
        self,
        name: str,
        entries: Iterable[ListEntry],
        *,
        kind: str = "block",
        source: str = "",
        category: str = "",
        description: str = "",
        by: str = "",
        min_quality: Mapping[str, int] | None = None,
    ) -> ImportResult:
        """Replace (or create) list `name` with `entries`, atomically: if anything raises while
        `entries` is consumed or written, the list and the store are left as they were.

        Rows are counted as kept, sharing a hash, and weak: below `min_quality` of their
        algorithm (default: the plug-in's `default_min_quality`) by their hash's shape or
        the row's own quality. Weak rows are kept; matching lets them only corroborate."""
        keys = self.list_keys(name)
        if kind not in KINDS:
            raise InvalidListKind(f"invalid list kind {kind!r} (use block or allow)")
        self._clean_orphans(keys)
        token = uuid.uuid4().hex[:16]
        self._r.hset(keys.aside, token, time.time() + self._lease_s)
        written: set[str] = set()
        try:
            tally = self._write_aside(keys, token, entries, written, min_quality or {})
            algorithms = sorted(written)
            pipe = self._r.pipeline(transaction=False)
            for alg in algorithms:
                pipe.hlen(keys.entries(token, alg))
            counts = dict(zip(algorithms, pipe.execute(), strict=True))
            old = self._meta(keys)
            unchanged = self._count_unchanged(keys, old, token, counts)
            now = time.time()
            fields: list[str | int | float] = [
                "name", name, "kind", kind, "source", source, "category", category,
                "description", description, "updated_by", by, "algorithms", ",".join(algorithms),
                # Where this version's flood-guard window starts (matcher.flood).
                "images_at_import", int(self._r.get(self.images_key) or 0),
            ]
            for alg, count in counts.items():
                fields += [f"count:{alg}", count, f"rows:{alg}", tally.rows.get(alg, count),
                           f"shared:{alg}", tally.shared.get(alg, 0),
                           f"weak:{alg}", tally.weak.get(alg, 0),
                           f"floor:{alg}", tally.floors.get(alg, 0)]
            try:
                old_token, old_algs, version = self._swap(
                    keys=[keys.meta, keys.aside, *(keys.entries(token, a) for a in algorithms)],
                    args=[token, now, *fields],
                )
            except redis.ResponseError as exc:
                raise StoreConflict(f"import of list {name!r} failed: {exc}") from None
        except BaseException:
            self._discard(keys, token, written)
            raise
        old_token = _s(old_token)
        self._keep_added(keys, int(version), token, old_token, algorithms)
        if old_token:
            old_keys = [keys.entries(old_token, a) for a in _split(_s(old_algs))]
            if old_keys:
                self._r.unlink(*old_keys)
        self._r.sadd(self.registry_key, name)
        self._log(name, "replace")
        old_total = sum(_counts(old).values()) if old else 0
        new_total = sum(counts.values())
        return ImportResult(
            name, int(version), new_total - unchanged, old_total - unchanged, unchanged,
            rows=sum(tally.rows.values()), shared=sum(tally.shared.values()),
            weak=sum(tally.weak.values()),
        )

    def delete_list(self, name: str) -> None:
        keys = self.list_keys(name)

        def delete() -> None:
            meta = self._meta(keys)
            if meta is None:
                raise ListNotFound(name)
            token = meta["token"]
            entry_keys = [keys.entries(token, a) for a in _split(meta.get("algorithms", ""))]
            self._delete(keys=[keys.meta, *entry_keys, keys.controls, keys.disabled,
                               keys.flood], args=[token])

        _retry_on_conflict(delete, f"list {name!r} kept changing; delete not done")
        extras = [_s(k) for k in self._r.smembers(keys.extras)]
        self._r.unlink(keys.extras, *extras)
        self._r.srem(self.registry_key, name)
        self._log(name, "delete")

    def retract(self, name: str, hash: str, algorithm: str | None = None, *, by: str = "") -> int:
        """Remove `hash` from list `name` (from every algorithm of matching length unless
        `algorithm` is given), noting `by` as the list's last editor. Returns the number of
        entries removed (0 if absent)."""
        keys = self.list_keys(name)
        if algorithm is not None:
            alg = self._registry.get(algorithm)
            value = alg.parse(hash)
            candidates = [alg.name]
        else:
            value = hash.strip().lower()
            if value.startswith("0x"):
                value = value[2:]
            if not value or not is_hex(value):
                raise InvalidHash(f"hash {hash!r} has characters other than 0-9a-f")
            candidates = [a.name for a in self._registry if a.hex_length == len(value)]
            if not candidates:
                raise InvalidHash(f"no hash algorithm has {len(value)}-digit hashes")

        def retract() -> list:
            meta = self._meta(keys)
            if meta is None:
                raise ListNotFound(name)
            present = [a for a in _split(meta.get("algorithms", "")) if a in candidates]
            if not present:
                return []
            token = meta["token"]
            per_algorithm: list[str | int] = []
            for alg in present:
                per_algorithm += [alg, *self._row_counts(meta, keys.entries(token, alg), alg,
                                                         value)]
            return self._retract(
                keys=[keys.meta, *(keys.entries(token, a) for a in present)],
                args=[token, value, time.time(), by, *per_algorithm],
            )

        removed = _retry_on_conflict(retract, f"list {name!r} kept changing; retract not done")
        for alg in removed:
            self._log(name, "retract", _s(alg), value)
        return len(removed)

    # --- internals -------------------------------------------------------------

    def _row_counts(self, meta: dict[str, str], key: str, algorithm: str,
                    value: str) -> tuple[int, int, int]:
        """(rows, shared rows, weak rows) that hash `value` holds in entry key `key`."""
        stored = self._r.hget(key, value)
        if stored is None:
            return 0, 0, 0
        records = decode_records(_s(stored))
        plugin = self._registry.get(algorithm)
        listed = [r.quality for r in records if r.quality is not None]
        floor = int(meta.get(f"floor:{algorithm}", plugin.default_min_quality))
        weak = not plugin.exact and bool(self._weak(
            plugin, [value], [min(listed) if listed else None], floor, [records]))
        n = len(records)
        return n, n if n > 1 else 0, n if weak else 0

    def _meta(self, keys: _ListKeys) -> dict[str, str] | None:
        raw = self._r.hgetall(keys.meta)
        meta = {_s(k): _s(v) for k, v in raw.items()}
        return meta if "version" in meta and "token" in meta else None

    def _log(self, name: str, op: str, algorithm: str = "", hash: str = "") -> int:
        return int(self._commit(
            keys=[self.version_key, self.changelog_key],
            args=[self._maxlen, self.channel, name, op, algorithm, hash],
        ))

    def _write_aside(
        self, keys: _ListKeys, token: str, entries: Iterable[ListEntry], written: set[str],
        floors: Mapping[str, int],
    ) -> _Tally:
        lengths = {a.name: a.hex_length for a in self._registry}
        names: dict[str, str] = {}
        # Per algorithm: hash -> its distinct records in this batch, and the lowest quality a
        # record gave (None: none did).
        pending: dict[str, dict[str, tuple[list[str], int | None]]] = {}
        tally = _Tally()
        rows = 0
        for entry in entries:
            alg = names.get(entry.algorithm)
            if alg is None:
                alg = names[entry.algorithm] = self._registry.get(entry.algorithm).name
            value = entry.hash
            if len(value) != lengths[alg]:
                raise InvalidHash(f"{alg} hash must be {lengths[alg]} hex digits: {value!r}")
            by_hash = pending.get(alg)
            if by_hash is None:
                by_hash = pending[alg] = {}
            record = PayloadRecord(entry.label, entry.source_id, entry.quality).encode()
            found = by_hash.get(value)
            if found is None:
                by_hash[value] = ([record], entry.quality)
            elif record not in found[0]:
                found[0].append(record)
                if entry.quality is not None:
                    low = entry.quality if found[1] is None else min(found[1], entry.quality)
                    by_hash[value] = (found[0], low)
            rows += 1
            if rows >= self._batch_size:
                self._flush(keys, token, pending, written, tally, floors)
                pending = {}
                rows = 0
        if rows:
            self._flush(keys, token, pending, written, tally, floors)
        return tally

    def _flush(
        self, keys: _ListKeys, token: str, pending: dict[str, dict[str, tuple[list[str],
                                                                             int | None]]],
        written: set[str], tally: _Tally, floors: Mapping[str, int],
    ) -> None:
        for alg, by_hash in pending.items():
            fields = list(by_hash)
            bad = first_not_hex(fields)
            if bad is not None:
                raise InvalidHash(
                    f"{alg} hash has characters other than 0-9a-f: {fields[bad]!r}")
            algorithm = self._registry.get(alg)
            floor = floors.get(alg, algorithm.default_min_quality)
            weak = 0
            if not algorithm.exact:
                weak = sum(len(records) for records, _ in self._weak(
                    algorithm, fields, [listed for _, listed in by_hash.values()], floor,
                    list(by_hash.values())))
            tally.weak[alg] = tally.weak.get(alg, 0) + weak
            tally.floors[alg] = 0 if algorithm.exact else floor
            key = keys.entries(token, alg)
            written.add(alg)
            flat = []
            for value, (records, _) in by_hash.items():
                flat += (value, RECORD_SEPARATOR.join(records))
            # One script call per key and batch (a script in a cluster pipeline may meet a
            # node that has not loaded it; called directly, redis-py loads it).
            added, shared = self._merge(keys=[key], args=[self._lease_s, *flat])
            tally.rows[alg] = tally.rows.get(alg, 0) + int(added)
            tally.shared[alg] = tally.shared.get(alg, 0) + int(shared)
        self._r.hset(keys.aside, token, time.time() + self._lease_s)

    @staticmethod
    def _weak(algorithm, hexes: list[str], listed: list[int | None], floor: int,
              payloads: list) -> list:
        """The `payloads` whose hash (of `hexes`) is too weak to match alone: its shape's
        quality, or the lowest quality its rows gave (`listed`), below `floor`."""
        digests = np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8)
        shapes = shape_qualities(digests.reshape(len(hexes), -1)).tolist()
        return [payload for shape, low, payload in zip(shapes, listed, payloads, strict=True)
                if min(shape, 100 if low is None else low) < floor]

    def _count_unchanged(
        self, keys: _ListKeys, old: dict[str, str] | None, token: str, counts: dict[str, int]
    ) -> int:
        """Hashes present in both the current and the new version: scan the smaller side
        page by page in a script that looks each field up in the other (nothing is sent
        back but a count)."""
        if not old:
            return 0
        old_counts = _counts(old)
        unchanged = 0
        for alg, count in counts.items():
            old_count = old_counts.get(alg, 0)
            if not old_count or not count:
                continue
            new_key = keys.entries(token, alg)
            old_key = keys.entries(old["token"], alg)
            small, large = (new_key, old_key) if count <= old_count else (old_key, new_key)
            cursor: bytes | str | int = 0
            common = 0
            while True:
                cursor, found = self._intersect_page(
                    keys=[small, large], args=[cursor, self._batch_size]
                )
                common += int(found)
                if _s(cursor) == "0":
                    break
            # HSCAN may repeat a field while the table is being rehashed.
            unchanged += min(common, count, old_count)
        return unchanged

    def _keep_added(self, keys: _ListKeys, version: int, token: str, old_token: str,
                    algorithms: list[str]) -> None:
        """Copy what version `version` added (its entries the previous version lacked) aside
        for retro-match, before the previous entries go: page by page in a script, nothing
        but counts sent back. Expires after `added_ttl_s`."""
        # A list deleted and created again counts its versions from 1 again: drop what an
        # earlier life of the list left under this version.
        self._r.unlink(*(keys.added(version, a.name) for a in self._registry))
        for alg in algorithms:
            self._r.sadd(keys.extras, keys.added(version, alg))
            new_key = keys.entries(token, alg)
            # A first version (or a new algorithm) adds everything: the old key is absent.
            old_key = keys.entries(old_token or "-", alg)
            cursor: bytes | str | int = 0
            while True:
                cursor, _found = self._added_page(
                    keys=[new_key, old_key, keys.added(version, alg)],
                    args=[cursor, self._batch_size, self._added_ttl_s])
                if _s(cursor) == "0":
                    break

    def note_list_key(self, name: str, key: str) -> None:
        """Note `key` (under the list's hash tag, with a TTL of its own) as belonging to list
        `name`: `delete_list` deletes it too."""
        # The set itself does not expire (a few dozen bytes per import); members whose key
        # expired cost nothing to delete.
        self._r.sadd(self.list_keys(name).extras, key)

    def added_entries(self, name: str, version: int) -> dict[str, EntryColumns]:
        """The entries version `version` of list `name` added to the version before it, as
        columns per algorithm (empty when it added none, or once they expired)."""
        keys = self.list_keys(name)
        columns = {}
        for algorithm in self._registry:
            key = keys.added(version, algorithm.name)
            if self._r.exists(key):
                columns[algorithm.name] = self._read_columns(name, key, algorithm.name)
        return columns

    def _discard(self, keys: _ListKeys, token: str, written: Iterable[str]) -> None:
        try:
            if _s(self._r.hget(keys.meta, "token")) == token:
                return  # the swap went through although its reply was lost: keep the list
        except redis.RedisError:
            return  # unknown: the aside keys expire unless a swap made them permanent
        pipe = self._r.pipeline(transaction=False)
        entry_keys = [keys.entries(token, a) for a in written]
        if entry_keys:
            pipe.unlink(*entry_keys)
        pipe.hdel(keys.aside, token)
        try:
            pipe.execute()
        except redis.RedisError:  # the keys carry a TTL; the next import also cleans them up
            pass

    def _clean_orphans(self, keys: _ListKeys) -> None:
        """Delete aside data of earlier imports of this list whose lease ran out (killed)."""
        now = time.time()
        stale = [_s(t) for t, deadline in self._r.hgetall(keys.aside).items()
                 if float(deadline) < now]
        if not stale:
            return
        entry_keys = [keys.entries(t, a.name) for t in stale for a in self._registry]
        pipe = self._r.pipeline(transaction=False)
        pipe.unlink(*entry_keys)
        pipe.hdel(keys.aside, *stale)
        pipe.execute()


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _counts(meta: dict[str, str], prefix: str = "count:") -> dict[str, int]:
    return {k[len(prefix):]: int(v) for k, v in meta.items() if k.startswith(prefix)}


@dataclass
class _Tally:
    """Rows an import kept, shared and found weak (below `floors`), per algorithm."""

    rows: dict[str, int] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)
    weak: dict[str, int] = field(default_factory=dict)
    floors: dict[str, int] = field(default_factory=dict)


def _id_version(stream_id: bytes | str) -> int:
    return int(_s(stream_id).split("-", 1)[0])


def _info(name: str, meta: dict[str, str], controls: ListControls | None = None) -> ListInfo:
    return ListInfo(
        name=meta.get("name") or name,
        kind=meta.get("kind", "block"),
        source=meta.get("source", ""),
        category=meta.get("category", ""),
        description=meta.get("description", ""),
        version=int(meta["version"]),
        counts=dict(sorted(_counts(meta).items())),
        created_at=float(meta.get("created_at", 0)),
        updated_at=float(meta.get("updated_at", 0)),
        updated_by=meta.get("updated_by", ""),
        rows=dict(sorted(_counts(meta, "rows:").items())) or dict(sorted(_counts(meta).items())),
        shared=dict(sorted(_counts(meta, "shared:").items())),
        weak=dict(sorted(_counts(meta, "weak:").items())),
        controls=controls or ListControls(),
        images_at_import=int(meta.get("images_at_import", 0)),
    )
