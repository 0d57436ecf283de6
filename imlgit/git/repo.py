"""One git repository: its objects, its refs, its working tree's paths, its config.

:class:`GitRepo` is what the layers above hold instead of a dulwich ``Repo``:
the store (rules, commits, merges), sync (remotes) and review (proposal refs)
reach git through it and the modules beside it, and nothing above this
package imports dulwich.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dulwich.errors import NotGitRepository
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from .. import locking
from ..commits import Identity
from ..errors import ImlgitError, NotAMemoryRepo
from .objects import Objects
from .refs import Refs, ref_name

if TYPE_CHECKING:
    from .history import HistoryIndex

__all__ = ["GitRepo"]


class GitRepo:
    """A git repository on disk (``fault``: see :class:`imlgit.store.Store`)."""

    def __init__(
        self,
        repo: Repo,
        *,
        clock: Callable[[], int] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.repo = repo
        # dulwich keeps pack files open; close them when the repository goes away.
        self._finalizer = weakref.finalize(self, repo.close)
        self.path = Path(repo.path)
        self.gitdir = Path(repo.controldir())
        self.clock = clock or (lambda: int(time.time()))
        self.objects = Objects(repo)
        self.refs = Refs(repo, self.objects, fault=fault, lock_wait=locking.WAIT)
        self._history: HistoryIndex | None = None

    @classmethod
    def open(cls, path: Path, **options: Any) -> GitRepo:
        try:
            repo = Repo(str(path))
        except NotGitRepository:
            raise NotAMemoryRepo(str(path), "no git repository") from None
        except FileNotFoundError:
            raise NotAMemoryRepo(str(path), "no such directory") from None
        return cls(repo, **options)

    @classmethod
    def create(cls, path: Path, branch: str, **options: Any) -> GitRepo:
        """``git init`` with HEAD on ``branch`` and reflogs kept."""
        repo = Repo.init(str(path))
        repo.refs.set_symbolic_ref(Ref(b"HEAD"), ref_name(branch))
        config = repo.get_config()
        config.set((b"core",), b"logallrefupdates", True)
        config.write_to_path()
        return cls(repo, **options)

    def close(self) -> None:
        """Close the files dulwich keeps open (also done when this is collected)."""
        self._finalizer()

    @property
    def fault(self) -> Callable[[str], None]:
        return self.refs.fault

    @property
    def lock_wait(self) -> float:
        """Seconds a write waits for a lock held by a live process before it fails."""
        return self.refs.lock_wait

    @lock_wait.setter
    def lock_wait(self, seconds: float) -> None:
        self.refs.lock_wait = seconds

    @property
    def derived_dir(self) -> Path:
        """``<git dir>/imlgit``: derived data (index, caches); never committed."""
        d = self.gitdir / "imlgit"
        d.mkdir(exist_ok=True)
        return d

    @property
    def hooks_dir(self) -> Path:
        return self.gitdir / "hooks"

    def worktree_path(self) -> Path | None:
        """The working tree, or None for a bare repository."""
        return None if self.repo.bare else self.path

    @property
    def bare(self) -> bool:
        return bool(self.repo.bare)

    def config_stack(self) -> Any:
        """git's config as git reads it here: the repository's, the user's, the system's."""
        return self.repo.get_config_stack()

    def config_value(self, section: tuple[bytes, ...], name: bytes) -> bytes | None:
        """A value of this repository's own config (``.git/config``), or None."""
        try:
            return bytes(self.repo.get_config().get(section, name))
        except KeyError:
            return None

    def history(self) -> HistoryIndex:
        """The per-rule history index (:mod:`imlgit.git.history`), made on first use."""
        if self._history is None:
            from .history import HistoryIndex

            self._history = HistoryIndex(self.objects, self.derived_dir)
        return self._history

    def see_objects(self, path: str) -> None:
        """Read objects from the object directory ``path`` too, for this process only
        (git's quarantine of a push being received: the pre-receive hook judges
        commits that are not in the repository yet)."""
        from dulwich.object_store import DiskObjectStore

        self.repo.object_store.alternates.append(DiskObjectStore(path))

    def checkout(self, tree: bytes) -> None:
        """Rebuild the whole working tree and index from ``tree``."""
        from dulwich.index import build_index_from_tree

        wt = self.worktree_path()
        if wt is not None:
            build_index_from_tree(str(wt), self.repo.index_path(), self.repo.object_store,
                                  ObjectID(tree))  # fmt: skip

    def index_path(self) -> Path:
        return Path(os.fsdecode(self.repo.index_path()))


def git_user(repo_path: str | None = None) -> Identity | None:
    """git's ``user.name`` / ``user.email`` as git reads them (the repository's config,
    the user's, the system's), or None when either is unset or unreadable."""
    from dulwich.config import StackedConfig

    try:
        configs = []
        if repo_path:
            configs.append(Repo(repo_path).get_config())
        stacked = StackedConfig(configs + StackedConfig.default_backends())
        name = stacked.get((b"user",), b"name").decode("utf-8")
        email = stacked.get((b"user",), b"email").decode("utf-8")
        return Identity(name, email)
    except (KeyError, ImlgitError, OSError, UnicodeDecodeError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - a broken config must not stop a read
        return None
