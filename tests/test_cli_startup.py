"""Starting the CLI costs only what the command uses (issue 14): each command's module and its
heavy dependencies (numba, scipy, Celery, SQLAlchemy, aiohttp) load only where used, checked
in real `spinneret` processes through a hook that records `sys.modules` at exit. Plus: a
database URL whose driver is missing is one line; numba caches outside the installed sources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spinneret.cli import COMMANDS, PROGRAM, SUMMARY, app
from spinneret.cli.help_page import root_help
from spinneret.demo.edits import encode
from spinneret.demo.images import generate

# Runs the CLI as the console script does, recording the imported modules when it exits
# (through atexit, or through the os._exit that ends a command without teardown).
HOOK = """
import atexit, json, os, sys
out = sys.argv.pop(1)
record = lambda: open(out, "w").write(json.dumps(sorted(sys.modules)))
atexit.register(record)
_exit = os._exit
os._exit = lambda status: (record(), _exit(status))
sys.argv[0] = "spinneret"
from spinneret.cli import run
run()
"""
NOT_FOR_HELP = ("numba", "scipy", "celery", "sqlalchemy", "aiohttp", "numpy",
                "spinneret.crawler", "spinneret.records", "spinneret.notices",
                "spinneret.matcher", "typer", "rich", "click", "pydantic")
# numba and scipy: the hashing kernels run in numpy there, pHash's DCT is a matrix product;
# pydantic_settings: with every setting at its default the hash options are the defaults.
NOT_FOR_HASH = ("celery", "sqlalchemy", "aiohttp", "spinneret.crawler", "spinneret.records",
                "spinneret.notices", "redis", "numba", "llvmlite", "scipy", "pydantic_settings")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("SPINNERET_")}
    return {**env, "SPINNERET_DATA_DIR": str(tmp_path / "data"), **extra}


def run_recording_modules(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                          prelude: str = "") -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `spinneret ARGS` in a fresh process; (result, top-level packages it imported, and our subpackages)."""
    record = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", prelude + HOOK, str(record), *args], capture_output=True,
        text=True, env=env or _env(tmp_path), timeout=300,
    )
    # Top-level packages, and our own subpackages by their two-part names (spinneret.crawler).
    modules = {".".join(name.split(".")[:2]) if name.startswith("spinneret.") else
               name.split(".")[0] for name in json.loads(record.read_text())}
    return result, modules


def test_help_imports_no_command_module_nor_heavy_library(tmp_path):
    result, modules = run_recording_modules(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert modules.isdisjoint(NOT_FOR_HELP), sorted(modules & set(NOT_FOR_HELP))
    assert not any(name.startswith("spinneret.cli.") and name.endswith("_cmd")
                   for name in json.loads((tmp_path / "modules.json").read_text()))
    for name in COMMANDS:  # every command is still listed, with its help line
        assert f" {name} " in result.stdout, name


def test_hash_imports_no_sql_celery_or_web_stack(tmp_path):
    image = tmp_path / "one.jpg"
    image.write_bytes(encode(generate(3, (640, 480)), "JPEG"))
    result, modules = run_recording_modules(tmp_path, "hash", str(image), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(image)
    assert modules.isdisjoint(NOT_FOR_HASH), sorted(modules & set(NOT_FOR_HASH))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_registered_command_loads_from_its_module(name):
    import typer.main

    from spinneret.cli.lazy import LazyGroup, NotLoaded

    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    command = group.get_command(None, name)
    assert command is not None and not isinstance(command, NotLoaded), name
    assert command.name == name and (command.callback or getattr(command, "commands", None))


def test_missing_postgres_driver_is_one_line_naming_the_extra(tmp_path):
    env = _env(tmp_path, SPINNERET_DATABASE_URL="postgresql+psycopg://spin:secret@127.0.0.1/x")
    # The driver is made missing in the process: importing it fails as if not installed.
    result, _ = run_recording_modules(tmp_path, "sites", "ls", env=env,
                                      prelude="import sys; sys.modules['psycopg'] = None\n")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert "pip install 'spinneret[postgres]'" in lines[0]
    assert "secret" not in lines[0]  # the URL is shown with its password masked


KERNELS = """
import json, sys
{first}
from spinneret.matcher import _bucket_kernel, _hamming_kernel
from spinneret.matcher.algorithms import _pdq_numba, _resample_numba, _window_numba
kernels = [_bucket_kernel.bucket_fill, _hamming_kernel.probe_and_verify,
           _pdq_numba.samples, _resample_numba._horizontal, _window_numba.window_samples]
print(json.dumps([k._cache._cache_path for k in kernels]))
"""


@pytest.mark.parametrize("first", ["", "import numba"], ids=["matcher-first", "numba-first"])
def test_numba_caches_in_the_user_cache_dir_not_beside_the_sources(tmp_path, first):
    env = {name: value for name, value in os.environ.items() if name != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-c", KERNELS.format(first=first)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    paths = json.loads(result.stdout)
    assert len(paths) == 5
    for path in paths:
        assert Path(path).is_relative_to(tmp_path / "cache" / "spinneret" / "numba"), path


@pytest.mark.parametrize("width", [60, 80, 117, 200])
def test_root_help_without_typer_is_the_page_typer_draws(tmp_path, width):
    env = {**_env(tmp_path), "COLUMNS": str(width)}
    fast = subprocess.run(  # as the console script runs
        [sys.executable, "-c", "import sys; sys.argv[0] = '/usr/bin/spinneret'\n"
         "from spinneret.cli import run; run()", "--help"],
        capture_output=True, text=True, env=env, timeout=120)
    typer_page = subprocess.run(  # the same page through Typer and Rich
        [sys.executable, "-c", "import sys; sys.argv[0] = 'spinneret'\n"
         "from spinneret.cli import app; app()", "--help"],
        capture_output=True, text=True, env=env, timeout=120)
    assert fast.returncode == typer_page.returncode == 0, fast.stderr + typer_page.stderr
    assert fast.stdout == typer_page.stdout
    assert fast.stdout == root_help(PROGRAM, SUMMARY, COMMANDS, width)


def test_too_narrow_a_terminal_leaves_help_to_typer(tmp_path):
    assert root_help(PROGRAM, SUMMARY, COMMANDS, 40) is None
    result = subprocess.run([sys.executable, "-m", "spinneret", "--help"], capture_output=True,
                            text=True, env={**_env(tmp_path), "COLUMNS": "40"}, timeout=120)
    assert result.returncode == 0 and "Usage: python -m spinneret" in result.stdout


def test_help_through_python_dash_m_names_it_so(tmp_path):
    result = subprocess.run([sys.executable, "-m", "spinneret", "--help"], capture_output=True,
                            text=True, env=_env(tmp_path), timeout=120)
    assert result.returncode == 0
    assert result.stdout.splitlines()[1].startswith(
        " Usage: python -m spinneret [OPTIONS] COMMAND [ARGS]...")


def test_hash_ends_at_once_yet_writes_every_line(tmp_path):
    """`hash` ends with os._exit after flushing: a pipe gets all of a long output. So many
    files are a bulk run: the numba kernels, and the same hashes as numpy's."""
    from spinneret.cli.hash_cmd import BULK_FILES

    image = tmp_path / "one.png"
    image.write_bytes(encode(generate(5, (320, 240)), "PNG"))
    one, _ = run_recording_modules(tmp_path, "hash", str(image), "--format", "csv")
    result, modules = run_recording_modules(tmp_path, "hash", *[str(image)] * BULK_FILES,
                                            "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "numba" in modules
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + BULK_FILES * 6
    assert lines[-6:] == one.stdout.splitlines()[1:]


def test_hash_failure_status_survives_the_early_exit(tmp_path):
    result, _ = run_recording_modules(tmp_path, "hash", str(tmp_path / "missing.png"))
    assert result.returncode == 1
    assert "cannot read file" in result.stderr
