"""Content sniffing from the first bytes (after WHATWG mimesniff, reduced to what we need).

The server's Content-Type is not trusted: an image served as text/plain is an image, an
HTML page served as image/jpeg is not.
"""

from __future__ import annotations

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"\xff\x0a", "image/jxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image/jxl"),
)
_FTYP_BRANDS = {
    b"avif": "image/avif", b"avis": "image/avif", b"heic": "image/heic", b"heix": "image/heic",
    b"mif1": "image/heif", b"msf1": "image/heif", b"heif": "image/heif",
}
_HTML_STARTS = (
    b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<h1", b"<div",
    b"<font", b"<table", b"<a", b"<style", b"<title", b"<b", b"<br", b"<p", b"<!--", b"<meta",
    b"<link", b"<img", b"<section", b"<article", b"<main", b"<nav", b"<header", b"<ul",
)
_WHITESPACE = b" \t\n\r\x0c"


def sniff_image(data: bytes) -> str | None:
    """The image MIME type the bytes start with, else None."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _FTYP_BRANDS:
        return _FTYP_BRANDS[data[8:12]]
    head = _text_head(data)
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:1024].lower()):
        return "image/svg+xml"
    return None


def _text_head(data: bytes) -> bytes:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data[:512].lstrip(_WHITESPACE).lower()


def looks_like_html(data: bytes) -> bool:
    head = _text_head(data)
    for start in _HTML_STARTS:
        if head.startswith(start):
            nxt = head[len(start):len(start) + 1]
            if start in (b"<!--",) or nxt in (b" ", b">", b"\t", b"\n", b"\r", b"/", b""):
                return True
    return False


def looks_like_xml(data: bytes) -> bool:
    head = _text_head(data)
    return head.startswith(b"<?xml") or head.startswith(b"<urlset") or head.startswith(
        b"<sitemapindex")


def sniff(data: bytes, declared: str | None = None) -> str:
    """Best guess of the content's MIME type. `declared` only decides between text kinds."""
    image = sniff_image(data)
    if image:
        return image
    if looks_like_html(data):
        return "text/html"
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared in ("text/css", "text/html", "application/xhtml+xml"):
        return "text/html" if declared != "text/css" else declared
    if looks_like_xml(data) or declared in ("application/xml", "text/xml"):
        return "application/xml"
    if data[:2] == b"\x1f\x8b":
        return "application/gzip"
    if declared.startswith("image/"):
        # Claimed an image but the bytes say otherwise: don't believe it.
        return "application/octet-stream"
    return declared or "application/octet-stream"
