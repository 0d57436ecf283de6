"""The experience journal: experiences recorded and not learned yet, one JSON line
each, in ``<git dir>/imlgit/journal.jsonl`` (local, never committed).

:meth:`imlgit.memory.Memory.record` appends to it (:func:`append`), a learn of the
journal reads it (:func:`read`) and then removes what it learned (:func:`remove`).
Every read and write holds a lock on a file beside it, so concurrent agents never
interleave lines. Beside it, ``refusals.jsonl`` keeps the learner's last refusals
for the next learn (:func:`read_refusals`, :func:`keep_refusals`): derived data,
never a reason to fail. :func:`forget` erases experiences from a copy: from the
evidence ref and from the journal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from . import evidence, locking
from .errors import ExperienceError
from .experience import MAX_LINE_BYTES, Experience, load_jsonl
from .privacy import check_rationale

if TYPE_CHECKING:
    from .commits import Identity
    from .store import Store

__all__ = [
    "JOURNAL",
    "REFUSALS",
    "append",
    "forget",
    "keep_refusals",
    "lock",
    "read",
    "read_refusals",
    "recorded_ids",
    "remove",
]

log = logging.getLogger("imlgit")

JOURNAL = "journal.jsonl"
"""The experience journal's file name, in the store's derived directory."""
REFUSALS = "refusals.jsonl"  # the learner's last refusals, shown to the next learn (derived)
_REFUSALS_KEPT = 50


def lock(path: Path) -> AbstractContextManager[bool]:
    """An exclusive lock for the journal (or another derived file): on a separate
    file beside it, which is never replaced."""
    return locking.exclusive(path.with_name(path.name + ".lock"))


def append(path: Path, exp: Experience) -> None:
    """Append ``exp`` as one line, in one write under the lock; an id already in
    the journal, or a line over the size limit, is refused (:class:`ExperienceError`)."""
    line = (exp.to_json() + "\n").encode("utf-8")
    if len(line) > MAX_LINE_BYTES:
        raise ExperienceError(
            f"the experience is {len(line)} bytes as JSON; at most {MAX_LINE_BYTES}",
            field="input",
        )
    with lock(path):
        if exp.id in set(recorded_ids(path)):
            raise ExperienceError(
                f"duplicate id {exp.id!r}: already in the journal", path=str(path), field="id"
            )
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                # lseek + read, not os.pread (POSIX only); O_APPEND still writes at the end
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":
                    # a torn last line (a writer killed mid-line): end it, so this
                    # experience is a line of its own and not glued onto the broken one
                    line = b"\n" + line
            os.write(fd, line)
        finally:
            os.close(fd)


def read(path: Path) -> list[Experience]:
    """The experiences in the journal, oldest first; a line that does not parse is
    left in it, and said (a warning)."""
    with lock(path):
        if not path.exists():
            return []
        loaded = load_jsonl(path, skip_invalid=True)
    for lineno, why in loaded.skipped:
        # kept in the journal (learning forgets only what it learned), and said
        log.warning("%s:%d: not learned, left in the journal: %s", path, lineno, why)
    return loaded.experiences


def recorded_ids(path: Path) -> list[str]:
    """The ids of the journal's lines, in order (a line without one is passed over)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [i for line in data.split(b"\n") if (i := _line_id(line)) is not None]


def remove(path: Path, gone: set[str]) -> None:
    """Remove the experiences ``gone`` from the journal (replaced atomically, under
    the lock); lines added meanwhile stay."""
    with lock(path):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        keep = [line + b"\n" for line in data.split(b"\n") if line.strip()]
        keep = [line for line in keep if _line_id(line) not in gone]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"".join(keep))
        finally:
            os.close(fd)
        os.replace(tmp, path)


def forget(
    store: Store, path: Path, ids: Sequence[str], *, why: str, person: Identity
) -> evidence.Forgotten:
    """Erase experiences ``ids`` for good (see :meth:`imlgit.memory.Memory.forget`):
    those stored become tombstones on the evidence ref (:func:`imlgit.evidence.forget`,
    refused as a whole before anything changes), and the journal at ``path`` loses
    them; the ids only the journal held are counted as erased too."""
    ids = list(dict.fromkeys(ids))
    check_rationale(why, store.guard.scan_allow(), what="the rationale of forget")
    journal = set(recorded_ids(path))
    found = evidence.locate(store, ids)
    stored = [i for i in ids if found[i].state != "unknown" or i not in journal]
    if stored:  # refused as a whole before anything changes
        done = evidence.forget(store, stored, why=why, person=person)
    else:
        done = evidence.Forgotten((), store.head(evidence.EVIDENCE_REF) or "", 0, 0)
    remove(path, set(ids))
    waiting = tuple(i for i in ids if i in journal and i not in done.ids)
    return dataclasses.replace(done, ids=done.ids + waiting)


def read_refusals(path: Path) -> list[str]:
    """The last refusals kept by earlier learns (derived data: a bad line is skipped)."""
    try:
        data = path.read_bytes()[-1_000_000:]
    except OSError:
        return []
    out = []
    for line in data.split(b"\n")[-_REFUSALS_KEPT:]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, str) and len(value) <= 2_000:
            out.append(value)
    return out


def keep_refusals(path: Path, new: Sequence[str]) -> None:
    """Append this learn's refusals and keep the last few (replaced atomically)."""
    if not new:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with lock(path):  # two learners finishing at once keep both's
            lines = [json.dumps(r) for r in [*read_refusals(path), *new]]
            tmp.write_text("\n".join(lines[-_REFUSALS_KEPT:]) + "\n", encoding="utf-8")
            os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # derived data: losing it never fails a learn


def _line_id(line: bytes) -> str | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None
