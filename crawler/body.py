"""The one streaming size cap every fetched body goes through (pages, images, robots.txt,
sitemaps, CSS, the recheck): compressed bytes, decompressed bytes and their ratio.

Sessions are opened with `auto_decompress=False` and ask only for gzip/deflate, so the
decompression happens here, `max_length` at a time: a gzip bomb is stopped after at most
`max_bytes` of output, whatever its Content-Length says.
"""

from __future__ import annotations

import zlib

import aiohttp

from spinneret.crawler.errors import FetchError, ResponseTooLarge

ACCEPT_ENCODING = "gzip, deflate"
CHUNK_BYTES = 64 * 1024
# Below this much output the ratio is not judged: small, very regular pages compress well.
RATIO_FLOOR_BYTES = 1024 * 1024


class _Inflater:
    """One gzip (any number of members) or deflate (zlib or raw) stream, bounded output."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._obj: zlib._Decompress | None = None
        self._members = 0
        self._ended = False  # bytes after the stream (not another gzip member) are ignored

    def _new(self, first: bytes) -> zlib._Decompress:
        if self.coding == "deflate" and not _zlib_header(first):
            return zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
        wbits = 16 + zlib.MAX_WBITS if self.coding == "gzip" else zlib.MAX_WBITS
        return zlib.decompressobj(wbits)

    def feed(self, data: bytes, limit: int) -> bytes:
        """Inflate `data`; returns at most `limit` bytes, or limit + 1 when there is more."""
        out = bytearray()
        while data and not self._ended and len(out) <= limit:
            if self._obj is None:
                if self._members and (self.coding != "gzip" or data[:2] != b"\x1f\x8b"):
                    self._ended = True  # trailing bytes after the stream, not a new member
                    break
                self._members += 1
                self._obj = self._new(data)
            chunk = self._obj.decompress(data, limit + 1 - len(out))
            out += chunk
            if self._obj.eof:  # next gzip member, if any
                data, self._obj = self._obj.unused_data, None
            else:
                data = self._obj.unconsumed_tail
        return bytes(out)


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0


def _codings(content_encoding: str | None) -> list[str]:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    out = []
    for coding in codings:
        if coding in ("gzip", "x-gzip"):
            out.append("gzip")
        elif coding == "deflate":
            out.append("deflate")
        elif coding != "identity":
            raise FetchError("bad_encoding", "", f"content encoding {coding!r} not supported")
    return out


class BoundedBody:
    """Collects a body chunk by chunk; raises `ResponseTooLarge` (reason too_large) as soon as
    the raw or decoded size passes `max_bytes` or the decoded/raw ratio `max_ratio`."""

    def __init__(self, url: str, max_bytes: int, max_ratio: float, codings: list[str]) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self._inflaters = [_Inflater(c) for c in reversed(codings)]  # last applied first
        self.raw_bytes = 0
        self._out = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.raw_bytes += len(chunk)
        if self.raw_bytes > self.max_bytes:
            raise ResponseTooLarge(self.url, self.max_bytes)
        try:
            for inflater in self._inflaters:
                chunk = inflater.feed(chunk, self.max_bytes - len(self._out))
        except zlib.error as exc:
            raise FetchError("bad_response", self.url, f"bad compressed body: {exc}") from None
        self._out += chunk
        size = len(self._out)
        if size > self.max_bytes:
            raise ResponseTooLarge(self.url, self.max_bytes)
        if self._inflaters and size > RATIO_FLOOR_BYTES and size > self.max_ratio * self.raw_bytes:
            raise ResponseTooLarge(self.url, self.max_bytes,
                                   f"expands more than {self.max_ratio:g} times")

    def value(self) -> bytes:
        return bytes(self._out)


def decode_bounded(data: bytes, url: str, *, max_bytes: int, max_ratio: float,
                   coding: str = "gzip") -> bytes:
    """Decompress a whole body (a .xml.gz sitemap) under the same cap as a download."""
    body = BoundedBody(url, max_bytes, max_ratio, [coding])
    for start in range(0, len(data), CHUNK_BYTES):
        body.feed(data[start:start + CHUNK_BYTES])
    return body.value()


async def read_bounded(resp: aiohttp.ClientResponse, url: str, *, max_bytes: int,
                       max_ratio: float) -> bytes:
    """The body of a response read with auto_decompress=False, decoded, within the cap.
    The connection is dropped when the cap is passed (the server stops sending)."""
    try:
        codings = _codings(resp.headers.get("Content-Encoding"))
    except FetchError as exc:
        resp.close()
        raise FetchError(exc.kind, url, exc.detail) from None
    if resp.content_length is not None and resp.content_length > max_bytes:
        resp.close()
        raise ResponseTooLarge(url, max_bytes)
    body = BoundedBody(url, max_bytes, max_ratio, codings)
    try:
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            body.feed(chunk)
    except FetchError:
        resp.close()
        raise
    return body.value()
