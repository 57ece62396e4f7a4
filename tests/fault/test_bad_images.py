"""Bad and unusual image bytes: each is hashed or skipped with a one-line reason, never a
crash; through a real crawl every one ends with a record or a counted reason; and the decode
path is fuzzed (hypothesis) for a bounded number of examples."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from spinneret.demo.images import generate
from spinneret.matcher.decode import decode_image
from spinneret.matcher.errors import UnhashableImage
from spinneret.matcher.hashing import HashOptions, hash_image
from tests.fault.bad_images import animated, corpus, encode, palette_with_transparency
from tests.fault.crawling import crawl_app
from tests.sites import Route, build_site, html

CORPUS = corpus()
PDQ = HashOptions(algorithms=("pdq",))


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_each_bad_image_is_hashed_or_skipped_with_one_line(case):
    if case.outcome == "hashed":
        hashes = hash_image(case.data)
        assert hashes.get("pdq").hex and hashes.width > 0 and hashes.height > 0
        return
    with pytest.raises(UnhashableImage) as error:
        hash_image(case.data)
    assert case.outcome in error.value.reason
    assert "\n" not in error.value.reason and len(error.value.reason) < 300


def test_svg_is_skipped_saying_it_is_a_vector_image():
    svg = next(case for case in CORPUS if case.name == "vector.svg")
    with pytest.raises(UnhashableImage, match="SVG is a vector format"):
        decode_image(b"\xef\xbb\xbf  " + svg.data)


def test_palette_transparency_is_composited_on_white():
    decoded = decode_image(palette_with_transparency())
    assert decoded.working.getpixel((5, 5)) == (255, 255, 255)  # index 0: transparent
    assert decoded.working.getpixel((40, 5)) == (0, 0, 255)


@pytest.mark.parametrize("format", ["GIF", "WEBP"])
def test_animated_image_hashes_as_its_first_frame(format):
    frames = [generate(23, (160, 120)), generate(24, (160, 120))]
    if format == "GIF":
        frames = [frame.quantize(256) for frame in frames]
    first, second = (hash_image(encode(frame, format), PDQ).get("pdq").hex for frame in frames)
    found = hash_image(animated(format), PDQ).get("pdq").hex
    assert _distance(found, first) <= 8 < 40 < _distance(found, second)


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_sixteen_bit_rgb_keeps_its_picture():
    case = next(case for case in CORPUS if case.name == "16-bit-rgb.png")
    gray = decode_image(case.data).gray_array()
    assert gray[:, 0].mean() != pytest.approx(gray[:, -1].mean(), abs=20)  # a ramp, not flat


# --- through a real crawl (in-process pipeline) -------------------------------------------

#: Refused by the crawler's content sniffing before any hashing (counted as not_image).
NOT_IMAGES = {"zero-bytes.jpg", "wrong-magic.png", "html-as-image.jpg"}


async def test_a_site_of_bad_images_is_crawled_to_the_end_with_every_reason(settings):
    # Every file is served as image/jpeg, whatever it is: the bytes decide.
    routes = {f"/img/{case.name}": Route(case.data, content_type="image/jpeg") for case in CORPUS}
    tags = "".join(f'<img src="/img/{case.name}">' for case in CORPUS)
    routes["/"] = Route(html(tags))
    routes["/robots.txt"] = Route("", status=404)
    summary, by_path = await crawl_app(settings, build_site(routes))
    assert summary.crawl.status == "finished"
    events = {path.rsplit("/", 1)[1]: event for path, event in by_path.items()}
    assert set(events) == {case.name for case in CORPUS} - NOT_IMAGES
    for case in CORPUS:
        if case.name in NOT_IMAGES:
            continue
        event = events[case.name]
        if case.outcome == "hashed":
            assert event.status == "hashed", (case.name, event.skip_reason)
        else:
            assert event.status == "skipped" and case.outcome in event.skip_reason, case.name
    assert summary.crawl.images_found == len(CORPUS)
    assert summary.crawl.skipped_reasons.get("not_image") == len(NOT_IMAGES)


# --- fuzzing the decode path ---------------------------------------------------------------

def _seeds() -> list[bytes]:
    photo = generate(30, (48, 36))
    return [encode(photo, "JPEG", quality=80), encode(photo, "PNG"),
            encode(photo.quantize(64), "GIF"), encode(photo, "WEBP"), encode(photo, "TIFF"),
            encode(photo, "BMP"), encode(photo.convert("RGBA"), "PNG"), animated("GIF")]


SEEDS = _seeds()
FUZZ_MAX_PIXELS = 4_000_000  # keeps each example's memory small: the limit, not luck


@st.composite
def mutated_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[position] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif len(data) > 1:
            del data[position]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _decode_outcome(data: bytes) -> None:
    try:
        decoded = decode_image(data, max_pixels=FUZZ_MAX_PIXELS)
    except UnhashableImage as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert max(decoded.working.size) <= 512 and decoded.working.mode == "RGB"
    decoded.gray_array()


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_images())
def test_fuzzed_images_are_decoded_or_refused_with_a_reason(data):
    _decode_outcome(data)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.binary(max_size=2048), magic=st.sampled_from(
    [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
     b"II*\x00", b"BM", b"\x00\x00\x01\x00"]))
def test_random_bytes_behind_a_magic_number_are_refused_with_a_reason(data, magic):
    _decode_outcome(magic + data)


def test_fuzz_seeds_are_real_images():
    for seed in SEEDS:
        with Image.open(io.BytesIO(seed)) as image:
            image.load()
