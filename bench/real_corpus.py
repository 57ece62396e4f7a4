"""Real photographs and artwork for calibrating thresholds, and distractors made from them.

    python bench/real_corpus.py [--cache-dir DIR]     # fetch, unpack, list what was found

Sources (never committed; fetched into a cache directory, by default
`$XDG_CACHE_HOME/spinneret-bench/real-images`, or `SPINNERET_BENCH_IMAGES`):

- Debian wallpaper and artwork packages (`PACKAGES`), fetched with `apt-get download` and
  unpacked with `dpkg-deb -x` (nothing is installed);
- the photos scikit-image bundles (`skimage.data`, only the files it ships; no download).

Selection: raster files (PNG, JPEG, WebP) at least `MIN_SIDE` pixels on both sides, without
thumbnails (`screenshot.*`, `*preview*`); byte-identical files once; of a design shipped at
several resolutions, the largest landscape one. Each is scaled to at most `MAX_SIDE` pixels
and cached as PNG.

Each image belongs to a *family* (a Plasma wallpaper with its dark version, a GNOME
`-l`/`-d` pair, a desktop-base theme's grub/login/splash images): images of one family are
related and never counted as unrelated pairs. Families are split by a hash of their name into
`tune` (thresholds are fitted on these) and `held-out` (validated on these only).

Distractors generated from them (`distractors`): crops of four different regions of each
image (same family as the image), and procedural smooth gradients and repeating patterns
(stripes, checkers, dots, tiles of a real image's patch), some as dark/light pairs of one
design (one family per design).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: Debian packages of wallpapers and artwork (none of them used by the tests).
PACKAGES = (
    "desktop-base", "plasma-workspace-wallpapers", "mate-backgrounds", "gnome-backgrounds",
    "sway-backgrounds", "ukui-wallpapers", "lomiri-wallpapers", "debian-edu-artwork-emerald",
    "debian-edu-artwork-softwaves", "debian-edu-artwork-spacefun",
)
#: scikit-image's bundled photos (RGB or gray, no download needed); not `cat`, which is
#: `chelsea` again.
SKIMAGE = ("astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins",
           "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
           "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text", "cell",
           "stereo_motorcycle")
RASTER = (".png", ".jpg", ".jpeg", ".webp")
MIN_SIDE = 480
#: Scaled down once: every hash reads a 64x64 (or smaller) summary, and encoding the edited
#: copies of 1024-pixel images as PNG would take most of the run.
MAX_SIDE = 640
SPLITS = ("tune", "held-out")
_RESOLUTION = re.compile(r"[_-]?\d{3,4}x\d{3,4}(_portrait)?$", re.IGNORECASE)
_SHADE = re.compile(r"[-_](l|d|dark|light|day|night)$", re.IGNORECASE)
#: Packaged designs that are colour versions of one picture, by name prefix -> family.
_ALIASES = {"mate-backgrounds/ubuntu-mate-": "mate-backgrounds/ubuntu-mate",
            "mate-backgrounds/mate-stripes": "mate-backgrounds/stripes"}


@dataclass(frozen=True)
class CorpusImage:
    name: str
    family: str
    kind: str  # "package", "skimage", "region", "gradient", "pattern"
    image: Image.Image

    @property
    def split(self) -> str:
        return split_of(self.family)


def split_of(family: str) -> str:
    """`tune` or `held-out`, fixed by the family's name (stable across runs and machines)."""
    digest = hashlib.sha256(family.encode()).digest()
    return SPLITS[digest[0] & 1]


def default_cache_dir() -> Path:
    configured = os.environ.get("SPINNERET_BENCH_IMAGES")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "spinneret-bench" / "real-images"


# --- fetching ---------------------------------------------------------------------------------


def fetch_packages(cache: Path, log=print) -> list[str]:
    """Download and unpack every package not unpacked yet; returns the notes (failures)."""
    debs, unpacked = cache / "debs", cache / "unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    notes = []
    for package in PACKAGES:
        target = unpacked / package
        if (target / ".done").is_file():
            continue
        found = sorted(debs.glob(f"{package}_*.deb"))
        try:
            if not found:
                log(f"apt-get download {package}")
                result = subprocess.run(["apt-get", "download", package], cwd=debs,
                                        capture_output=True, text=True)
                found = sorted(debs.glob(f"{package}_*.deb"))
                if result.returncode != 0 or not found:
                    reason = (result.stderr.strip().splitlines() or ["no .deb written"])[-1]
                    notes.append(f"{package}: not fetched ({reason})")
                    continue
            target.mkdir(parents=True, exist_ok=True)
            unpack = subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(target)],
                                    capture_output=True, text=True)
        except FileNotFoundError as missing:  # not a Debian-like system
            notes.append(f"{missing.filename} not found: Debian packages skipped")
            break
        if unpack.returncode != 0:
            notes.append(f"{package}: not unpacked ({unpack.stderr.strip()[-200:]})")
            continue
        (target / ".done").write_text(found[-1].name + "\n")
    return notes


# --- selection --------------------------------------------------------------------------------


def _family_and_design(package: str, path: Path) -> tuple[str, str]:
    """(family, design) of a packaged file: the design groups one picture's resolutions,
    the family groups related pictures (dark/light versions, a theme's images)."""
    parts = path.parts
    stem = path.stem
    if "wallpapers" in parts and "contents" in parts:  # Plasma: wallpapers/<Name>/contents/..
        name = parts[parts.index("contents") - 1]
        folder = parts[parts.index("contents") + 1]
        return f"{package}/{name}", f"{package}/{name}/{folder}"
    for part in parts:
        if part.endswith("-theme"):
            theme = part.removesuffix("-theme").removeprefix("debian-edu-")
            return f"theme/{theme}", f"{package}/{path.parent}/{stem}"
    if "plymouth" in parts and "themes" in parts:
        theme = parts[parts.index("themes") + 1].removeprefix("debian-edu-")
        return f"theme/{theme}", f"{package}/{path.parent}/{stem}"
    design = _RESOLUTION.sub("", stem)
    family = f"{package}/{_SHADE.sub('', design).lower()}"
    for prefix, alias in _ALIASES.items():
        if family.startswith(prefix):
            family = alias
    return family, f"{package}/{path.parent}/{design}"


def packaged_files(cache: Path) -> Iterator[tuple[str, str, Path]]:
    """(family, design, path) of every usable raster file, byte-identical files once."""
    seen: set[str] = set()
    for package in PACKAGES:
        root = cache / "unpacked" / package
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in RASTER or not path.is_file():
                continue
            lowered = path.name.lower()
            if lowered.startswith("screenshot") or "preview" in lowered:
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            family, design = _family_and_design(package, path.relative_to(root))
            yield family, design, path


def _prepared(cache: Path, key: str, load) -> Image.Image:
    """The image scaled to at most MAX_SIDE, cached as PNG under `prepared/`."""
    key = f"{key}@{MAX_SIDE}"
    target = cache / "prepared" / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".png")
    if target.is_file():
        with Image.open(target) as cached:
            return cached.convert("RGB")
    image = load()
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
    return image


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P"):
            # Transparent artwork is shown on a desktop's default dark background.
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (32, 32, 32))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")


def package_images(cache: Path) -> list[CorpusImage]:
    images = []
    for design, family, path in _selection(cache):
        image = _prepared(cache, path, lambda p=cache / path: _open_rgb(p))
        images.append(CorpusImage(design, family, "package", image))
    return images


def _selection(cache: Path) -> list[tuple[str, str, str]]:
    """(design, family, path under `cache`) of the chosen files, remembered in
    `selection.json` (reading every packaged file again takes most of a minute)."""
    manifest = cache / "selection.json"
    params = {"packages": list(PACKAGES), "min_side": MIN_SIDE, "version": 1}
    if manifest.is_file():
        stored = json.loads(manifest.read_text())
        if stored.get("params") == params:
            return [tuple(row) for row in stored["rows"]]
    best: dict[str, tuple[str, Path, tuple[int, int]]] = {}
    for family, design, path in packaged_files(cache):
        with Image.open(path) as probe:
            size = probe.size
        if min(size) < MIN_SIDE:
            continue
        score = (size[0] >= size[1], size[0] * size[1])
        current = best.get(design)
        if current is None or score > (current[2][0] >= current[2][1], current[2][0] * current[2][1]):
            best[design] = (family, path, size)
    rows = [(design, family, str(path.relative_to(cache)))
            for design, (family, path, _) in sorted(best.items())]
    manifest.write_text(json.dumps({"params": params, "rows": rows}, indent=0))
    return rows


def skimage_images(cache: Path) -> tuple[list[CorpusImage], list[str]]:
    try:
        import skimage.data
    except ImportError:
        return [], ["scikit-image not installed (pip install -e '.[bench]'): its photos skipped"]
    images, notes = [], []
    for name in SKIMAGE:
        try:
            array = getattr(skimage.data, name)()
        except Exception as error:  # a photo this version does not bundle
            notes.append(f"skimage.data.{name}: {type(error).__name__}")
            continue
        if isinstance(array, tuple):  # stereo pairs: the left view
            array = array[0]
        array = np.asarray(array)
        if array.dtype != np.uint8:
            array = np.clip(array * (255.0 / max(float(array.max()), 1e-9)), 0, 255)
            array = array.astype(np.uint8)
        image = Image.fromarray(array).convert("RGB")
        if min(image.size) < 128:
            continue
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        images.append(CorpusImage(f"skimage/{name}", f"skimage/{name}", "skimage", image))
    return images, notes


# --- distractors ------------------------------------------------------------------------------


def region_crops(source: CorpusImage) -> list[CorpusImage]:
    """Four crops of different regions (each half the width and height), same family."""
    w, h = source.image.size
    boxes = {"top-left": (0, 0, w // 2, h // 2), "top-right": (w // 2, 0, w, h // 2),
             "bottom-left": (0, h // 2, w // 2, h), "centre": (w // 4, h // 4, 3 * w // 4,
                                                               3 * h // 4)}
    return [CorpusImage(f"{source.name}#{where}", source.family, "region",
                        source.image.crop(box)) for where, box in boxes.items()]


_SIZES = ((640, 480), (800, 600), (1024, 576), (768, 768))


def _palette(rng: np.random.Generator, shade: str) -> np.ndarray:
    """Two RGB colours: dark shades (0-110), light (150-255) or any."""
    low, high = {"dark": (0, 110), "light": (150, 256), "any": (0, 256)}[shade]
    return rng.integers(low, high, size=(2, 3)).astype(np.float64)


def gradient(seed: int, shade: str = "any") -> Image.Image:
    """A smooth linear or radial gradient between two colours (the kind a wallpaper is)."""
    rng = np.random.default_rng(seed)
    w, h = _SIZES[seed % len(_SIZES)]
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    if rng.random() < 0.5:
        angle = rng.uniform(0, np.pi)
        t = x * np.cos(angle) + y * np.sin(angle)
    else:
        cx, cy = rng.uniform(0, w / max(w, h)), rng.uniform(0, h / max(w, h))
        t = np.hypot(x - cx, y - cy)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-9)
    a, b = _palette(rng, shade)
    pixels = a[None, None, :] * (1 - t[..., None]) + b[None, None, :] * t[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def pattern(seed: int, shade: str = "any", tile_from: Image.Image | None = None) -> Image.Image:
    """A repeating pattern: stripes, checkers, dots, or a tiled patch of `tile_from`."""
    rng = np.random.default_rng(seed)
    w, h = _SIZES[seed % len(_SIZES)]
    kind = ("stripes", "checkers", "dots", "tiles")[seed % 4 if tile_from is not None else seed % 3]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    period = rng.uniform(12, 90)
    if kind == "tiles" and tile_from is not None:
        side = int(rng.integers(48, 160))
        sx = int(rng.integers(0, max(1, tile_from.width - side)))
        sy = int(rng.integers(0, max(1, tile_from.height - side)))
        patch = np.asarray(tile_from.crop((sx, sy, sx + side, sy + side)))
        reps = (h // patch.shape[0] + 1, w // patch.shape[1] + 1, 1)
        pixels = np.tile(patch, reps)[:h, :w].astype(np.float64)
        if shade != "any":  # the same tiles as a dark or light design
            pixels = pixels * 0.45 if shade == "dark" else 255 - (255 - pixels) * 0.45
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        mask = ((x * np.cos(angle) + y * np.sin(angle)) // (period / 2)) % 2
    elif kind == "checkers":
        mask = ((x // period) + (y // period)) % 2
    else:
        cx, cy = (x % period) - period / 2, (y % period) - period / 2
        mask = (np.hypot(cx, cy) < period * rng.uniform(0.15, 0.4)).astype(np.float64)
    a, b = _palette(rng, shade)
    pixels = a[None, None, :] * (1 - mask[..., None]) + b[None, None, :] * mask[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def procedural(count: int, tile_sources: list[CorpusImage]) -> list[CorpusImage]:
    """`count` gradients and `count` patterns; every third design also as a dark/light pair
    (one family)."""
    out = []
    for seed in range(count):
        family = f"gradient/{seed}"
        if seed % 3 == 0:
            for shade in ("dark", "light"):
                out.append(CorpusImage(f"{family}-{shade}", family, "gradient",
                                       gradient(seed, shade)))
        else:
            out.append(CorpusImage(family, family, "gradient", gradient(seed)))
        family = f"pattern/{seed}"
        tile = tile_sources[seed % len(tile_sources)].image if tile_sources else None
        if seed % 3 == 0:
            for shade in ("dark", "light"):
                out.append(CorpusImage(f"{family}-{shade}", family, "pattern",
                                       pattern(seed, shade, tile)))
        else:
            out.append(CorpusImage(family, family, "pattern", pattern(seed, "any", tile)))
    return out


def load_corpus(cache: Path | None = None, procedural_count: int = 60, fetch: bool = True,
                log=print) -> tuple[list[CorpusImage], list[CorpusImage], list[str]]:
    """(sources, distractors, notes): the real images, and what is generated from them."""
    cache = cache or default_cache_dir()
    notes = fetch_packages(cache, log) if fetch else []
    sources = package_images(cache)
    extra, more_notes = skimage_images(cache)
    sources += extra
    notes += more_notes
    if not sources:
        notes.append(f"no real images found under {cache}")
    made = [crop for source in sources for crop in region_crops(source)]
    made += procedural(procedural_count, sources)
    return sources, made, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    sources, made, notes = load_corpus(args.cache_dir)
    for note in notes:
        print(f"note: {note}")
    families = {s.family for s in sources}
    for split in SPLITS:
        in_split = [s for s in sources if s.split == split]
        print(f"{split}: {len(in_split)} images of "
              f"{len({s.family for s in in_split})} families")
    print(f"{len(sources)} real images, {len(families)} families; "
          f"{len(made)} generated distractors")
    for source in sources:
        print(f"  {source.split:8} {source.family:45} {source.name} {source.image.size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
