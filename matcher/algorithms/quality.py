"""How much a perceptual hash says about its image: a 0-100 quality (see docs/matching.md,
"Quality: hashes that say little").

Two things make a hash weak, and a quality is the smaller of the two scores:

- **Stability** (from the image): the share of bits whose underlying value is far enough
  from the threshold that an ordinary edit does not flip it. A smooth or flat image's bits
  are decided by noise, and such a hash lands near the hash of any other smooth image.
- **Shape** (from the hash alone, so list entries without an image can be judged): the bit
  balance (all-zero, all-one, a near-constant popcount) and the number of distinct rows of
  the square bit matrix (a repeated byte pattern such as e0e0e0e0e0e0e0e0 has one).

Both are pure numpy; `shape_qualities` scores a whole column of stored hashes at once.
"""

from __future__ import annotations

import math

import numpy as np

#: Popcounts below this share of the bits (or above 1 - it) score under 100 and halve at it:
#: with 64 bits, 24 or more set bits score 100, 12 score 50, 7 score 29.
BALANCED_SHARE = 0.375


def _balance(popcount: np.ndarray, bits: int) -> np.ndarray:
    low = np.minimum(popcount, bits - popcount)
    return np.minimum(1.0, low / (bits * BALANCED_SHARE))


def _distinct_rows(matrix: np.ndarray) -> np.ndarray:
    """Distinct rows per hash of an (n, side, side) 0/1 array."""
    n, side, _ = matrix.shape
    rows = np.packbits(matrix, axis=2).reshape(n, side, -1)
    rows = np.ascontiguousarray(rows).view(f"V{rows.shape[2]}").reshape(n, side)
    ordered = np.sort(rows, axis=1)
    return 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)


def _rows_score(distinct: np.ndarray, side: int) -> np.ndarray:
    # One distinct row scores 0; half the rows distinct or more score 1.
    return np.minimum(1.0, (distinct - 1) / ((side - 1) / 2))


def shape_scores(digests: np.ndarray) -> np.ndarray:
    """Shape score 0..1 of each hash in an (n, bytes) uint8 array (MSB first)."""
    digests = np.asarray(digests, dtype=np.uint8)
    n, width = digests.shape
    bits = width * 8
    side = math.isqrt(bits)
    unpacked = np.unpackbits(digests, axis=1)
    popcount = unpacked.sum(axis=1, dtype=np.int64)
    scores = _balance(popcount, bits)
    if side * side == bits:
        distinct = _distinct_rows(unpacked.reshape(n, side, side))
        scores = np.minimum(scores, _rows_score(distinct, side))
    return scores


def shape_qualities(digests: np.ndarray) -> np.ndarray:
    """`shape_quality` of each hash in an (n, bytes) uint8 array: int 0-100."""
    return np.rint(100 * shape_scores(digests)).astype(np.int64)


def shape_quality(hex_: str) -> int:
    """0-100 from the hash alone: 0 for all-zero, all-one or one repeated row; 100 for a
    balanced hash with varied rows."""
    digest = np.frombuffer(bytes.fromhex(hex_), dtype=np.uint8)[None, :]
    return int(shape_qualities(digest)[0])


def stable_share(margins: np.ndarray, margin: float) -> float:
    """Share of bits whose value lies at least `margin` from the threshold."""
    return float((np.abs(margins) >= margin).mean())


def quality(bits: np.ndarray, margins: np.ndarray, margin: float) -> int:
    """The quality of a hash with these bits (0/1, row-major) whose values lie `margins` from
    their threshold: the smaller of its stability and its shape, as 0-100."""
    packed = np.packbits(np.asarray(bits, dtype=bool).reshape(-1))[None, :]
    score = min(stable_share(margins, margin), float(shape_scores(packed)[0]))
    return int(round(100 * score))
