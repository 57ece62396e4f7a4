"""The durable hashes of every image content ever seen (table `image_hashes`, per SHA-256).

Written in the transaction that records an image (`ImageRecorder.record_image`), one
multi-row INSERT ... ON CONFLICT DO NOTHING: the same content seen on a thousand pages is
stored once, and a retried task changes nothing. Read by retro-match: a list imported later
is matched against these instead of re-crawling.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from spinneret.records.db import Database
from spinneret.records.errors import RecordsError
from spinneret.records.models import ImageHash, SeenImage
from spinneret.records.types import SeenImageRecord, StoredHash, StoredHashColumn

_CHUNK = 500  # ids per IN (...) list: well inside SQLite's and PostgreSQL's limits


def insert_hashes(session: Session, sha256: str, hashes: Sequence[StoredHash]) -> None:
    """Store `hashes` of content `sha256` (already validated lowercase hex), once each."""
    rows = {}
    for value in hashes:
        key = (value.algorithm, value.hash.lower())
        rows[key] = dict(sha256=sha256, algorithm=value.algorithm, hash=key[1],
                         quality=value.quality)
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(ImageHash).values(list(rows.values())).on_conflict_do_nothing())


class ImageHashRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, sha256: str, hashes: Sequence[StoredHash]) -> None:
        with self._db.session() as session:
            insert_hashes(session, sha256.lower(), hashes)

    def count(self, algorithm: str | None = None) -> int:
        query = select(func.count()).select_from(ImageHash)
        if algorithm is not None:
            query = query.where(ImageHash.algorithm == algorithm)
        with self._db.session(readonly=True) as session:
            return int(session.scalar(query) or 0)

    def column(self, algorithm: str, batch: int = 50_000) -> StoredHashColumn:
        """Every stored hash of `algorithm`, streamed from the server in batches and packed
        batch by batch (64 + digest bytes per hash instead of two Python strings)."""
        owners: list[np.ndarray] = []
        digests = bytearray()
        size = 0
        with self._db.session(readonly=True) as session:
            result = session.execute(
                select(ImageHash.sha256, ImageHash.hash)
                .where(ImageHash.algorithm == algorithm)
                .execution_options(yield_per=batch)
            )
            for rows in result.partitions(batch):
                keys, values = zip(*rows, strict=True)
                if not size:
                    size = len(values[0]) // 2
                joined = "".join(values)
                if len(joined) != 2 * size * len(values):
                    raise RecordsError(f"stored {algorithm} hashes differ in length")
                digests += bytes.fromhex(joined)
                owners.append(np.array(keys, dtype="S64"))
        packed = np.concatenate(owners) if owners else np.zeros(0, dtype="S64")
        return StoredHashColumn(algorithm, packed, bytes(digests), size)

    def hashes_of(self, sha256s: Iterable[str]) -> dict[str, list[StoredHash]]:
        found: dict[str, list[StoredHash]] = {}
        with self._db.session(readonly=True) as session:
            for chunk in _chunks(sorted(set(sha256s))):
                rows = session.execute(
                    select(ImageHash).where(ImageHash.sha256.in_(chunk))
                    .order_by(ImageHash.sha256, ImageHash.algorithm, ImageHash.hash))
                for (row,) in rows:
                    found.setdefault(row.sha256, []).append(
                        StoredHash(row.algorithm, row.hash, row.quality))
        return found

    def sightings(self, sha256s: Iterable[str]) -> list[SeenImageRecord]:
        """Every image URL seen serving one of these contents, oldest sighting first."""
        found: list[SeenImageRecord] = []
        with self._db.session(readonly=True) as session:
            for chunk in _chunks(sorted(set(sha256s))):
                for row in session.scalars(
                        select(SeenImage).where(SeenImage.sha256.in_(chunk))
                        .order_by(SeenImage.id)):
                    found.append(SeenImageRecord(
                        id=row.id, url=row.url, sha256=row.sha256, site_id=row.site_id,
                        first_seen=row.first_seen, last_seen=row.last_seen,
                        last_crawl_id=row.last_crawl_id, page_url=row.page_url,
                        width=row.width, height=row.height, format=row.format))
        return found


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
