"""One shared test class run for every registered hash algorithm, plus registry rules."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from spinneret.demo.images import generate
from spinneret.matcher.algorithms import AlgorithmRegistry, HashAlgorithm, default_registry
from spinneret.matcher.algorithms.base import BytesAlgorithm, bits_to_hex, reference_image
from spinneret.matcher.algorithms.imagehashes import DHash, PHash, dhash_bits, phash_bits
from spinneret.matcher.decode import decode_image
from spinneret.matcher.errors import DuplicateAlgorithm, InvalidHash, UnknownAlgorithm

ALGORITHMS = list(default_registry())


def compute(algorithm: HashAlgorithm, data: bytes):
    if isinstance(algorithm, BytesAlgorithm):
        return algorithm.compute_bytes(data)
    return algorithm.compute(decode_image(data))


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
class TestEveryAlgorithm:
    def test_declares_a_sane_contract(self, algorithm: HashAlgorithm):
        assert algorithm.name == algorithm.name.lower() and algorithm.name.isidentifier()
        assert algorithm.bits > 0 and algorithm.bits % 4 == 0
        if algorithm.exact:
            assert algorithm.default_auto_distance == 0
        else:
            # auto 0 is allowed: an algorithm whose unrelated pairs come too close to decide
            # alone (cropdct on stripe patterns, docs/matching.md) only finds for review.
            assert 0 <= algorithm.default_auto_distance <= algorithm.default_review_distance
            assert algorithm.default_review_distance > 0
            assert algorithm.default_review_distance < algorithm.bits // 2

    def test_parse_format_round_trip(self, algorithm: HashAlgorithm):
        rng = np.random.default_rng(1)
        value = bytes(rng.integers(0, 256, algorithm.bits // 8, dtype=np.uint8)).hex()
        assert algorithm.parse(value) == value
        assert algorithm.parse(f"  0x{value.upper()}\n") == value
        assert algorithm.format(algorithm.parse(value)) == value
        assert algorithm.to_bytes(value) == bytes.fromhex(value)

    @pytest.mark.parametrize("bad", ["", "0", "abc", "zz"])
    def test_rejects_wrong_length(self, algorithm: HashAlgorithm, bad: str):
        with pytest.raises(InvalidHash, match=f"{algorithm.hex_length} hex digits"):
            algorithm.parse(bad)
        with pytest.raises(InvalidHash):
            algorithm.parse("0" * (algorithm.hex_length + 1))

    def test_rejects_non_hex(self, algorithm: HashAlgorithm):
        bad = "g" + "0" * (algorithm.hex_length - 1)
        with pytest.raises(InvalidHash, match="other than 0-9a-f"):
            algorithm.parse(bad)

    def test_computes_a_valid_deterministic_hash(self, algorithm: HashAlgorithm):
        data = reference_image()
        first, second = compute(algorithm, data), compute(algorithm, data)
        assert first == second
        assert first.algorithm == algorithm.name
        assert algorithm.parse(first.hex) == first.hex
        assert (first.quality is not None) == algorithm.has_quality

    def test_pinned_hash_of_fixed_synthetic_image(self, algorithm: HashAlgorithm):
        # The plug-in's own example (a change here changes every stored list's matches).
        assert compute(algorithm, reference_image()).hex == algorithm.reference_hash

    def test_small_jpeg_reencode(self, algorithm: HashAlgorithm):
        image = generate(3, (320, 240))
        original, reencoded = jpeg(image, 95), jpeg(image, 75)
        a, b = compute(algorithm, original), compute(algorithm, reencoded)
        if algorithm.exact:
            assert a.hex != b.hex  # other bytes, other digest: exact hashes are meant to break
        else:
            # Found at auto, or for review where the algorithm never decides alone (auto 0).
            found = algorithm.default_auto_distance or algorithm.default_review_distance
            assert distance(a.hex, b.hex) <= found


def test_default_registry_has_the_six_algorithms():
    assert default_registry().names() == ["sha256", "md5", "phash", "dhash", "pdq", "cropdct"]


def test_registry_rejects_duplicate_names_case_insensitively():
    registry = AlgorithmRegistry()
    registry.register(PHash())
    with pytest.raises(DuplicateAlgorithm, match="phash"):
        registry.register(PHash())

    class ShoutingPHash(PHash):
        name = "PHASH"

    with pytest.raises(DuplicateAlgorithm):
        registry.register(ShoutingPHash())
    assert registry.names() == ["phash"]


def test_registry_refuses_an_algorithm_that_hashes_nothing():
    """A plug-in says what it hashes by what it derives from; one that derives from neither
    kind is refused at registration, not when the first image arrives."""
    from spinneret.matcher.errors import PluginError

    class Nothing(HashAlgorithm):
        name = "nothing"
        bits = 64

    registry = AlgorithmRegistry()
    with pytest.raises(PluginError, match="must derive from ImageAlgorithm or BytesAlgorithm"):
        registry.register(Nothing())
    assert registry.names() == []


def test_registry_lookup_is_case_insensitive():
    registry = default_registry()
    assert registry.get("PDQ") is registry.get("pdq") is registry.get(" Pdq ")
    assert "SHA256" in registry and "nope" not in registry and 3 not in registry
    with pytest.raises(UnknownAlgorithm, match="unknown hash algorithm 'nope'"):
        registry.get("nope")


def _gray_samples() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    samples = [
        Image.new("L", (64, 64), 128),  # flat: every DCT coefficient ties
        Image.new("L", (7, 5), 0),  # smaller than the hash grid
        Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (40, 1))),
        Image.fromarray(rng.integers(0, 256, (300, 217), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 2, (50, 80), dtype=np.uint8) * 255),
    ]
    samples += [generate(seed, (160 + 37 * seed, 120)).convert("L") for seed in range(12)]
    return samples


@pytest.mark.parametrize("index", range(len(_gray_samples())))
def test_vectorised_phash_dhash_equal_imagehash(index: int):
    gray = _gray_samples()[index]
    assert bits_to_hex(phash_bits(gray)) == str(imagehash.phash(gray))
    assert bits_to_hex(dhash_bits(gray)) == str(imagehash.dhash(gray))


def test_perceptual_plugins_hash_the_shared_gray_working_image():
    data = jpeg(generate(5, (800, 600)), 90)
    decoded = decode_image(data)
    assert PHash().compute(decoded).hex == str(imagehash.phash(decoded.working))
    assert DHash().compute(decoded).hex == str(imagehash.dhash(decoded.working))
