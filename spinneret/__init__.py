"""Spinneret: find known images on registered websites and get them taken down.

The installed namespace holds every package (`spinneret.matcher`, `spinneret.crawler`, ...);
in the repository they are its top-level folders, mapped by pyproject's `package-dir`.
"""

from pathlib import Path

__version__ = "0.1.0"

# Imported from a source checkout without its install (`python -m spinneret` run in the
# repository puts the checkout first on sys.path, whatever is installed), the namespace's
# other packages are the checkout's folders: found there too, not half here, half installed.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "runtime" / "__init__.py").is_file():
    __path__.append(str(_checkout))
