"""Parsed rules kept on disk, so a new process does not parse memory again.

A cold ``imlgit ask --no-model`` at 10,000 rules spent over 5 s parsing rule files
it had parsed in the previous run. :class:`~imlgit.store.Store` keeps the rules it
parsed, by (blob, path), in ``<git dir>/imlgit/parsed-rules.cache``: derived data,
never committed, rebuilt when missing. A blob's content never changes, so an entry
is never stale; what can go wrong is the file itself, and then it is ignored with a
warning (and rewritten by the next read of many rules):

- a header names the format and the imlgit version that wrote it (a new version may
  parse differently: its cache starts empty);
- a SHA-256 of the payload catches a torn or corrupt file;
- the payload is unpickled by an unpickler that builds only :class:`Rule` and
  :class:`Condition` (and the builtins they hold), so a planted file cannot run code
  through it; the directory is trusted like ``.git/hooks`` anyway.

Writes are atomic (a temporary file renamed over the old one).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .rules import Rule

__all__ = ["FILE", "load", "save"]

FILE = "parsed-rules.cache"
FORMAT = b"imlgit-parsed-rules 1"
MAX_BYTES = 1 << 30
log = logging.getLogger("imlgit")

Key = tuple[str, str]


def _version() -> bytes:
    try:
        from importlib.metadata import version

        return version("imlgit").encode()
    except Exception:  # not installed: the source tree
        return b"0+source"


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {("imlgit.rules", "Rule"), ("imlgit.conditions", "Condition")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a rule")


def load(directory: Path) -> dict[Key, Rule]:
    """The parsed rules stored in ``directory``; empty (with a warning when the file
    exists but cannot be used) otherwise."""
    path = directory / FILE
    try:
        size = path.stat().st_size
    except OSError:
        return {}
    why = None
    try:
        if size > MAX_BYTES:
            raise ValueError(f"{size:,} bytes")
        with open(path, "rb") as f:
            header = f.readline().rstrip(b"\n")
            digest = f.readline().rstrip(b"\n")
            payload = f.read()
        if header != FORMAT + b" " + _version():
            if header.startswith(FORMAT + b" "):
                return {}  # written by another version of imlgit: start again, quietly
            raise ValueError("it is not a parsed-rule cache")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ValueError("its checksum does not match")
        data = _Unpickler(io.BytesIO(payload)).load()
        if not isinstance(data, dict) or not all(
            isinstance(k, tuple) and len(k) == 2 and isinstance(v, Rule) for k, v in data.items()
        ):
            raise ValueError("it does not hold parsed rules")
        return data
    except (OSError, ValueError, EOFError, TypeError, AttributeError, pickle.UnpicklingError) as e:
        exc: Exception = e
        why = str(exc) or type(exc).__name__
    log.warning("the parsed-rule cache %s cannot be used (%s); rule files are parsed again "
                "and the cache rebuilt", path, why)  # fmt: skip
    return {}


def save(directory: Path, parsed: Mapping[Key, Rule]) -> None:
    """Store ``parsed`` in ``directory`` atomically; a failure only costs speed."""
    path = directory / FILE
    try:
        payload = pickle.dumps(dict(parsed), protocol=pickle.HIGHEST_PROTOCOL)
        if len(payload) > MAX_BYTES:
            return
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{FILE}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(FORMAT + b" " + _version() + b"\n")
            f.write(hashlib.sha256(payload).hexdigest().encode() + b"\n")
            f.write(payload)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("parsed-rule cache not written: %s", exc)
        try:
            tmp.unlink(missing_ok=True)
        except (OSError, UnboundLocalError):
            pass
