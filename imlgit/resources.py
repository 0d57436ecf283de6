"""Where the shipped files are: the memory repo template and the git hooks.

In the source tree they are ``memory_repo/`` and ``hooks/`` at the top level; in a
wheel they are the packages ``imlgit._template`` and ``imlgit._hooks``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["template_dir", "hooks_dir"]

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _find(package: str, source_name: str, probe: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / probe).exists():
                return Path(location)
    candidate = _SOURCE_ROOT / source_name
    if (candidate / probe).exists():
        return candidate
    raise FileNotFoundError(
        f"imlgit's {source_name}/ files are missing from this installation; reinstall imlgit"
    )


def template_dir() -> Path:
    """The directory a new memory repository is copied from."""
    return _find("imlgit._template", "memory_repo", "imlgit.toml")


def hooks_dir() -> Path:
    """The directory holding the git hooks installed into memory repositories."""
    return _find("imlgit._hooks", "hooks", "pre-commit")
