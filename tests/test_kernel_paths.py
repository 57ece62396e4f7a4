"""The hashing kernels' two implementations (matcher.kernels): numpy / Pillow and numba give
the same numbers, so a hash does not depend on which process computed it."""

from __future__ import annotations

import numpy as np
import pytest

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher import kernels
from spinneret.matcher.algorithms import _pdq_kernel, _resample_kernel, _window_kernel
from spinneret.matcher.algorithms.cropdct import CROP_GUESSES, window_edges
from spinneret.matcher.hashing import hash_image_decoded


@pytest.fixture
def both_paths():
    """Calls `fn` with numpy kernels, then with numba ones; returns both results."""

    def run(fn):
        results = []
        for compiled in (False, True):
            kernels.prefer_compiled(compiled)
            assert kernels.compiled() is compiled
            results.append(fn())
        return results

    yield run
    kernels.prefer_compiled(None)


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    images = []
    for n in range(24):
        width, height = int(rng.integers(40, 900)), int(rng.integers(40, 900))
        if n % 3 == 0:
            images.append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        else:
            images.append(np.asarray(generate(n, (width, height))))
    images.append(np.full((64, 80, 3), 128, np.uint8))  # flat
    return images


@pytest.mark.parametrize("index", range(len(_images())))
def test_pdq_samples_and_quality_are_identical(both_paths, index):
    rgb = _images()[index]
    rows = _pdq_kernel.axis_taps(rgb.shape[0])
    cols = _pdq_kernel.axis_taps(rgb.shape[1])

    def run():
        samples = _pdq_kernel._samples(rgb, *rows, *cols)
        return samples, _pdq_kernel._quality(samples)

    (numpy_samples, numpy_quality), (numba_samples, numba_quality) = both_paths(run)
    assert np.array_equal(numpy_samples, numba_samples)  # every float64, not just close
    assert numpy_quality == numba_quality


@pytest.mark.parametrize("index", range(len(_images())))
def test_cropdct_windows_are_identical(both_paths, index):
    gray = np.ascontiguousarray(_images()[index][..., 1])
    ys = np.stack([window_edges(gray.shape[0], c) for c in CROP_GUESSES])
    xs = np.stack([window_edges(gray.shape[1], c) for c in CROP_GUESSES])
    (a_samples, a_quality), (b_samples, b_quality) = both_paths(
        lambda: _window_kernel.window_samples(gray, ys, xs))
    assert np.array_equal(a_samples, b_samples) and np.array_equal(a_quality, b_quality)


@pytest.mark.parametrize("index", range(len(_images())))
def test_lanczos_shrinks_are_identical(both_paths, index):
    gray = np.ascontiguousarray(_images()[index][..., 0])
    for size in [(32, 32), (9, 8), (gray.shape[1] // 3 + 1, 17)]:
        a, b = both_paths(lambda size=size: _resample_kernel.resize_lanczos(gray, size))
        assert np.array_equal(a, b), size


@pytest.mark.parametrize("seed", range(6))
def test_every_hash_and_query_variant_is_identical(both_paths, seed):
    data = encode(generate(seed, (900 - 90 * seed, 500 + 60 * seed)), "JPEG")
    a, b = both_paths(lambda: hash_image_decoded(data, variants=True, dihedral=True)[0])
    assert a.values == b.values and a.variants == b.variants


def test_without_numba_installed_the_kernels_run_numpy(monkeypatch):
    monkeypatch.setattr(kernels, "numba_installed", lambda: False)
    kernels.prefer_compiled(True)
    try:
        assert kernels.compiled() is False
    finally:
        kernels.prefer_compiled(None)
