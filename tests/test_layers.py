"""The layers only point down: an AST check of every import in the installed packages.

docs/architecture.md draws the same graph. An import inside a function counts too: a lazy
import that points up is still a dependency that points up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Layer folder -> the folder on disk that holds it (see pyproject's package-dir).
FOLDERS = {
    "config": "config", "matcher": "matcher", "crawler": "crawler", "records": "records",
    "notices": "notices", "runtime": "runtime", "worker": "worker", "api": "api",
    "cli": "spinneret/cli", "demo": "spinneret/demo",
}

# Who may import whom (besides itself). Domain packages know nothing of the faces or the
# composition root; the faces (api, worker, cli) meet only in the composition root.
ALLOWED = {
    "config": set(),
    "matcher": {"config"},
    "crawler": {"config"},
    "records": {"config"},
    "notices": {"config", "records", "matcher", "crawler"},
    "runtime": {"config", "matcher", "crawler", "records", "notices"},
    "worker": {"config", "matcher", "crawler", "records", "notices", "runtime"},
    "api": {"config", "matcher", "crawler", "records", "notices", "runtime"},
    "demo": {"config", "matcher", "crawler", "records", "notices", "runtime"},
    "cli": {"config", "matcher", "crawler", "records", "notices", "runtime", "api", "demo"},
}


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "spinneret" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in FOLDERS else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "spinneret":  # from spinneret import matcher
                found += [(node.lineno, f"spinneret.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _edges() -> list[tuple[str, str, str]]:
    edges = []
    for layer, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for lineno, module in _imports(path):
                target = _layer_of(module)
                if target is not None and target != layer:
                    edges.append((layer, target, f"{path.relative_to(ROOT)}:{lineno} {module}"))
    return edges


def test_no_import_points_up() -> None:
    wrong = [where for layer, target, where in _edges() if target not in ALLOWED[layer]]
    assert not wrong, "imports that point up or across:\n" + "\n".join(wrong)


def test_old_top_level_names_are_not_imported() -> None:
    """Every import of ours goes through the one namespace (`spinneret.matcher`, not
    `matcher`): the old names are not installed any more."""
    old = {"config", "matcher", "crawler", "records", "notices", "worker", "api", "runtime"}
    folders = [*FOLDERS.values(), "tests", "bench"]
    wrong = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for lineno, module in _imports(path):
                if module.split(".")[0] in old:
                    wrong.append(f"{path.relative_to(ROOT)}:{lineno} {module}")
    assert not wrong, "imports of the old top-level names:\n" + "\n".join(wrong)


# Calls that import a package named by a string (templates, data files, lazy modules).
_STRING_IMPORTS = {"PackageLoader", "import_module", "files", "find_spec"}


def test_packages_named_in_strings_are_namespaced() -> None:
    """`PackageLoader("notices", ...)` works from a checkout (its root is on sys.path in the
    tests) and fails in an installed wheel: a string naming an old top-level package is as
    wrong as an import of it."""
    old = {"config", "matcher", "crawler", "records", "notices", "worker", "api", "runtime"}
    wrong = []
    for folder in FOLDERS.values():
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                first = node.args[0]
                if (name in _STRING_IMPORTS and isinstance(first, ast.Constant)
                        and isinstance(first.value, str)
                        and first.value.split(".")[0] in old):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {first.value!r}")
    assert not wrong, "old package names in strings:\n" + "\n".join(wrong)


@pytest.mark.parametrize("layer", sorted(FOLDERS))
def test_every_layer_folder_exists(layer: str) -> None:
    assert (ROOT / FOLDERS[layer] / "__init__.py").is_file()
