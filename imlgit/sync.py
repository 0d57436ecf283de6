"""Remotes: clone, fetch, pull and push a memory repository, with dulwich.

A memory is an ordinary git repository, so it travels like one: any URL dulwich
can talk to works (``git://``, ``http(s)://``, ``ssh://`` or ``user@host:path``,
``file://`` and plain paths). The remote's URL is read from ``.git/config``
(``remote.<name>.url``), where :func:`clone` writes it.

The rules of the road:

- **fetch** only moves the remote-tracking refs ``refs/remotes/<remote>/*``.
- **pull** fetches, then merges ``<remote>/main`` into ``main`` rule file by rule
  file with :meth:`Store.merge` (a fast-forward when possible, else a merge
  commit whose rationale names the remote). The same rule changed on both sides
  is a :class:`SyncConflict` showing both versions; an incoming rule file that
  ``imlgit check`` refuses is a :class:`PullRefused` naming each file and error;
  either way nothing local moves but the remote-tracking refs.
- **push** sends ``main`` (and, asked to, every ``proposals/*`` branch). A branch
  the remote has moved past is never overwritten: :class:`PushRejected` says to
  pull first. A successful push moves the matching remote-tracking refs.

Every failure leaves the local branches and the working tree as they were.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.client import (
    GitClient,
    HTTPProxyUnauthorized,
    HTTPUnauthorized,
    get_transport_and_path,
)
from dulwich.diff_tree import tree_changes
from dulwich.errors import GitProtocolError, NotGitRepository, NotTreeError
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.pack import UnpackedObject
from dulwich.refs import Ref
from dulwich.repo import Repo

from . import approvals, evidence
from .commits import CommitMessage, Identity
from .errors import (
    ConflictError,
    NotAMemoryRepo,
    PullRefused,
    PushRejected,
    RemoteError,
    RevisionNotFound,
    RuleError,
    StoreError,
    SyncConflict,
)
from .git.repo import GitRepo
from .rules import RULES_DIR, rule_id_from_path
from .store import CONFIG_FILE, DEFAULT_BRANCH, Store, check_rule_file

__all__ = [
    "clone",
    "fetch",
    "pull",
    "push",
    "remote_url",
    "PullRefused",
    "PullResult",
    "SyncConflict",
    "PushRejected",
    "RemoteError",
]

PROPOSALS_PREFIX = "proposals/"
_HEADS = b"refs/heads/"
_ZERO_SHA = b"0" * 40
log = logging.getLogger("imlgit.sync")
_EVIDENCE = Ref(evidence.EVIDENCE_REF.encode())
SYNC = Identity("imlgit sync", "sync@imlgit.invalid")  # writes what a fetch merges
_MAX_RULES_TRAILER = 5_000  # characters of rule ids in a pull's Imlgit-Rules trailer


@dataclass(frozen=True)
class PullResult:
    """What a pull did.

    ``sha`` is the local branch's head afterwards. ``up_to_date``: the remote
    had nothing new. ``fast_forward``: the branch moved to the remote's commit
    (no merge commit). ``changed`` lists the paths the pull brought in, ``rules``
    the rule ids among them; ``fetched`` is what :func:`fetch` returned.
    """

    sha: str
    fast_forward: bool
    up_to_date: bool
    changed: tuple[str, ...] = field(default=())
    rules: tuple[str, ...] = field(default=())
    fetched: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "head": self.sha,
            "fast_forward": self.fast_forward,
            "up_to_date": self.up_to_date,
            "changed": list(self.changed),
            "rules": list(self.rules),
            "person_only": approvals.person_only_paths(self.changed),
            "remote_branches": dict(self.fetched),
        }


# --------------------------------------------------------------------- helpers


def _hex(sha: bytes) -> str:
    return sha.decode("ascii")


def _oid(sha: str | bytes) -> ObjectID:
    return ObjectID(sha if isinstance(sha, bytes) else sha.encode("ascii"))


def _tracking_ref(remote: str, branch: str) -> Ref:
    return Ref(f"refs/remotes/{remote}/{branch}".encode())


def _check_remote_name(remote: str) -> None:
    if not remote or any(c in remote for c in " \t\n\r\0/\\:") or remote.startswith("."):
        raise RemoteError(f"bad remote name {remote!r}")


def _normalize_url(url: str) -> str:
    """A local path becomes absolute (as git does), so the clone works from anywhere."""
    if "://" not in url and os.path.exists(url):
        return str(Path(url).resolve())
    return url


def remote_url(store: Store, remote: str = "origin") -> str:
    """The URL of ``remote``, from the repository's ``.git/config``."""
    _check_remote_name(remote)
    try:
        value = store.repo.get_config().get((b"remote", remote.encode()), b"url")
    except KeyError:
        raise RemoteError(
            f"no remote {remote!r}: set remote.{remote}.url in {store.gitdir / 'config'}"
        ) from None
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _client(store: Store, url: str, operation: str) -> tuple[GitClient, str]:
    try:
        return get_transport_and_path(
            url, config=store.repo.get_config_stack(), operation=operation, quiet=True
        )
    except (ValueError, KeyError) as exc:
        raise RemoteError(f"{url}: not a URL or path git can use ({exc})") from None


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


def _tree(store: Store, sha: str | None) -> ObjectID | None:
    if sha is None:
        return None
    c = store.repo[_oid(sha)]
    if not isinstance(c, Commit):
        raise StoreError(f"{sha} is not a commit")
    return c.tree


def _changes(store: Store, old: str | None, new: str) -> dict[str, bytes | None]:
    """path -> blob at ``new`` (None: deleted) for every file that differs."""
    out: dict[str, bytes | None] = {}
    for change in tree_changes(store.repo.object_store, _tree(store, old), _tree(store, new)):
        if change.old is not None and change.old.path is not None:
            out.setdefault(change.old.path.decode("utf-8", "replace"), None)
        if change.new is not None and change.new.path is not None:
            out[change.new.path.decode("utf-8", "replace")] = change.new.sha
    return out


def _text(store: Store, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    obj = store.repo[_oid(blob)]
    if not isinstance(obj, Blob):
        return None
    return obj.as_raw_string().decode("utf-8", errors="replace")


# --------------------------------------------------------------------- fetch


def fetch(
    store: Store, remote: str = "origin", *, prune: bool = False, author: Identity = SYNC
) -> dict[str, str]:
    """Fetch every branch of ``remote`` into ``refs/remotes/<remote>/*``.

    Returns ``{branch: sha}`` for the remote's branches (``"main"``,
    ``"proposals/x"``, ...). Local branches and the working tree are untouched;
    the objects arrive first and the tracking refs move only once they are all
    here. ``prune`` also drops tracking refs of branches the remote no longer has.
    The remote's evidence (``refs/imlgit/evidence``) is merged into this copy's at
    once (:func:`imlgit.evidence.merge_from`: a union, erasures on either side
    kept); no tracking ref keeps it, so what this copy erased stays unreachable.
    """
    url = remote_url(store, remote)
    client, path = _client(store, url, "pull")
    object_store = store.repo.object_store

    # evidence this copy erased is never fetched back (the remote has not had the
    # erasure pushed yet): the commits an erasure here replaced
    replaced = evidence.rewritten(store, store.head(evidence.EVIDENCE_REF))

    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        wants: list[ObjectID] = []
        for ref, sha in refs.items():
            wanted = ref.startswith(_HEADS) or (ref == _EVIDENCE and _hex(sha) not in replaced)
            if wanted and sha != _ZERO_SHA and sha not in object_store:
                if sha not in wants:
                    wants.append(sha)
        return wants

    with _talking_to(url, "fetch from"):
        result = client.fetch(path, store.repo, determine_wants=determine_wants)
    branches: dict[str, str] = {}
    for ref, sha in (result.refs or {}).items():
        if sha is None or not ref.startswith(_HEADS) or sha == _ZERO_SHA:
            continue
        if sha not in object_store:
            raise RemoteError(f"fetch from {url} failed: {_hex(sha)} did not arrive")
        branches[ref[len(_HEADS) :].decode("utf-8", "replace")] = _hex(sha)
    theirs = (result.refs or {}).get(_EVIDENCE)
    if theirs is not None and theirs != _ZERO_SHA and _hex(theirs) not in replaced:
        if theirs not in object_store:
            raise RemoteError(f"fetch from {url} failed: {_hex(theirs)} did not arrive")
        try:
            evidence.merge_from(store, _hex(theirs), source=f"{remote} ({url})", person=author)
        except StoreError as exc:  # the remote's evidence is refused; its branches still come
            log.warning("%s", exc)
    refs = store.repo.refs
    for branch, head in sorted(branches.items()):
        tracking = _tracking_ref(remote, branch)
        store.refs.force(tracking, head)
    if prune:
        base = Ref(f"refs/remotes/{remote}/".encode())
        for name in list(refs.keys(base=base)):
            branch = name.decode("utf-8", "replace")
            if branch != "HEAD" and branch not in branches:
                gone = Ref(base + name)
                store.refs.remove(gone, None)
    return dict(sorted(branches.items()))


# --------------------------------------------------------------------- clone


def clone(
    url: str,
    path: str | os.PathLike[str],
    *,
    install_hooks: bool = True,
    remote: str = "origin",
    clock: Callable[[], int] | None = None,
) -> Store:
    """Clone the memory at ``url`` into ``path`` and open it.

    ``path`` must not exist or be an empty directory. The clone has ``main``
    checked out, the remote configured as ``origin`` with every branch under
    ``refs/remotes/origin/*``, and imlgit's hooks installed. A failed clone
    removes what it made: no directory is left behind (a directory that existed
    empty is left empty). A remote that is not an imlgit memory (no ``main``
    with an ``imlgit.toml``) is :class:`NotAMemoryRepo`.
    """
    _check_remote_name(remote)
    p = Path(path)
    if p.exists() and (not p.is_dir() or any(p.iterdir())):
        raise StoreError(f"{p}: exists and is not empty; clone only into a new directory")
    url = _normalize_url(url)
    created = not p.exists()
    repo: Repo | None = None
    try:
        p.mkdir(parents=True, exist_ok=True)
        repo = Repo.init(str(p))
        repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(_HEADS + DEFAULT_BRANCH.encode()))
        config = repo.get_config()
        config.set((b"core",), b"logallrefupdates", True)
        section = (b"remote", remote.encode())
        config.set(section, b"url", url.encode("utf-8"))
        config.set(section, b"fetch", f"+refs/heads/*:refs/remotes/{remote}/*".encode())
        branch_section = (b"branch", DEFAULT_BRANCH.encode())
        config.set(branch_section, b"remote", remote.encode())
        config.set(branch_section, b"merge", _HEADS + DEFAULT_BRANCH.encode())
        config.write_to_path()
        staging = Store(GitRepo(repo, clock=clock))
        branches = fetch(staging, remote)
        if not branches:
            raise NotAMemoryRepo(url, "the repository is empty")
        main = branches.get(DEFAULT_BRANCH)
        if main is None:
            raise NotAMemoryRepo(url, f"it has no branch {DEFAULT_BRANCH}")
        if staging.read_file(CONFIG_FILE, main) is None:
            raise NotAMemoryRepo(url, f"no {CONFIG_FILE} on {DEFAULT_BRANCH}")
        repo.refs.set_if_equals(Ref(_HEADS + DEFAULT_BRANCH.encode()), None, _oid(main))
        repo.refs.set_symbolic_ref(
            Ref(f"refs/remotes/{remote}/HEAD".encode()), _tracking_ref(remote, DEFAULT_BRANCH)
        )
        staging.checkout_worktree()
        if install_hooks:
            staging.install_hooks()
        staging.close()
        repo.close()
        repo = None
        return Store.open(p, clock=clock)
    except BaseException:
        if repo is not None:
            repo.close()
        if created:
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_dir():
            for child in p.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------- pull


def _conflicts(
    store: Store, ours: str, theirs: str
) -> tuple[dict[str, bytes | None], dict[str, bytes | None], list[str]]:
    """(our changes, their changes, paths both changed differently) since the merge base."""
    base = store.merge_base(ours, theirs)
    mine = _changes(store, base, ours)
    yours = _changes(store, base, theirs)
    both = sorted(p for p in set(mine) & set(yours) if mine[p] != yours[p])
    return mine, yours, both


def _conflict_error(
    store: Store,
    paths: list[str],
    mine: Mapping[str, bytes | None],
    yours: Mapping[str, bytes | None],
    *,
    remote: str,
    branch: str,
) -> SyncConflict:
    theirs_name = f"{remote}/{branch}"
    versions: dict[str, tuple[str | None, str | None]] = {}
    where: dict[str, str] = {}
    sections = []
    for path in sorted(paths, key=lambda p: rule_id_from_path(p) or p):
        key = rule_id_from_path(path) or path
        ours_text, theirs_text = _text(store, mine[path]), _text(store, yours[path])
        versions[key] = (ours_text, theirs_text)
        where[key] = path
        sides = ((f"ours ({branch})", ours_text), (f"theirs ({theirs_name})", theirs_text))
        lines = [f"=== {key} ({path})"]
        lines += [f"{side}: deleted" for side, text in sides if text is None]
        if ours_text is not None and theirs_text is not None:
            diff = difflib.unified_diff(
                ours_text.splitlines(keepends=True),
                theirs_text.splitlines(keepends=True),
                f"{sides[0][0]}: {path}",
                f"{sides[1][0]}: {path}",
            )
            lines.append("".join(diff).rstrip("\n"))
        else:
            lines += [f"{side}:\n{text.rstrip()}" for side, text in sides if text is not None]
        sections.append("\n".join(lines))
    names = ", ".join(versions)
    message = (
        f"pull from {theirs_name} stopped: both sides changed {names}; nothing was merged "
        f"and {branch} is as it was (only refs/remotes/{remote}/* moved). To resolve, make "
        f"{branch}'s copy of each rule the version {theirs_name} has, pull, then redo your "
        f"change on top; or merge with git (git merge {theirs_name}) and settle "
        "the files by hand.\n\n" + "\n\n".join(sections)
    )
    return SyncConflict(message, versions, where)


def _check_incoming(
    store: Store, yours: Mapping[str, bytes | None], *, remote: str, branch: str
) -> None:
    """Refuse a pull that brings a rule file ``imlgit check`` would refuse: once on
    main, a file that does not parse stops every command that needs that rule."""

    seen: dict[str, str] = {}
    problems: list[RuleError] = []
    for path, blob in sorted(yours.items()):
        if blob is None or not path.startswith(RULES_DIR + "/"):
            continue
        data = store.repo[_oid(blob)]
        raw = data.as_raw_string() if isinstance(data, Blob) else b""
        problems += check_rule_file(path, raw, seen)
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise PullRefused(
            f"pull from {remote}/{branch} refused: it brings {len(problems)} invalid rule "
            f"file problem{'s' if len(problems) != 1 else ''}; nothing was merged and "
            f"{branch} is as it was (only refs/remotes/{remote}/* moved). Have them fixed "
            f"on {remote}, then pull again.\n{shown}{more}",
            problems,
        )


def _check_worktree(store: Store, branch: str, ours: str, paths: Iterable[str]) -> None:
    """Refuse to pull over a person's uncommitted edit to a file the pull would change."""
    if store.repo.bare:
        return
    try:
        checked_out, _ = store.repo.refs.follow(Ref(b"HEAD"))
    except (KeyError, IndexError):
        return
    if not checked_out or checked_out[-1] != _HEADS + branch.encode():
        return
    tree = _tree(store, ours)
    dirty = []
    for path in sorted(paths):
        f = store.path / path
        on_disk = Blob.from_string(f.read_bytes()).id if f.is_file() else None
        committed: bytes | None = None
        if tree is not None:
            try:
                committed = tree_lookup_path(store.repo.__getitem__, tree, path.encode())[1]
            except (KeyError, NotTreeError):
                committed = None
        if on_disk != committed:
            dirty.append(path)
    if dirty:
        raise ConflictError(
            "uncommitted edits in the working tree: "
            + ", ".join(dirty)
            + f"; commit them (or discard them) before pulling — {branch} was not changed",
            [rule_id_from_path(p) or p for p in dirty],
        )


def pull(
    store: Store,
    *,
    author: Identity,
    remote: str = "origin",
    branch: str = DEFAULT_BRANCH,
) -> PullResult:
    """Fetch ``remote``, then merge ``<remote>/<branch>`` into the local ``branch``.

    A fast-forward when the local branch has nothing new, else a merge commit by
    ``author`` whose rationale names the remote. Rules changed on both sides are
    a :class:`SyncConflict` with both versions, and a file the pull would change
    that has uncommitted edits in the working tree is a :class:`ConflictError`;
    either way only the remote-tracking refs moved.
    """
    fetched = fetch(store, remote, author=author)
    theirs = fetched.get(branch)
    if theirs is None:
        raise RemoteError(f"{remote} has no branch {branch}; nothing to pull")
    ours = store.head(branch)
    if ours is None:
        raise RevisionNotFound(branch)
    if store.is_ancestor(theirs, ours):
        return PullResult(ours, False, True, fetched=fetched)
    mine, yours, both = _conflicts(store, ours, theirs)
    if both:
        raise _conflict_error(store, both, mine, yours, remote=remote, branch=branch)
    _check_incoming(store, yours, remote=remote, branch=branch)
    _check_worktree(store, branch, ours, set(yours))
    rules = sorted({rid for p in yours if (rid := rule_id_from_path(p))})
    url = remote_url(store, remote)
    n = len(rules)
    rationale = (
        f"Pulled from {remote} ({url}): {branch} there had commits this copy did not, "
        f"changing {n} rule{'s' if n != 1 else ''} and {len(yours) - n} other "
        f"file{'s' if len(yours) - n != 1 else ''}. No rule was changed on both sides, "
        "so the merge takes each changed file from the side that changed it."
    )
    trailer_rules = rules if len(" ".join(rules)) <= _MAX_RULES_TRAILER else []
    message = CommitMessage.make(
        "merge",
        f"merge {remote}/{branch} into {branch}",
        rationale,
        rules=trailer_rules,
        trailers=[("Imlgit-Remote", f"{remote} {theirs}")],
    )
    try:
        # a merge commit where main requires signed approvals is signed, like any
        # commit that may change the configuration
        sign = branch == DEFAULT_BRANCH and store.signing_required_at(ours)
        result = store.merge(theirs, message, author=author, into=branch, sign=sign)
    except ConflictError:
        # the local branch moved while we looked: report against its new head
        now = store.head(branch) or ours
        mine, yours, both = _conflicts(store, now, theirs)
        if both:
            raise _conflict_error(store, both, mine, yours, remote=remote, branch=branch) from None
        raise
    return PullResult(
        result.sha,
        result.fast_forward,
        False,
        tuple(result.changed),
        tuple(rid for p in result.changed if (rid := rule_id_from_path(p))),
        fetched,
    )


# --------------------------------------------------------------------- push


def push(
    store: Store,
    *,
    remote: str = "origin",
    branches: Sequence[str] = (DEFAULT_BRANCH,),
    proposals: bool = False,
) -> list[str]:
    """Push ``branches`` (and, with ``proposals``, every local ``proposals/*`` branch).

    Only fast-forwards: a branch the remote has moved past (or has commits this
    copy has not fetched) is :class:`PushRejected` before anything is sent.
    Returns the branches the remote updated (up-to-date ones are left out), and
    ``refs/imlgit/evidence`` when the evidence went too, and moves the branches'
    ``refs/remotes/<remote>/*`` refs to match. The evidence replaces the remote's
    after an erasure only when it holds every experience id the remote's does
    (pulled first), so a push carries an erasure and never loses evidence.
    """
    names = list(dict.fromkeys(branches))
    if proposals:
        names += [b for b in store.branches() if b.startswith(PROPOSALS_PREFIX) and b not in names]
    local: dict[str, str] = {}
    for name in names:
        sha = store.head(name)
        if sha is None:
            raise RevisionNotFound(name)
        local[name] = sha
    url = remote_url(store, remote)
    client, path = _client(store, url, "push")
    updated: dict[str, str] = {}
    ours_evidence = store.head(evidence.EVIDENCE_REF)
    replaced = evidence.rewritten(store, ours_evidence)
    sent: list[str] = []

    def update_refs(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
        rejected = []
        out: dict[Ref, ObjectID] = {}
        old_ev = refs.get(_EVIDENCE)
        if ours_evidence is not None and (old_ev is None or _hex(old_ev) != ours_evidence):
            # the evidence goes with every push; after an erasure it replaces the
            # remote's, but only when it holds everything the remote's does
            if old_ev is None or old_ev == _ZERO_SHA or _hex(old_ev) in replaced or (
                old_ev in store.repo.object_store
                and (store.is_ancestor(_hex(old_ev), ours_evidence)
                     or evidence.covers(store, ours_evidence, _hex(old_ev)))
            ):  # fmt: skip
                out[_EVIDENCE] = _oid(ours_evidence)
                sent.append(evidence.EVIDENCE_REF)
            else:
                rejected.append("the evidence (refs/imlgit/evidence)")
        for name, sha in local.items():
            ref = Ref(_HEADS + name.encode())
            old = refs.get(ref)
            if old is not None and old != _ZERO_SHA:
                if _hex(old) == sha:
                    continue
                if old not in store.repo.object_store or not store.is_ancestor(_hex(old), sha):
                    rejected.append(name)
                    continue
            out[ref] = _oid(sha)
            updated[name] = sha
        if rejected:
            raise PushRejected(
                f"push to {remote} ({url}) rejected: the remote's {', '.join(rejected)} "
                f"has commits this memory does not; pull first (imlgit pull), then push "
                "again. Nothing was pushed.",
                rejected,
            )
        return out

    def generate_pack_data(
        have: Set[ObjectID],
        want: Set[ObjectID],
        *,
        ofs_delta: bool = False,
        progress: Callable[[bytes], None] | None = None,
    ) -> tuple[int, Iterator[UnpackedObject]]:
        return store.repo.generate_pack_data(set(have), set(want), ofs_delta=ofs_delta)

    with _talking_to(url, "push to"):
        result = client.send_pack(path.encode("utf-8"), update_refs, generate_pack_data)
    failed = {
        ref.decode("utf-8", "replace"): error
        for ref, error in (result.ref_status or {}).items()
        if error is not None
    }
    if failed:
        names_failed = [r[len(_HEADS) :] if r.startswith("refs/heads/") else r for r in failed]
        stale = any(
            word in error
            for error in failed.values()
            for word in ("non-fast-forward", "fetch first", "stale", "lock", "rejected")
        )
        detail = "; ".join(f"{ref}: {error}" for ref, error in sorted(failed.items()))
        for name in list(updated):
            if name in names_failed:
                del updated[name]
        _track(store, remote, updated)
        if stale:
            raise PushRejected(
                f"push to {remote} ({url}) rejected for {', '.join(names_failed)} ({detail}); "
                "the remote moved: pull first (imlgit pull), then push again",
                names_failed,
            )
        raise RemoteError(f"push to {remote} ({url}) refused: {detail}")
    _track(store, remote, updated)
    return list(updated) + sent


def _track(store: Store, remote: str, pushed: Mapping[str, str]) -> None:
    """After a push, the remote-tracking refs know where the remote's branches are."""
    for name, sha in pushed.items():
        tracking = _tracking_ref(remote, name)
        store.refs.force(tracking, sha)
