"""Uploads streamed to a temporary file under a size cap (never held whole in memory).

A raw body (any content type) or a multipart form with one file part (other parts are
small text fields) are accepted. Exceeding the cap answers 413 at once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web

from spinneret.api.errors import MALFORMED_BODY, ApiError, malformed_body, refuse_nul

CHUNK = 256 * 1024
MAX_FIELD_BYTES = 64 * 1024


@dataclass
class Upload:
    path: Path
    size: int
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def _too_big(limit: int) -> ApiError:
    return ApiError(413, f"upload is larger than the limit of {limit} bytes")


async def _copy(chunks, out, limit: int) -> int:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_big(limit)
        out.write(chunk)
    return size


async def _part_chunks(part: BodyPartReader):
    while True:
        chunk = await part.read_chunk(CHUNK)
        if not chunk:
            return
        yield chunk


@contextlib.asynccontextmanager
async def receive_upload(request: web.Request, limit: int, *, file_field: str = "file"
                         ) -> AsyncIterator[Upload]:
    """Stream the request's file to a temporary file, deleted when the block ends."""
    if request.content_length is not None and request.content_length > limit + MAX_FIELD_BYTES:
        raise _too_big(limit)
    fd, name = tempfile.mkstemp(prefix="spinneret-upload-")
    upload = Upload(Path(name), 0)
    try:
        with os.fdopen(fd, "wb") as out:
            if request.content_type.startswith("multipart/"):
                await _read_multipart(request, out, upload, limit, file_field)
            else:
                upload.size = await _copy(request.content.iter_chunked(CHUNK), out, limit)
                upload.filename = request.query.get("filename", "")
        # Hash-list readers recognise gzip by the file suffix.
        with open(upload.path, "rb") as check:
            if check.read(2) == b"\x1f\x8b":
                upload.path = upload.path.rename(name + ".gz")
        yield upload
    finally:
        Path(name).unlink(missing_ok=True)
        upload.path.unlink(missing_ok=True)


async def _read_multipart(request: web.Request, out, upload: Upload, limit: int,
                          file_field: str) -> None:
    try:
        reader = await request.multipart()
        found = False
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == file_field and not found:
                found = True
                upload.filename = part.filename or ""
                upload.size = await _copy(_part_chunks(part), out, limit)
            else:
                data = await part.read_chunk(MAX_FIELD_BYTES + 1)
                if len(data) > MAX_FIELD_BYTES:
                    raise ApiError(413, f"form field {part.name!r} is too long")
                upload.fields[part.name or ""] = refuse_nul(
                    data.decode("utf-8", "replace"), f"form field {part.name!r}")
    except MALFORMED_BODY as exc:
        raise malformed_body(exc, "multipart body") from None
    if not found:
        raise ApiError(400, f"the form has no {file_field!r} file")


async def receive_bytes(request: web.Request, limit: int) -> bytes:
    """A small upload (an image to hash) read into memory under `limit`: raw or multipart."""
    async with receive_upload(request, limit) as upload:
        if upload.size == 0:
            raise ApiError(400, "the upload is empty")
        return upload.path.read_bytes()
