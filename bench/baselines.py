"""The naive hashing baseline the benchmarks compare against: each library as its README
shows, on the full-size image (Pillow open -> RGB -> imagehash pHash/dHash, pdqhash, hashlib)."""

from __future__ import annotations

import hashlib
import io

import imagehash
import numpy as np
import pdqhash
from PIL import Image


def naive(data: bytes) -> None:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    imagehash.phash(image)
    imagehash.dhash(image)
    pdqhash.compute(np.asarray(image))
    hashlib.sha256(data).hexdigest()
    hashlib.md5(data).hexdigest()
