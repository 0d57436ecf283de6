"""Lock files that heal: git's ``<name>.lock`` protocol, with an owner a crash cannot hide.

Two kinds of lock live in a memory repository:

- **git's lock files** (``refs/heads/main.lock``, ``index.lock``): created
  exclusively, held for a moment, removed or renamed by their holder. A holder
  killed inside that moment leaves the file behind, and every later writer,
  git's or imlgit's, is refused. imlgit's lock files therefore say who holds
  them (pid, host, the process's start time), written before the lock exists
  (the file is made whole, then hard-linked into place), so a lock is never
  seen without its owner. A lock whose owner is gone (a dead pid on this host,
  or a pid reused by another process) is taken over at once, with a warning;
  one with no owner to check (git's own, or another host's) only when it is
  older than :data:`STALE_AFTER`. A live holder is waited for at most
  :data:`WAIT` seconds; then a :class:`StoreError` names the file and what to do.
- **advisory locks** (:func:`exclusive`, the ``filelock`` library: ``flock``
  on POSIX, ``LockFileEx`` on Windows): for derived data (the rule index's
  writer, the journal, the working tree). The system drops them with the
  process, so they never go stale. This is the one helper store, index and
  journal lock with; git's lock files stay hand-made because their format and
  protocol (``O_EXCL`` create, then rename into place) are git's, which C git
  and dulwich must keep reading.

:func:`write_record` and :func:`orphans` keep small records of work in
progress (an owner line and JSON), for whoever comes next to finish the work
of a process that died.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StoreError

__all__ = [
    "STALE_AFTER",
    "WAIT",
    "LockInfo",
    "Owner",
    "acquire",
    "exclusive",
    "inspect",
    "orphans",
    "release",
    "take_over",
    "write_record",
]

logger = logging.getLogger("imlgit")

STALE_AFTER = 60.0
"""Seconds after which a lock with no owner imlgit can check is stale. git holds a
ref lock for milliseconds; a minute is far past any honest holder."""

WAIT = 10.0
"""Seconds a writer waits for a lock whose owner is alive before it gives up."""

_MAGIC = b"imlgit-lock"
_READ_LIMIT = 512  # bytes of a lock file read to find its owner


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if unknown.

    With the pid, it names one process: a pid the kernel has given to another
    process since shows another start time.
    """
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[-1].split()
    if len(fields) < 20:
        return None
    if fields[0] in (b"Z", b"X"):  # a zombie has exited: it holds nothing
        return "exited"
    return fields[19].decode("ascii", "replace")


@dataclass(frozen=True)
class Owner:
    """The process holding a lock: pid, host, and the process's start time."""

    pid: int
    host: str
    started: str | None = None

    @classmethod
    def me(cls) -> Owner:
        return cls(os.getpid(), socket.gethostname(), _start_time(os.getpid()))

    def render(self) -> bytes:
        return b"%s pid=%d host=%s start=%s\n" % (
            _MAGIC,
            self.pid,
            self.host.encode("utf-8", "replace"),
            (self.started or "-").encode("ascii", "replace"),
        )

    @classmethod
    def parse(cls, data: bytes) -> Owner | None:
        """The owner written by :meth:`render`, or None (git's lock, or a partial write)."""
        line = data.split(b"\n", 1)[0]
        if not line.startswith(_MAGIC + b" "):
            return None
        fields = dict(
            part.split(b"=", 1) for part in line.split()[1:] if b"=" in part
        )
        try:
            pid = int(fields[b"pid"])
            host = fields[b"host"].decode("utf-8", "replace")
        except (KeyError, ValueError):
            return None
        started = fields.get(b"start", b"-").decode("ascii", "replace")
        return cls(pid, host, None if started == "-" else started)

    def alive(self) -> bool | None:
        """True or False for a process on this host; None for another host's."""
        if self.host != socket.gethostname():
            return None
        if self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: it exists
        now = _start_time(self.pid)
        if now == "exited":
            return False
        return self.started is None or now is None or now == self.started

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


@dataclass(frozen=True)
class LockInfo:
    """A lock file found on disk: how old, whose, and whether it may be taken over."""

    path: Path
    age: float  # seconds since it was last written
    owner: Owner | None
    stale: bool
    why: str  # in words: whose it is and why it is (or is not) stale
    inode: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "age": round(self.age, 1),
            "owner": None if self.owner is None else str(self.owner),
            "stale": self.stale,
            "why": self.why,
        }


def inspect(
    path: Path,
    *,
    stale_after: float | None = STALE_AFTER,
    now: Callable[[], float] = time.time,
) -> LockInfo | None:
    """What holds lock file ``path``; None when there is no such file.

    ``stale_after`` None: a lock with no checkable owner is never stale (git's
    ``index.lock`` may belong to a ``git commit`` waiting for its editor).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        st = os.fstat(fd)
        data = os.read(fd, _READ_LIMIT)
    finally:
        os.close(fd)
    age = max(0.0, now() - st.st_mtime)
    owner = Owner.parse(data)
    alive = owner.alive() if owner is not None else None
    if owner is not None and alive is not None:
        stale = not alive
        why = f"held by {owner}, " + ("which is gone" if stale else "which is running")
    else:
        whose = f"held by {owner}, which imlgit cannot check" if owner else "no owner recorded"
        stale = stale_after is not None and age > stale_after
        bound = "never taken over" if stale_after is None else f"stale after {stale_after:.0f} s"
        why = f"{whose} ({bound})"
    return LockInfo(path, age, owner, stale, why, (st.st_dev, st.st_ino))


def _sibling(path: Path, tag: str) -> Path:
    # A dot-file: git and dulwich skip names that start with '.', so a leftover
    # never reads as a ref.
    return path.with_name(f".{path.name}.{tag}.{os.getpid()}.{secrets.token_hex(4)}")


def _create(path: Path, content: bytes) -> bool:
    """Create ``path`` with ``content`` exclusively; False if it exists.

    The file is written whole under a name of its own, then hard-linked into
    place (atomic, and refused if the name exists), so no kill can leave a lock
    without its owner: the fault bench's random kills found that window when
    the owner was written after an exclusive create.
    """
    tmp = _sibling(path, "new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        # A file system without hard links: exclusive create, then the owner.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        return True
    finally:
        os.unlink(tmp)


def take_over(path: Path, info: LockInfo) -> bool:
    """Remove stale lock ``path`` if it is still the file ``info`` judged; True if removed.

    Race-free among takers: each locks the stale file itself (``filelock``'s
    descriptor lock), checks that ``path`` still names that file and that it is
    still stale, and moves it aside under a name of its own. A second taker
    finds another file, or none.
    """
    from filelock import lock_descriptor

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        lock_descriptor(fd, poll_interval=0.005)  # closing fd releases it
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != info.inode:
            return False
        try:
            cur = os.stat(path)
        except FileNotFoundError:
            return False
        if (cur.st_dev, cur.st_ino) != info.inode:
            return False  # already taken over, and locked anew
        if info.owner is not None and Owner.parse(_read_start(fd)) != info.owner:
            return False
        aside = _sibling(path, "stale")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        moved = os.stat(aside)
        if (moved.st_dev, moved.st_ino) != info.inode:
            # Someone removed the stale lock and locked anew in between: give it back.
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
            os.unlink(aside)
            return False
        os.unlink(aside)
    finally:
        os.close(fd)
    logger.warning("took over the stale lock %s (%s, %.0f s old)", path, info.why, info.age)
    return True


def acquire(
    path: Path,
    *,
    wait: float = WAIT,
    stale_after: float | None = STALE_AFTER,
    what: str = "",
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> None:
    """Create lock file ``path`` owned by this process, taking over a stale one.

    A live holder is waited for up to ``wait`` seconds; then :class:`StoreError`
    names the lock, its owner and what to do. ``what`` says what the lock guards,
    for that message.
    """
    me = Owner.me().render()
    start = now()
    delay = 0.001
    while True:
        if _create(path, me):
            return
        info = inspect(path, stale_after=stale_after, now=now)
        if info is None:
            continue  # released meanwhile
        if info.stale and take_over(path, info):
            continue
        if now() - start >= wait:
            guards = f" ({what})" if what else ""
            raise StoreError(
                f"{path} is locked{guards}: {info.why}, {info.age:.0f} s old; "
                "if no imlgit or git command is still running, remove that file"
            )
        sleep(delay)
        delay = min(delay * 2, 0.1)


def release(path: Path) -> None:
    """Remove a lock this process holds."""
    path.unlink(missing_ok=True)


def _read_start(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)  # os.pread is POSIX only
    return os.read(fd, _READ_LIMIT)


@contextmanager
def exclusive(path: Path, waiting: str | None = None, *, blocking: bool = True) -> Iterator[bool]:
    """An advisory lock on ``path`` (the file is created and kept) for derived data,
    released by the system when the process ends, so it never goes stale.

    Yields True once held. ``waiting``, when given, is logged (info) if another
    process holds it, and then it is waited for; with ``blocking`` False it is
    not, and the block runs at once with False (the lock not held).
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    # poll_interval: filelock waits by retrying; 10 ms keeps a waiting writer prompt
    lock = FileLock(path, mode=0o644, thread_local=False, poll_interval=0.01)
    try:
        lock.acquire(blocking=False)
        held = True
    except Timeout:
        held = False
    if not held and blocking:
        if waiting:
            logger.info("%s", waiting)
        lock.acquire()
        held = True
    try:
        yield held
    finally:
        if held:
            lock.release()


# ---------------------------------------------------------------------- records


def write_record(directory: Path, kind: str, payload: dict[str, Any]) -> Path:
    """Write a record of work this process has begun: its owner, then ``payload``
    as JSON. Returns its path; remove it when the work is done."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kind}-{os.getpid()}-{secrets.token_hex(4)}.json"
    # Written in place: a record cut short by a kill has no readable payload,
    # and is dropped (the work it announced had not begun).
    data = Owner.me().render() + json.dumps(payload, sort_keys=True).encode() + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def orphans(
    directory: Path, kind: str, *, stale_after: float = STALE_AFTER,
    now: Callable[[], float] = time.time,
) -> list[tuple[Path, Owner | None, dict[str, Any] | None]]:
    """Records of ``kind`` whose owner is gone: (path, owner, payload or None if unreadable)."""
    out: list[tuple[Path, Owner | None, dict[str, Any] | None]] = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return out
    for name in names:
        if not (name.startswith(kind + "-") and name.endswith(".json")):
            continue
        path = directory / name
        info = inspect(path, stale_after=stale_after, now=now)
        if info is None or not info.stale:
            continue
        try:
            body = path.read_bytes().split(b"\n", 1)[1]
            payload = json.loads(body)
        except (OSError, IndexError, ValueError):
            payload = None
        out.append((path, info.owner, payload if isinstance(payload, dict) else None))
    return out
