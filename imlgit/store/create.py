"""What a new memory starts from: the template's files, and imlgit's git hooks."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from ..rules import parse_rule, rule_id_from_path

__all__ = ["install_hooks", "template_files"]


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
