"""Reuse the hashes of bytes already seen: SHA-256 -> every hash, kept in Redis with a TTL.

Hashing is the expensive step; the same image is often served under many URLs. A hit
skips decoding entirely; matching still runs against the current index.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import redis

from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.hashing import ImageHashes


class HashCache:
    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def _key(self, sha256: str, algorithms: tuple[str, ...], variants: Iterable[str],
             dihedral: bool) -> str:
        # The algorithm set is part of the key so a configuration change never returns stale
        # sets; so is the set whose query variants were computed (v2: entries carry them),
        # and whether they include the rotations/flips (v3: every perceptual hash carries
        # its quality).
        wanted = ",".join(sorted(variants)) + ("+dihedral" if dihedral else "")
        return f"{self._prefix}:hashcache:v3:{','.join(algorithms)}|{wanted}:{sha256}"

    @staticmethod
    def sha256_of(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def get(self, sha256: str, algorithms: tuple[str, ...], variants: Iterable[str] = (),
            dihedral: bool = False) -> ImageHashes | None:
        raw = self._client.get(self._key(sha256, algorithms, variants, dihedral))
        if raw is None:
            return None
        payload = json.loads(raw)
        return ImageHashes(
            _decode(payload["values"]), payload["format"], payload["width"], payload["height"],
            payload["size"], _decode(payload.get("variants", ())),
        )

    def put(self, hashes: ImageHashes, algorithms: tuple[str, ...], variants: Iterable[str] = (),
            dihedral: bool = False) -> None:
        sha256 = hashes.sha256
        if sha256 is None:
            return
        payload = {
            "values": _encode(hashes.values),
            "variants": _encode(hashes.variants),
            "format": hashes.format,
            "width": hashes.width,
            "height": hashes.height,
            "size": hashes.size_bytes,
        }
        self._client.set(self._key(sha256, algorithms, variants, dihedral), json.dumps(payload),
                         ex=self._ttl_s)


def _encode(values: Iterable[HashValue]) -> list[dict]:
    return [{"a": v.algorithm, "h": v.hex, "q": v.quality} for v in values]


def _decode(items: Iterable[dict]) -> tuple[HashValue, ...]:
    return tuple(HashValue(v["a"], v["h"], v.get("q")) for v in items)
