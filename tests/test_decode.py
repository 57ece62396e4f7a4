"""Decoding: format from content, EXIF orientation, reduced JPEG decode, pixel limit,
bad bytes, animation, every Pillow mode."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spinneret.demo.images import generate
from spinneret.matcher.decode import decode_image
from spinneret.matcher.errors import UnhashableImage
from spinneret.matcher.hashing import HashOptions, hash_image
from tests.conftest import DATA_DIR, reference_dir

PDQ = HashOptions(algorithms=("pdq",))
BRIDGE = DATA_DIR / "pdq" / "bridge-mods" / "aaa-orig.jpg"


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def pdq(data: bytes) -> str:
    return hash_image(data, PDQ).values[0].hex


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_format_is_sniffed_from_bytes_not_name(tmp_path: Path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(generate(1, (200, 150)), "PNG"))
    decoded = decode_image(path.read_bytes())
    assert decoded.format == "PNG"
    assert (decoded.width, decoded.height) == (200, 150)


# Stored pixels for each tag: the transform whose inverse the tag asks a viewer to apply.
_STORE_FOR_TAG = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _tagged(upright: Image.Image, tag: int, format: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = tag
    return encode(upright.transpose(_STORE_FOR_TAG[tag]), format, exif=exif, quality=92)


@pytest.mark.parametrize("tag", sorted(_STORE_FOR_TAG))
def test_exif_orientation_is_applied(tag: int):
    """A real photo (bundled bridge), stored turned with a tag that turns it back."""
    with Image.open(BRIDGE) as image:
        upright = image.convert("RGB")
    upright.thumbnail((800, 800))
    expected = pdq(encode(upright, "JPEG", quality=92))
    data = _tagged(upright, tag)
    decoded = decode_image(data)
    assert decoded.working.size == (512, round(512 * upright.height / upright.width))
    assert distance(pdq(data), expected) <= 8
    # Without the tag the stored pixels hash as something else: the tag really mattered.
    stored = encode(upright.transpose(_STORE_FOR_TAG[tag]), "JPEG", quality=92)
    assert distance(pdq(stored), expected) > 40


def test_exif_orientation_in_png_is_applied():
    upright = generate(2, (300, 200))
    decoded = decode_image(_tagged(upright, 6, "PNG"))
    assert decoded.working.size == (300, 200)
    assert np.array_equal(np.asarray(decoded.working), np.asarray(upright))


def test_malformed_exif_is_ignored_not_fatal():
    data = encode(generate(4, (120, 90)), "JPEG")
    # An APP1 "Exif" segment with garbage in it, right after SOI.
    junk = b"Exif\x00\x00II*\x00\xff\xff\xff\xff garbage"
    segment = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    decoded = decode_image(data[:2] + segment + data[2:])
    assert decoded.working.size == (120, 90)


def test_large_jpeg_is_decoded_reduced():
    big = generate(6, (500, 375)).resize((4000, 3000), Image.Resampling.BICUBIC)
    data = encode(big, "JPEG", quality=90)
    decoded = decode_image(data)
    assert (decoded.width, decoded.height) == (4000, 3000)
    # DCT scaling did all the work: 1/8 scale, within DRAFT_SLACK of the 512 working size.
    assert decoded.decoded_size == (500, 375)
    assert decoded.working.size == (500, 375)
    full = big.copy()
    full.thumbnail((512, 512), Image.Resampling.BILINEAR)
    assert distance(pdq(data), pdq(encode(full, "PNG"))) <= 8


def test_medium_jpeg_draft_keeps_aspect_ratio():
    data = encode(generate(7, (1024, 768)), "JPEG", quality=90)
    decoded = decode_image(data)
    assert decoded.decoded_size == (512, 384)  # halved; a square request would not allow it


def test_small_images_are_not_upscaled():
    decoded = decode_image(encode(generate(8, (100, 60)), "PNG"))
    assert decoded.working.size == (100, 60)


def _uniform_png(width: int, height: int) -> bytes:
    return encode(Image.new("L", (width, height), 200), "PNG", optimize=True)


def test_pixel_limit_rejects_decompression_bomb_built_with_pillow():
    data = _uniform_png(4000, 4000)  # 16 Mpx in ~16 KB
    assert len(data) < 100_000
    with pytest.raises(UnhashableImage) as error:
        decode_image(data, max_pixels=10_000_000)
    assert "4000x4000 = 16000000 pixels, over the limit of 10000000" in error.value.reason
    assert "decompression bomb" in error.value.reason
    assert decode_image(data, max_pixels=20_000_000).working.size == (512, 512)


def test_default_limit_rejects_header_claiming_huge_size_before_decoding():
    """A small PNG made by Pillow whose IHDR claims 50000x50000 (2.5 Gpx)."""
    data = bytearray(_uniform_png(64, 64))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", 50_000, 50_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    with pytest.raises(UnhashableImage, match="50000x50000 = 2500000000 pixels, over the limit"):
        hash_image(bytes(data))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"this is not an image at all", "not a recognised image format"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),
    ],
    ids=["empty", "garbage", "png-signature-only"],
)
def test_bad_bytes_are_unhashable_with_reason(data: bytes, reason: str):
    with pytest.raises(UnhashableImage) as error:
        hash_image(data)
    assert reason in error.value.reason
    assert "\n" not in error.value.reason


@pytest.mark.parametrize("format", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_file_is_unhashable_with_reason(format: str):
    data = encode(generate(9, (300, 200)), format)
    with pytest.raises(UnhashableImage) as error:
        hash_image(data[: len(data) // 2])
    reason = error.value.reason
    assert reason and "\n" not in reason
    assert "truncated" in reason or "cannot decode" in reason or "recognised" in reason


def test_animated_gif_hashes_its_first_frame():
    first, second = generate(10, (200, 150)), generate(11, (200, 150))
    frames = [first.quantize(256), second.quantize(256)]
    animated = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(animated)) as image:
        assert image.n_frames == 2
    assert pdq(animated) == pdq(encode(frames[0], "GIF"))
    assert distance(pdq(animated), pdq(encode(frames[1], "GIF"))) > 40


def test_transparent_parts_are_composited_on_white():
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    decoded = decode_image(encode(image, "PNG"))
    assert decoded.working.getpixel((10, 10)) == (255, 255, 255)


_MODE_FORMATS = [
    ("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("PA", "WEBP"), ("RGB", "JPEG"),
    ("RGBA", "PNG"), ("CMYK", "JPEG"), ("YCbCr", "JPEG"), ("HSV", "WEBP"), ("I", "TIFF"),
    ("I;16", "PNG"), ("F", "TIFF"), ("LAB", "TIFF"), ("L", "JPEG"), ("CMYK", "TIFF"),
]


@pytest.mark.parametrize(("mode", "format"), _MODE_FORMATS, ids=lambda v: str(v))
def test_every_pillow_mode_hashes(mode: str, format: str):
    original = generate(12, (320, 240))
    data = encode(original.convert(mode), format)
    hashes = hash_image(data)
    assert [v.algorithm for v in hashes.values] == ["sha256", "md5", "phash", "dhash", "pdq",
                                                    "cropdct"]
    reference = pdq(encode(original, "PNG"))
    limit = 60 if mode == "1" else 40  # 1-bit dithering is a big change; HSV/LAB round-trip
    assert distance(hashes.get("pdq").hex, reference) <= limit


def test_constant_float_image_does_not_crash():
    data = encode(Image.new("F", (40, 30), 3.5), "TIFF")
    assert decode_image(data).working.getpixel((0, 0)) == (0, 0, 0)


@pytest.mark.skipif(reference_dir() is None, reason="PDQ reference set not found")
def test_every_reference_mode_file_hashes_without_error():
    folder = reference_dir() / "misc-images" / "modes"
    files = [p for p in sorted(folder.iterdir()) if p.suffix != ".md"]
    assert len(files) >= 14
    for path in files:
        hashes = hash_image(path.read_bytes())
        assert hashes.get("pdq").quality >= 90, path.name
