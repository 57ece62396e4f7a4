"""Pure unit tests of the calibration bench's parts: how real images are grouped into
families (related images are never counted as unrelated pairs), the tune/held-out split, the
generated distractors, and the tail models thresholds are fitted with."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import calibrate  # noqa: E402
import real_corpus  # noqa: E402


@pytest.mark.parametrize(("package", "path", "family", "design"), [
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/Kay/contents/images/5120x2880.png",
     "plasma-workspace-wallpapers/Kay", "plasma-workspace-wallpapers/Kay/images"),
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/Kay/contents/images_dark/1080x1920.png",
     "plasma-workspace-wallpapers/Kay", "plasma-workspace-wallpapers/Kay/images_dark"),
    ("gnome-backgrounds", "usr/share/backgrounds/gnome/adwaita-d.webp",
     "gnome-backgrounds/adwaita", "gnome-backgrounds/usr/share/backgrounds/gnome/adwaita-d"),
    ("gnome-backgrounds", "usr/share/backgrounds/gnome/adwaita-l.webp",
     "gnome-backgrounds/adwaita", "gnome-backgrounds/usr/share/backgrounds/gnome/adwaita-l"),
    ("mate-backgrounds", "usr/share/backgrounds/mate/abstract/Elephants_3840x2160.jpg",
     "mate-backgrounds/elephants", "mate-backgrounds/usr/share/backgrounds/mate/abstract/Elephants"),
    ("mate-backgrounds", "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png",
     "mate-backgrounds/ubuntu-mate",
     "mate-backgrounds/usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo"),
    ("desktop-base", "usr/share/desktop-base/joy-theme/grub/grub-4x3.png", "theme/joy",
     "desktop-base/usr/share/desktop-base/joy-theme/grub/grub-4x3"),
    ("desktop-base", "usr/share/plymouth/themes/joy/background.png", "theme/joy",
     "desktop-base/usr/share/plymouth/themes/joy/background"),
    ("sway-backgrounds", "usr/share/backgrounds/sway/Sway_Wallpaper_Blue_768x1024_Portrait.png",
     "sway-backgrounds/sway_wallpaper_blue",
     "sway-backgrounds/usr/share/backgrounds/sway/Sway_Wallpaper_Blue"),
])
def test_related_files_share_a_family_and_resolutions_share_a_design(
        package: str, path: str, family: str, design: str) -> None:
    assert real_corpus._family_and_design(package, Path(path)) == (family, design)


def test_the_split_is_fixed_by_name_and_uses_both_halves() -> None:
    names = [f"family/{i}" for i in range(200)]
    splits = [real_corpus.split_of(n) for n in names]
    assert splits == [real_corpus.split_of(n) for n in names]
    assert 60 < splits.count("tune") < 140


def test_generated_distractors_differ_and_dark_light_pairs_share_a_family() -> None:
    made = real_corpus.procedural(6, [])
    arrays = [np.asarray(m.image) for m in made]
    assert len({a.tobytes() for a in arrays}) == len(arrays)
    pairs = [m for m in made if m.family == "gradient/0"]
    assert [m.name for m in pairs] == ["gradient/0-dark", "gradient/0-light"]
    dark, light = (np.asarray(m.image).mean() for m in pairs)
    assert dark < 110 < 150 < light


def test_region_crops_keep_the_family_and_cover_different_regions() -> None:
    image = real_corpus.gradient(5)
    source = real_corpus.CorpusImage("src", "fam", "package", image)
    crops = real_corpus.region_crops(source)
    assert {c.family for c in crops} == {"fam"}
    assert len({np.asarray(c.image).tobytes() for c in crops}) == 4


def test_the_binomial_model_recovers_independent_bits() -> None:
    bits = 64
    hist = np.rint(binom.pmf(np.arange(bits + 1), bits, 0.5) * 1e7).astype(np.int64)
    p, dof, cdf = calibrate.binomial_model(hist, bits)
    assert p == pytest.approx(0.5, abs=1e-3)
    assert dof == pytest.approx(64, rel=0.02)
    assert cdf(10) == pytest.approx(binom.cdf(10, 64, 0.5), rel=0.2)


def test_correlated_bits_give_fewer_degrees_of_freedom_and_a_heavier_tail() -> None:
    bits = 64
    # Every bit repeated 4 times: 16 independent bits seen as 64.
    hist = np.zeros(bits + 1, np.int64)
    hist[::4] = np.rint(binom.pmf(np.arange(17), 16, 0.5) * 1e7).astype(np.int64)
    _, dof, cdf = calibrate.binomial_model(hist, bits)
    assert dof == pytest.approx(16, rel=0.05)
    assert cdf(8) > 100 * binom.cdf(8, 64, 0.5)


def test_the_fitted_threshold_stays_below_every_measured_unrelated_pair() -> None:
    bits = 64
    hist = np.rint(binom.pmf(np.arange(bits + 1), bits, 0.5) * 1e6).astype(np.int64)
    clean = calibrate.fit(hist, bits, 1e-6, 1e-4)
    assert clean["auto"] > 0 and clean["review"] >= clean["auto"]
    hist[2] += 1  # one unrelated pair 2 bits apart
    assert calibrate.fit(hist, bits, 1e-6, 1e-4)["auto"] < 2


def test_fetching_without_apt_is_a_note_not_a_traceback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    notes = real_corpus.fetch_packages(tmp_path / "cache", log=lambda _: None)
    assert notes == ["apt-get not found: Debian packages skipped"]
    assert not (tmp_path / "cache" / "unpacked").exists()
