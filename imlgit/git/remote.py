"""Talking to another repository: dulwich's transports, behind three calls.

:func:`remote_url` reads ``remote.<name>.url``; :class:`Transport` fetches the
objects a caller wants and pushes the ref updates a caller decides, both with
refs as ``{name: hex sha}`` so nothing above this layer sees dulwich; every
transport failure is a :class:`RemoteError` naming the URL. :func:`init_clone`
makes the empty repository a clone starts from, with the remote configured.
The policy (what to fetch, what a push may overwrite) is the caller's:
:mod:`imlgit.sync`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dulwich.client import (
    GitClient,
    HTTPProxyUnauthorized,
    HTTPUnauthorized,
    get_transport_and_path,
)
from dulwich.errors import GitProtocolError, NotGitRepository
from dulwich.objects import ObjectID
from dulwich.pack import UnpackedObject
from dulwich.refs import Ref
from dulwich.repo import Repo

from ..errors import RemoteError
from .objects import hexsha, oid
from .refs import ref_name
from .repo import GitRepo

__all__ = ["ZERO_SHA", "Transport", "check_remote_name", "init_clone", "remote_url"]

ZERO_SHA = "0" * 40  # a ref the remote is deleting, or does not have


def check_remote_name(remote: str) -> None:
    if not remote or any(c in remote for c in " \t\n\r\0/\\:") or remote.startswith("."):
        raise RemoteError(f"bad remote name {remote!r}")


def remote_url(git: GitRepo, remote: str = "origin") -> str:
    """The URL of ``remote``, from the repository's ``.git/config``."""
    check_remote_name(remote)
    value = git.config_value((b"remote", remote.encode()), b"url")
    if value is None:
        raise RemoteError(
            f"no remote {remote!r}: set remote.{remote}.url in {git.gitdir / 'config'}"
        )
    return value.decode("utf-8", errors="replace")


def normalize_url(url: str) -> str:
    """A local path becomes absolute (as git does), so the clone works from anywhere."""
    if "://" not in url and os.path.exists(url):
        return str(Path(url).resolve())
    return url


@contextmanager
def _talking_to(url: str, what: str) -> Iterator[None]:
    """Turn the transport's failures into :class:`RemoteError` naming the URL."""
    try:
        yield
    except NotGitRepository:
        raise RemoteError(f"{what} {url} failed: no git repository there") from None
    except (HTTPUnauthorized, HTTPProxyUnauthorized):
        raise RemoteError(f"{what} {url} failed: authentication required") from None
    except GitProtocolError as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise RemoteError(f"{what} {url} failed: {reason}") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RemoteError(f"{what} {url} failed: {reason}") from exc


def _names(refs: Mapping[Any, Any]) -> dict[str, str]:
    return {
        bytes(r).decode("utf-8", "replace"): hexsha(bytes(s))
        for r, s in refs.items()
        if s is not None
    }


class Transport:
    """One conversation with the repository at ``url`` (any URL dulwich speaks)."""

    def __init__(self, git: GitRepo, url: str, operation: str) -> None:
        self.git = git
        self.url = url
        self._client: GitClient
        try:
            self._client, self._path = get_transport_and_path(
                url, config=git.config_stack(), operation=operation, quiet=True
            )
        except (ValueError, KeyError) as exc:
            raise RemoteError(f"{url}: not a URL or path git can use ({exc})") from None

    def fetch(self, want: Callable[[dict[str, str]], Iterable[str]]) -> dict[str, str]:
        """Fetch the objects of the shas ``want(remote refs)`` names; the remote's refs."""

        def determine_wants(
            refs: Mapping[Ref, ObjectID], depth: int | None = None
        ) -> list[ObjectID]:
            return [oid(sha) for sha in dict.fromkeys(want(_names(refs)))]

        with _talking_to(self.url, "fetch from"):
            result = self._client.fetch(
                self._path, self.git.repo, determine_wants=determine_wants
            )
        return _names(result.refs or {})

    def push(self, update: Callable[[dict[str, str]], dict[str, str]]) -> dict[str, str]:
        """Send ``update(remote refs)`` (ref -> new sha) with the objects it needs.

        ``update`` may raise to send nothing. Returns the refs the remote refused,
        each with its reason (empty: all taken)."""
        repo = self.git.repo

        def update_refs(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            wanted = update(_names(refs))
            return {Ref(name.encode()): oid(sha) for name, sha in wanted.items()}

        def generate_pack_data(
            have: Set[ObjectID],
            want: Set[ObjectID],
            *,
            ofs_delta: bool = False,
            progress: Callable[[bytes], None] | None = None,
        ) -> tuple[int, Iterator[UnpackedObject]]:
            return repo.generate_pack_data(set(have), set(want), ofs_delta=ofs_delta)

        with _talking_to(self.url, "push to"):
            result = self._client.send_pack(
                self._path.encode("utf-8"), update_refs, generate_pack_data
            )
        return {
            bytes(ref).decode("utf-8", "replace"): str(error)
            for ref, error in (result.ref_status or {}).items()
            if error is not None
        }


def init_clone(
    path: Path,
    url: str,
    *,
    remote: str,
    branch: str,
    clock: Callable[[], int] | None = None,
) -> GitRepo:
    """``git init`` at ``path`` set up to clone ``url`` as ``remote``, ``branch`` tracked."""
    repo = Repo.init(str(path))
    try:
        repo.refs.set_symbolic_ref(Ref(b"HEAD"), ref_name(branch))
        config = repo.get_config()
        config.set((b"core",), b"logallrefupdates", True)
        section = (b"remote", remote.encode())
        config.set(section, b"url", url.encode("utf-8"))
        config.set(section, b"fetch", f"+refs/heads/*:refs/remotes/{remote}/*".encode())
        branch_section = (b"branch", branch.encode())
        config.set(branch_section, b"remote", remote.encode())
        config.set(branch_section, b"merge", ref_name(branch))
        config.write_to_path()
    except BaseException:
        repo.close()
        raise
    return GitRepo(repo, clock=clock)
