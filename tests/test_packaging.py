"""The wheel installs one top-level name, `spinneret`, and every module imports from it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed() -> None:
    """A new subfolder with code (or templates) must be in pyproject's package list, or the
    wheel silently leaves it out."""
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    dirs = tool["package-dir"]
    on_disk = set()
    for package, folder in dirs.items():
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            sub = path.parent.relative_to(ROOT / folder).parts
            name = ".".join((package, *sub))
            if not any(name.startswith(f"{other}.") and other != package and
                       other.count(".") > package.count(".") for other in dirs):
                on_disk.add(name)
    assert on_disk <= listed, f"folders missing from [tool.setuptools] packages: {on_disk - listed}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(out), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    (found,) = out.glob("spinneret-*.whl")
    return found


def test_the_wheel_holds_only_the_spinneret_namespace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
        names = archive.namelist()
    assert {t for t in top if not t.endswith(".dist-info")} == {"spinneret"}
    for data in ("spinneret/api/templates/base.html.j2", "spinneret/api/static/app.css",
                 "spinneret/records/migrations/script.py.mako"):
        assert data in names


def test_wheel_in_a_fresh_venv_adds_one_name_and_runs(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    before = set(os.listdir(site))
    # This venv's pip installs the wheel into the fresh one (no index, no dependencies).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    added = set(os.listdir(site)) - before
    assert {a for a in added if not a.endswith(".dist-info")} == {"spinneret"}, added
    # Dependencies come from the test venv's site-packages as a plain path (its .pth files,
    # the editable install's finder among them, are not run), after the wheel's own.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = (
        "import importlib, pkgutil, spinneret\n"
        f"assert spinneret.__file__.startswith({str(site)!r}), spinneret.__file__\n"
        "names = [m.name for m in pkgutil.walk_packages(spinneret.__path__, 'spinneret.')]\n"
        # __main__ runs the CLI; migration scripts run only under Alembic
        "skip = ('spinneret.__main__', '.migrations.versions.', '.migrations.env')\n"
        "for name in names:\n"
        "    if not any(s in name for s in skip):\n"
        "        importlib.import_module(name)\n"
        # templates load from the installed package (a loader naming a package by a string
        # the checkout has but the wheel does not fails here)
        "from spinneret.notices.render import Renderer\n"
        "Renderer()\n"
        "print(len(names))\n"
    )
    done = subprocess.run([python, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 80
    cli = subprocess.run([venv / "bin" / "spinneret", "--help"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert cli.returncode == 0 and "lists" in cli.stdout, cli.stderr
    # `python -m` in the checkout puts its `spinneret/` first on sys.path, over the wheel (the
    # demo's worker is started so): the namespace's other packages must be found beside it.
    in_checkout = subprocess.run(
        [python, "-c", "import spinneret.notices.render as m, spinneret; print(m.__file__)"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert in_checkout.returncode == 0, in_checkout.stderr
    assert in_checkout.stdout.startswith(str(ROOT)), in_checkout.stdout


def test_the_dockerfile_copies_every_package_folder() -> None:
    """The image builds its wheel from the copied folders: one left out is a module missing
    from every container."""
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") and "--from" not in line}
    folders = set(_pyproject()["tool"]["setuptools"]["package-dir"].values())
    assert folders <= copied, f"not copied into the image: {folders - copied}"
