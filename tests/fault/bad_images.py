"""Hostile and unusual image files, generated with Pillow and by hand (no package ships
Pillow's own broken test images, so the same kinds are made here): each with the outcome the
hashing step must give, "hashed" or a fragment of the skip reason."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from spinneret.demo.images import generate


@dataclass(frozen=True)
class BadImage:
    name: str
    data: bytes
    outcome: str  # "hashed", or a fragment of the skip reason


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
        ">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose IHDR claims width x height (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 65)  # one filtered row of 64 grey pixels
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def png_48bit(size: tuple[int, int] = (96, 64)) -> bytes:
    """16 bits per channel RGB, which Pillow cannot write: built from raw rows."""
    width, height = size
    ramp = np.linspace(0, 65535, width, dtype=np.uint16)
    pixels = np.stack([np.tile(ramp, (height, 1)), np.tile(ramp[::-1], (height, 1)),
                       np.full((height, width), 30000, np.uint16)], axis=-1)
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def jpeg_with_huge_exif() -> bytes:
    """The largest EXIF block a JPEG segment holds (64 KB), a UserComment filling it, and a
    second APP1 segment of garbage after it."""
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\x00\x00\x00" + b"A" * 60_000  # UserComment
    exif[0x0112] = 1
    base = encode(generate(21, (200, 150)), "JPEG", exif=exif, quality=85)
    junk = b"Exif\x00\x00MM\x00*" + b"\xff" * 65_000
    segment = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    return base[:2] + segment + base[2:]


def png_with_huge_exif_chunk() -> bytes:
    base = encode(generate(22, (120, 90)), "PNG")
    exif = b"II*\x00\x08\x00\x00\x00" + b"\x00" * (4 << 20)  # 4 MB eXIf chunk of zeros
    return base[:33] + png_chunk(b"eXIf", exif) + base[33:]


def palette_with_transparency() -> bytes:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    image.paste(1, (32, 0, 64, 64))
    return encode(image, "PNG", transparency=0)


def animated(format: str) -> bytes:
    frames = [generate(23, (160, 120)), generate(24, (160, 120))]
    if format == "GIF":
        frames = [frame.quantize(256) for frame in frames]
    return encode(frames[0], format, save_all=True, append_images=frames[1:], duration=100,
                  loop=0)


def corpus() -> list[BadImage]:
    photo = generate(20, (240, 180))
    jpeg, png = encode(photo, "JPEG", quality=85), encode(photo, "PNG")
    gif, webp = encode(photo.quantize(256), "GIF"), encode(photo, "WEBP")
    cases = [
        BadImage("zero-bytes.jpg", b"", "empty file"),
        BadImage("truncated.jpg", jpeg[: len(jpeg) // 2], "cannot decode"),
        BadImage("truncated.png", png[: len(png) // 2], "cannot decode"),
        BadImage("truncated.gif", gif[: len(gif) // 3], "cannot decode"),
        BadImage("truncated.webp", webp[: len(webp) // 2], "cannot decode"),
        BadImage("header-only.jpg", jpeg[:20], "not a recognised image format"),
        BadImage("wrong-magic.png", b"\x89PNX" + png[4:], "not a recognised image format"),
        BadImage("gif-magic-jpeg-body.gif", b"GIF89a" + jpeg[6:], "not a recognised image format"),
        BadImage("bomb-100k.png", png_claiming(100_000, 100_000),
                 "100000x100000 = 10000000000 pixels, over the limit"),
        BadImage("zero-width.png", png_claiming(0, 64), "not a recognised image format"),
        BadImage("huge-exif.jpg", jpeg_with_huge_exif(), "hashed"),
        BadImage("huge-exif-chunk.png", png_with_huge_exif_chunk(), "hashed"),
        BadImage("cmyk.jpg", encode(photo.convert("CMYK"), "JPEG"), "hashed"),
        BadImage("16-bit-grey.png", encode(photo.convert("I;16"), "PNG"), "hashed"),
        BadImage("16-bit-rgb.png", png_48bit(), "hashed"),
        BadImage("palette-transparency.png", palette_with_transparency(), "hashed"),
        BadImage("animated.gif", animated("GIF"), "hashed"),
        BadImage("animated.webp", animated("WEBP"), "hashed"),
        BadImage("vector.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"'
                 b' width="10" height="10"><rect width="10" height="10"/></svg>', "SVG"),
        # Polyglots: valid images with something else riding along are hashed as images.
        BadImage("png-plus-zip.png", png + b"PK\x03\x04" + b"\x00" * 26 + b"payload", "hashed"),
        BadImage("jpeg-plus-html.jpg", jpeg + b"<html><script>alert(1)</script></html>",
                 "hashed"),
        BadImage("gif-javascript.gif", b"GIF89a/*\x00\x00*/=1;alert(document.domain);//",
                 "not a recognised image format"),
        BadImage("html-as-image.jpg", b"<!doctype html><html><body>not an image</body></html>",
                 "not a recognised image format"),
    ]
    return cases
