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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
from .git.remote import (
    ZERO_SHA,
    Transport,
    check_remote_name,
    init_clone,
    normalize_url,
)
from .git.remote import remote_url as _remote_url
from .rules import RULES_DIR, rule_id_from_path
from .store import CONFIG_FILE, DEFAULT_BRANCH, Store, check_rule_file
from .store.create import new_directory

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
_HEADS = "refs/heads/"
log = logging.getLogger("imlgit.sync")
_EVIDENCE = evidence.EVIDENCE_REF
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


def _tracking_ref(remote: str, branch: str) -> bytes:
    return f"refs/remotes/{remote}/{branch}".encode()


def remote_url(store: Store, remote: str = "origin") -> str:
    """The URL of ``remote``, from the repository's ``.git/config``."""
    return _remote_url(store.git, remote)


def _changes(store: Store, old: str | None, new: str) -> dict[str, bytes | None]:
    """path -> blob at ``new`` (None: deleted) for every file that differs."""
    objects = store.objects
    a = objects.commit(old).tree if old is not None else None
    b = objects.commit(new).tree
    return {path: objects.file_blob(b, path) for path in objects.diff_trees(a, b)}


def _text(store: Store, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    return store.objects.read_blob(blob.decode("ascii")).decode("utf-8", errors="replace")


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
    transport = Transport(store.git, url, "pull")
    objects = store.objects

    # evidence this copy erased is never fetched back (the remote has not had the
    # erasure pushed yet): the commits an erasure here replaced
    replaced = evidence.rewritten(store, store.head(evidence.EVIDENCE_REF))

    def want(refs: Mapping[str, str]) -> list[str]:
        return [
            sha
            for ref, sha in refs.items()
            if (ref.startswith(_HEADS) or (ref == _EVIDENCE and sha not in replaced))
            and sha != ZERO_SHA
            and not objects.has(sha)
        ]

    remote_refs = transport.fetch(want)
    branches: dict[str, str] = {}
    for ref, sha in remote_refs.items():
        if not ref.startswith(_HEADS) or sha == ZERO_SHA:
            continue
        if not objects.has(sha):
            raise RemoteError(f"fetch from {url} failed: {sha} did not arrive")
        branches[ref[len(_HEADS) :]] = sha
    theirs = remote_refs.get(_EVIDENCE)
    if theirs is not None and theirs != ZERO_SHA and theirs not in replaced:
        if not objects.has(theirs):
            raise RemoteError(f"fetch from {url} failed: {theirs} did not arrive")
        try:
            evidence.merge_from(store, theirs, source=f"{remote} ({url})", person=author)
        except StoreError as exc:  # the remote's evidence is refused; its branches still come
            log.warning("%s", exc)
    for branch, head in sorted(branches.items()):
        store.refs.force(_tracking_ref(remote, branch), head)
    if prune:
        base = f"refs/remotes/{remote}/".encode()
        for name in store.refs.names(base):
            branch = name.decode("utf-8", "replace")
            if branch != "HEAD" and branch not in branches:
                store.refs.remove(base + name, None)
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
    check_remote_name(remote)
    p = Path(path)
    url = normalize_url(url)
    with new_directory(p, "clone only into a new directory"):
        staging = Store(init_clone(p, url, remote=remote, branch=DEFAULT_BRANCH, clock=clock))
        try:
            branches = fetch(staging, remote)
            if not branches:
                raise NotAMemoryRepo(url, "the repository is empty")
            main = branches.get(DEFAULT_BRANCH)
            if main is None:
                raise NotAMemoryRepo(url, f"it has no branch {DEFAULT_BRANCH}")
            if staging.read_file(CONFIG_FILE, main) is None:
                raise NotAMemoryRepo(url, f"no {CONFIG_FILE} on {DEFAULT_BRANCH}")
            staging.refs.set((_HEADS + DEFAULT_BRANCH).encode(), None, main)
            staging.refs.set_symbolic(
                _tracking_ref(remote, "HEAD"), _tracking_ref(remote, DEFAULT_BRANCH)
            )
            staging.checkout_worktree()
            if install_hooks:
                staging.install_hooks()
        finally:
            staging.close()
        return Store.open(p, clock=clock)


# --------------------------------------------------------------------- pull


def _conflicts(
    store: Store, ours: str, theirs: str
) -> tuple[dict[str, bytes | None], dict[str, bytes | None], list[str]]:
    """(our changes, their changes, paths both changed differently) since the merge base."""
    base = store.objects.merge_base(ours, theirs)
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
        problems += check_rule_file(path, store.objects.read_blob(blob.decode("ascii")), seen)
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
    dirty = store.dirty_paths(branch, paths, ours)
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
        sign = branch == DEFAULT_BRANCH and store.guard.signing_required_at(ours)
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
    transport = Transport(store.git, url, "push")
    updated: dict[str, str] = {}
    ours_evidence = store.head(evidence.EVIDENCE_REF)
    replaced = evidence.rewritten(store, ours_evidence)
    sent: list[str] = []

    def update_refs(refs: Mapping[str, str]) -> dict[str, str]:
        rejected = []
        out: dict[str, str] = {}
        old_ev = refs.get(_EVIDENCE)
        if ours_evidence is not None and old_ev != ours_evidence:
            # the evidence goes with every push; after an erasure it replaces the
            # remote's, but only when it holds everything the remote's does
            if old_ev is None or old_ev == ZERO_SHA or old_ev in replaced or (
                store.objects.has(old_ev)
                and (store.is_ancestor(old_ev, ours_evidence)
                     or evidence.covers(store, ours_evidence, old_ev))
            ):  # fmt: skip
                out[_EVIDENCE] = ours_evidence
                sent.append(evidence.EVIDENCE_REF)
            else:
                rejected.append("the evidence (refs/imlgit/evidence)")
        for name, sha in local.items():
            ref = _HEADS + name
            old = refs.get(ref)
            if old is not None and old != ZERO_SHA:
                if old == sha:
                    continue
                if not store.objects.has(old) or not store.is_ancestor(old, sha):
                    rejected.append(name)
                    continue
            out[ref] = sha
            updated[name] = sha
        if rejected:
            raise PushRejected(
                f"push to {remote} ({url}) rejected: the remote's {', '.join(rejected)} "
                f"has commits this memory does not; pull first (imlgit pull), then push "
                "again. Nothing was pushed.",
                rejected,
            )
        return out

    failed = transport.push(update_refs)
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
