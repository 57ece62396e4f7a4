"""Hashes as uint64 words (MSB first): hex <-> words, Hamming distances, the brute-force
reference search, and the right-padded digest layout of the exact index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinneret.matcher.errors import InvalidHash


def words_for(bits: int) -> int:
    if bits <= 0 or bits % 64:
        raise ValueError(f"Hamming hashes must be a positive multiple of 64 bits, got {bits}")
    return bits // 64


def hex_to_words(hexes: Sequence[str], bits: int) -> np.ndarray:
    """Hex strings (MSB first) to an (n, bits/64) uint64 array; `InvalidHash` if malformed."""
    width = words_for(bits)
    raw = _hex_bytes(hexes, bits // 4, f"{bits}-bit hash")
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hexes), width)


def _hex_bytes(hexes: Sequence[str], digits: int, noun: str = "hash") -> bytes:
    """The bytes of equal-length hex strings, concatenated; `InvalidHash` if malformed."""
    for text in hexes:
        if len(text) != digits:
            raise InvalidHash(f"{noun} must be {digits} hex digits, got {len(text)}")
    try:
        return bytes.fromhex("".join(hexes))
    except ValueError:
        raise InvalidHash("hash has characters other than 0-9a-f") from None


def words_to_hex(words: np.ndarray) -> list[str]:
    words = np.atleast_2d(np.asarray(words, dtype=np.uint64))
    raw = words.astype(">u8").tobytes()
    step = words.shape[1] * 8
    return [raw[i : i + step].hex() for i in range(0, len(raw), step)]


def as_words(hashes: np.ndarray | Sequence[str], bits: int) -> np.ndarray:
    """Accept hex strings, an (n, W) uint64 array, or (n,) uint64 for 64-bit hashes."""
    width = words_for(bits)
    if isinstance(hashes, np.ndarray):
        array = hashes
        if array.ndim == 1 and width == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2 or array.shape[1] != width:
            raise ValueError(f"expected an (n, {width}) uint64 array, got shape {array.shape}")
        return np.ascontiguousarray(array, dtype=np.uint64)
    if isinstance(hashes, str):
        hashes = [hashes]
    return hex_to_words(list(hashes), bits)


def distances(hashes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distance of each row of (n, W) `hashes` to the (W,) `query`, as int32."""
    return np.bitwise_count(hashes ^ query).sum(axis=1, dtype=np.int32)


def brute_force(
    hashes: np.ndarray, query: np.ndarray, radius: int, alive: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Reference search: (positions, distances) of every row within `radius`, by position."""
    found = distances(hashes, query)
    ok = found <= radius
    if alive is not None:
        ok &= alive
    positions = np.flatnonzero(ok)
    return positions, found[positions]


def digest_words(hexes: Sequence[str], digits: int) -> np.ndarray:
    """Equal-length hex digests to an (n, ceil(digits / 16)) uint64 array, each right-padded
    with zero bytes to whole words; `InvalidHash` if malformed."""
    if digits <= 0 or digits % 2:
        raise InvalidHash(f"a hex digest has an even number of digits, not {digits}")
    return bytes_to_words(_hex_bytes(hexes, digits), digits // 2)


def bytes_to_words(raw: bytes, size: int) -> np.ndarray:
    """n digests of `size` bytes, concatenated, as right-padded (n, ceil(size / 8)) words."""
    width = -(-size // 8)
    count = len(raw) // size if size else 0
    if size % 8:
        padded = np.zeros((count, width * 8), dtype=np.uint8)
        padded[:, :size] = np.frombuffer(raw, dtype=np.uint8).reshape(count, size)
        raw = padded.tobytes()
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(count, width)
