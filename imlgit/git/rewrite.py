"""Rewriting a ref's history and removing what no ref reaches: erasure's git part.

Personal data a person asks to erase goes from every commit of a ref that
holds it (:func:`rewrite_ref`) and then from the object store, loose or packed,
with the reflog and git's derived files that still name the old commits
(:func:`expunge`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable

from dulwich.objects import ObjectID

from ..commits import Identity
from ..errors import ConflictError, RevisionNotFound, StoreError
from .objects import hexsha, oid
from .refs import ref_name
from .repo import GitRepo

__all__ = ["rewrite_ref", "expunge", "reachable"]

def rewrite_ref(
    git: GitRepo, ref: str, edit: Callable[[str, bytes], bytes | None], under: str,
    who: Identity,
) -> tuple[str, str, set[bytes]]:
    """Rewrite every commit reachable from ``ref`` with each file under ``under``
    replaced by ``edit(path, data)`` (None: kept as it is); authors, times and
    messages kept. The ref moves by compare-and-swap. Returns (old head, new head,
    the objects of the old history the new one does not have). Nothing moves when
    nothing changed."""
    objects, refs = git.objects, git.refs
    old = refs.head(ref)
    if old is None:
        raise RevisionNotFound(ref)
    others = refs.heads_except(skip=ref_name(ref))
    own = {c.id for c in objects.walk([old], others)}
    history = list(objects.walk([old], reverse=True))
    shared = [c.id for c in history if c.id not in own]
    if shared:
        raise StoreError(
            f"{ref} shares history with other refs ({len(shared)} commits, e.g. "
            f"{hexsha(shared[0])[:12]}); it is not rewritten, so nothing else is touched"
        )
    mapped: dict[bytes, bytes] = {}
    blobs: dict[bytes, bytes | None] = {}
    before: set[bytes] = set()
    for c in history:
        before.add(c.id)
        objects.tree_objects(c.tree, before)
        changes: dict[str, bytes | None] = {}
        for path, blob in objects.files_under(c.tree, under):
            if blob not in blobs:
                data = objects.read_blob(hexsha(blob))
                new_data = edit(path, data)
                blobs[blob] = None if new_data is None or new_data == data else new_data
            if blobs[blob] is not None:
                changes[path] = blobs[blob]
        parents = [mapped.get(p, p) for p in c.parents]
        if not changes and parents == list(c.parents):
            mapped[c.id] = c.id
            continue
        tree = objects.write_tree_or_empty(c.tree, objects.blobs(changes))
        n = objects.new_commit(tree, parents, c.message, b"", b"", 0, like=c)
        mapped[c.id] = n.id
    new = hexsha(mapped[oid(old)])
    if new == old:
        return old, old, set()
    after = objects.objects_between(new, None)
    if not refs.cas(ref_name(ref), old, new, who, git.clock(), "rewritten"):
        raise ConflictError(f"{ref} moved while it was rewritten; nothing changed", [])
    return old, new, before - after


def reachable(git: GitRepo) -> set[bytes]:
    """Every object a ref (or a detached HEAD) reaches."""
    seen: set[bytes] = set()
    for c in git.objects.walk(git.refs.heads_except()):
        seen.add(c.id)
        git.objects.tree_objects(c.tree, seen)
    return seen


def expunge(git: GitRepo, objects: Iterable[bytes], ref: str) -> int:
    """Remove those of ``objects`` that no ref reaches from the object store, loose
    or packed, and drop ``ref``'s reflog, which would still name the old history.
    Returns how many objects were removed."""
    store = git.repo.object_store
    gone = {ObjectID(o) for o in objects} - reachable(git)
    packed = {o for o in gone if any(o in pack for pack in store.packs)}
    removed = 0
    for sha in gone - packed:
        try:
            store.delete_loose_object(sha)
            removed += 1
        except (FileNotFoundError, KeyError):
            continue
    if packed:
        store.repack(exclude=packed)
        removed += len(packed)
        pack_dir = git.gitdir / "objects" / "pack"
        for extra in pack_dir.glob("pack-*.*"):  # a bitmap or reverse index of a pack gone
            orphan = not extra.with_suffix(".pack").exists()
            if orphan and extra.suffix not in (".pack", ".idx"):
                extra.unlink(missing_ok=True)
    # git's commit-graph and multi-pack index name the old commits: git rebuilds them
    info = git.gitdir / "objects" / "info"
    for derived in ("commit-graph", "multi-pack-index"):
        (info / derived).unlink(missing_ok=True)
    shutil.rmtree(info / "commit-graphs", ignore_errors=True)
    (git.gitdir / "objects" / "pack" / "multi-pack-index").unlink(missing_ok=True)
    git.objects.forget(set(gone))
    log = git.gitdir / "logs" / ref_name(ref).decode()
    log.unlink(missing_ok=True)
    return removed
