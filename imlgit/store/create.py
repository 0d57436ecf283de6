"""What a new memory starts from: the template's files, and imlgit's git hooks."""

from __future__ import annotations

import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError
from ..rules import parse_rule, rule_id_from_path

__all__ = ["install_hooks", "new_directory", "template_files"]


@contextmanager
def new_directory(path: Path, refusal: str) -> Iterator[None]:
    """Make ``path`` (it must not exist, or be an empty directory: ``refusal`` says
    what to do instead) for what the block writes; when the block fails, remove
    what it made, so a failed init or clone leaves nothing behind (a directory
    that existed empty is left empty)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise StoreError(f"{path}: exists and is not empty; {refusal}")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        yield
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir():
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def template_files(src: Path) -> dict[str, bytes | None]:
    """path -> bytes of every file of the template at ``src``; its rules must parse."""
    files: dict[str, bytes | None] = {}
    for f in sorted(src.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts and f.name != "__init__.py":
            files[f.relative_to(src).as_posix()] = f.read_bytes()
    for rel, data in files.items():
        if rule_id_from_path(rel) is not None and data is not None:
            parse_rule(data, path=rel)
    return files


def install_hooks(target: Path, source: Path) -> list[str]:
    """Copy the hooks in ``source`` into the hooks directory ``target``, pointing at
    this Python; the names installed."""
    target.mkdir(exist_ok=True)
    installed = []
    for hook in sorted(source.iterdir()):
        if not hook.is_file() or hook.name.startswith(("_", ".")) or hook.suffix == ".py":
            continue
        text = hook.read_text(encoding="utf-8").replace("@PYTHON@", sys.executable)
        dest = target / hook.name
        dest.write_text(text, encoding="utf-8")
        dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        installed.append(hook.name)
    return installed
