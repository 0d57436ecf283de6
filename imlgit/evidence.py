"""The evidence: the experiences learning stored, on a ref of its own so it can be erased.

Each batch learning stores is two files at one path,
``experiences/<xx>/<batch>.jsonl``:

- on the branch learning commits to (a proposal, so main's history once
  approved), a **pointer**: a header line ``{"evidence": "refs/imlgit/evidence",
  "batch": ..., "experiences": N}`` and one ``{"id": ..., "scope": ...}`` line
  per experience. Ids only: rationales cite them, and an id that carries personal
  data is refused before anything is stored (:mod:`imlgit.privacy`);
- on ``refs/imlgit/evidence``, a chain of commits of its own, the experiences in
  full (screened as ``[privacy] experiences`` says).

So :func:`forget` rewrites that chain alone (every erased line replaced by a
tombstone saying when and why) and never a commit of main: the rules' history,
its shas and the ids its rationales cite stay as people audited them. Memories
from before this layout hold full experiences in main's own trees; those are
read as before, and :func:`forget` refuses to erase them, saying why (it would
take a rewrite of main).

Every reader goes through :func:`batch_texts` (a pointer resolved, tombstones
left out), so the engine, the gated policy's recount and the review read the
same evidence.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .commits import CommitMessage, Identity
from .errors import ExperienceNotFound, ImlgitError, RationaleRequired, StoreError
from .rules import EXPERIENCES_DIR
from .store import Store

__all__ = [
    "EVIDENCE_REF",
    "Found",
    "Forgotten",
    "batch_texts",
    "covers",
    "erased",
    "forget",
    "is_pointer",
    "locate",
    "merge_from",
    "pointer",
    "rewritten",
    "store_batch",
    "text_at",
]

EVIDENCE_REF = "refs/imlgit/evidence"
MAX_WHY = 2_000


def pointer(bid: str, batch: Iterable[tuple[str, str]]) -> bytes:
    """The file a batch leaves on the branch: its ids and scopes, no content."""
    items = list(batch)
    head = {"evidence": EVIDENCE_REF, "batch": bid, "experiences": len(items)}
    lines = [json.dumps(head)] + [json.dumps({"id": i, "scope": s}) for i, s in items]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _first(text: str) -> dict[str, object] | None:
    line = text.split("\n", 1)[0]
    if not line.startswith("{") or len(line) > 10_000:
        return None
    try:
        item = json.loads(line)
    except ValueError:
        return None
    return item if isinstance(item, dict) else None


def is_pointer(text: str) -> bool:
    head = _first(text)
    return head is not None and head.get("evidence") == EVIDENCE_REF


def _lines(text: str) -> Iterator[tuple[str, dict[str, object] | None]]:
    """(line, its JSON object or None) for each non-empty line."""
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            yield line, None
            continue
        yield line, item if isinstance(item, dict) else None


def _is_tombstone(item: dict[str, object] | None) -> bool:
    return item is not None and "erased" in item and "input" not in item


def _without_tombstones(text: str) -> str:
    return "".join(line + "\n" for line, item in _lines(text) if not _is_tombstone(item))


def text_at(store: Store, path: str, blob: str) -> tuple[str, str] | None:
    """The experiences a stored file at ``path`` (blob ``blob``) holds: (a key that
    changes when they do, the text, tombstones left out); a pointer is resolved on
    the evidence ref. None when this copy lacks what a pointer names."""
    text = store.read_blob(blob).decode("utf-8", "replace")
    if not is_pointer(text):
        return blob, text
    tip = store.head(EVIDENCE_REF)
    found = store.blob_at(path, tip) if tip is not None else None
    if found is None:
        return None
    return found, _without_tombstones(store.read_blob(found).decode("utf-8", "replace"))


def batch_texts(store: Store, rev: str) -> list[tuple[str, str, str]]:
    """(path, key, text) of every evidence file stored at ``rev``, each resolved by
    :func:`text_at` (a batch this copy lacks left out)."""
    out = []
    for path, blob in store.files_under(EXPERIENCES_DIR, rev):
        if not path.endswith(".jsonl"):
            continue
        got = text_at(store, path, blob)
        if got is not None:
            out.append((path, got[0], got[1]))
    return out


def store_batch(store: Store, path: str, data: bytes, *, author: Identity) -> str | None:
    """Put a batch's experiences on the evidence ref (one commit) and return it, for
    :func:`unstore`; None when the batch is there already (kept as it is)."""
    before = store.head(EVIDENCE_REF)
    if before is not None and store.blob_at(path, before) is not None:
        return None
    batch = path.rsplit("/", 1)[-1].removesuffix(".jsonl")
    msg = CommitMessage.make(
        "experiences",
        f"store the experiences of batch {batch}",
        "The experiences a learning batch read, kept apart from the rules' history so "
        "that they can be erased (imlgit forget).",
    )
    return store.commit({path: data}, msg, author=author, branch=EVIDENCE_REF,
                        expected_head=before, sync_worktree=False)  # fmt: skip


def unstore(store: Store, made: str | None) -> None:
    """Undo :func:`store_batch` after the learning commits failed: the commit it
    ``made`` goes when nothing was stored on top of it since (else it stays, read
    by nothing: no pointer names it)."""
    if made is None or store.head(EVIDENCE_REF) != made:
        return
    parents = store.commit_info(made).parents
    try:
        store.move_ref(EVIDENCE_REF, made, parents[0] if parents else None)
    except ImlgitError:
        return  # moved meanwhile: another learner's batch is on top; ours stays unread
    gone = store.objects.objects_between(made, parents[0] if parents else None)
    store.expunge(gone, EVIDENCE_REF)


# --------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class Found:
    """Where one experience id stands in this copy."""

    id: str
    state: str  # "stored" | "erased" | "in main's history" | "unknown"
    path: str | None = None
    erased: str | None = None  # the date it was erased
    why: str | None = None
    experience: dict[str, object] | None = None

    def __str__(self) -> str:
        if self.state == "erased":
            return f"{self.id}: erased on {self.erased}: {self.why}"
        if self.state == "stored":
            return f"{self.id}: stored in {self.path}"
        if self.state == "in main's history":
            return (f"{self.id}: stored in {self.path} in main's own history (written before "
                    "evidence moved to refs/imlgit/evidence)")  # fmt: skip
        return f"{self.id}: no experience of this id is stored here"

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "state": self.state, "path": self.path, "erased": self.erased,
                "why": self.why, "experience": self.experience}  # fmt: skip


def _evidence_files(store: Store, rev: str | None) -> list[tuple[str, str]]:
    return store.files_under(EXPERIENCES_DIR, rev) if rev is not None else []


def locate(store: Store, ids: Sequence[str]) -> dict[str, Found]:
    """What this copy holds of each id: on the evidence ref (stored or erased), or in
    main's own trees (the layout before the evidence ref)."""
    want = set(ids)
    out: dict[str, Found] = {}
    tip = store.head(EVIDENCE_REF)
    for path, blob in _evidence_files(store, tip):
        for _, item in _lines(store.read_blob(blob).decode("utf-8", "replace")):
            if item is None or item.get("id") not in want:
                continue
            rid = str(item["id"])
            if not _is_tombstone(item):  # content anywhere wins: it is what forget removes
                out[rid] = Found(rid, "stored", path, experience=item)
            elif rid not in out:
                out[rid] = Found(rid, "erased", path, str(item.get("erased")),
                                 str(item.get("why", "")))  # fmt: skip
    missing = want - out.keys()
    if missing and store.head() is not None:
        for path, blob in _evidence_files(store, store.head()):
            text = store.read_blob(blob).decode("utf-8", "replace")
            if is_pointer(text):
                continue
            for _, item in _lines(text):
                if item is not None and item.get("id") in missing and "input" in item:
                    rid = str(item["id"])
                    out.setdefault(rid, Found(rid, "in main's history", path))
    return {i: out.get(i, Found(i, "unknown")) for i in ids}


@dataclass(frozen=True)
class Forgotten:
    ids: tuple[str, ...]
    head: str  # the evidence ref's new head
    rewritten: int  # commits of the evidence chain rewritten
    removed: int  # objects removed from this copy
    already: tuple[str, ...] = ()  # ids erased before: nothing to do

    def to_dict(self) -> dict[str, object]:
        return {"ids": list(self.ids), "evidence": self.head, "rewritten": self.rewritten,
                "objects_removed": self.removed, "already_erased": list(self.already)}  # fmt: skip


def _tombstone(item: dict[str, object], day: str, why: str) -> str:
    return json.dumps({"id": item.get("id"), "scope": item.get("scope"), "erased": day,
                       "why": why})  # fmt: skip


def _erase(text: str, stones: dict[str, str]) -> str:
    """``text`` with each line whose id is in ``stones`` replaced by its tombstone."""
    out = []
    for line, item in _lines(text):
        rid = item.get("id") if item is not None else None
        if isinstance(rid, str) and rid in stones and not _is_tombstone(item):
            out.append(stones[rid])
        else:
            out.append(line)
    return "".join(line + "\n" for line in out)


def forget(
    store: Store, ids: Sequence[str], *, why: str, person: Identity, day: str | None = None
) -> Forgotten:
    """Erase the experiences ``ids`` from this copy: every commit of the evidence ref
    rewritten with each one's line replaced by a tombstone (the date and ``why``),
    the old chain's objects and the ref's reflog removed; main and its commits are
    not touched. All or nothing: an id that is not stored here, or only in main's
    own history, is refused before anything changes."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ExperienceNotFound("name at least one experience id to forget", "")
    why = " ".join(why.split())
    if not why:
        raise RationaleRequired('a rationale is required: pass --why "..." saying why')
    if len(why) > MAX_WHY:
        raise RationaleRequired(f"the rationale is {len(why)} characters; at most {MAX_WHY}")
    found = locate(store, ids)
    unknown = [f for f in found.values() if f.state == "unknown"]
    if unknown:
        raise ExperienceNotFound(
            "; ".join(str(f) for f in unknown[:5]) + "; nothing was erased", unknown[0].id
        )
    old = [f for f in found.values() if f.state == "in main's history"]
    if old:
        raise StoreError(
            "; ".join(str(f) for f in old[:5]) + ": erasing it would rewrite main's commits, "
            "which imlgit never does; nothing was erased (see docs/DESIGN.md, Review and trust)"
        )
    day = day or time.strftime("%Y-%m-%d", time.gmtime())
    todo = {f.id: f for f in found.values() if f.state == "stored"}
    already = tuple(f.id for f in found.values() if f.state == "erased")
    if not todo:
        return Forgotten((), store.head(EVIDENCE_REF) or "", 0, 0, already)
    stones = {rid: _tombstone(f.experience or {"id": rid}, day, why) for rid, f in todo.items()}
    done = _rewrite(store, stones, person=person, why=why)
    return Forgotten(done.ids, done.head, done.rewritten, done.removed, already)


REWRITTEN_DIR = "rewritten"  # on the evidence ref: commits whose evidence this one holds
# (each erasure's replaced commits, each merged remote head), so that a remote still
# at one of them is replaced by a push and never fetched back


def _rewrite(store: Store, stones: dict[str, str], *, person: Identity, why: str) -> Forgotten:
    old_chain = [c.sha for c in store.log(EVIDENCE_REF)]

    def edit(path: str, data: bytes) -> bytes | None:
        text = data.decode("utf-8", "replace")
        if not any(f'"{rid}"' in text for rid in stones):
            return None
        return _erase(text, stones).encode("utf-8")

    msg = CommitMessage.make(  # made first: a message it refuses changes nothing
        "forget",
        f"erase {len(stones)} experience{'s' if len(stones) != 1 else ''}",
        why,
        trailers=[("Imlgit-Erased", " ".join(sorted(stones)))],
    )
    old, head, gone = store.rewrite_ref(EVIDENCE_REF, edit, EXPERIENCES_DIR)
    new_chain = {c.sha for c in store.log(EVIDENCE_REF)}
    replaced = [sha for sha in old_chain if sha not in new_chain]
    # a commit on top says who erased what and why (ids only), and names the commits
    # it replaced: a remote still at one of them holds nothing this copy lacks
    record = {f"{REWRITTEN_DIR}/{old[:12]}.txt": "".join(f"{sha}\n" for sha in replaced).encode()}
    head = store.commit(record, msg, author=person, branch=EVIDENCE_REF, expected_head=head,
                        sync_worktree=False) or head  # fmt: skip
    removed = store.expunge(gone, EVIDENCE_REF)
    return Forgotten(tuple(sorted(stones)), head, len(replaced), removed)


def rewritten(store: Store, rev: str | None) -> set[str]:
    """The evidence commits ``rev`` holds everything of without having them (what an
    erasure replaced, a remote head merged), as its records say."""
    out: set[str] = set()
    for _, blob in store.files_under(REWRITTEN_DIR, rev) if rev is not None else []:
        out.update(line.strip() for line in store.read_blob(blob).decode("ascii", "replace")
                   .splitlines() if line.strip())  # fmt: skip
    return out


# --------------------------------------------------------------------- sync


def _ids(store: Store, rev: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(id -> path of its content, id -> its tombstone line) on evidence ``rev``."""
    content: dict[str, str] = {}
    stones: dict[str, str] = {}
    for path, blob in _evidence_files(store, rev):
        for line, item in _lines(store.read_blob(blob).decode("utf-8", "replace")):
            rid = item.get("id") if item is not None else None
            if not isinstance(rid, str):
                continue
            if _is_tombstone(item):
                stones[rid] = line
            else:
                content[rid] = path
    return content, stones


def erased(store: Store) -> set[str]:
    """The ids this copy erased (learning never stores them again)."""
    out: set[str] = set()
    for _, blob in _evidence_files(store, store.head(EVIDENCE_REF)):
        data = store.read_blob(blob)
        if b'"erased"' not in data:  # most files hold no tombstone: not parsed
            continue
        out.update(str(item["id"]) for _, item in _lines(data.decode("utf-8", "replace"))
                   if _is_tombstone(item) and item is not None)  # fmt: skip
    return out


def _shaped(store: Store, theirs: str, ours: str | None) -> str | None:
    """Why ``theirs`` is not evidence imlgit wrote (None: it is): a commit whose
    history (beyond ``ours``) holds only batch files and erasure records."""
    if not store.objects.is_commit(theirs):
        return f"{theirs[:12]} is not a commit"
    for c in store.objects.commits_between(theirs, ours):
        names = store.objects.top_names(store.objects.commit(c).tree)
        if not names <= {EXPERIENCES_DIR, REWRITTEN_DIR}:
            return f"commit {c[:12]} holds {', '.join(sorted(names - {EXPERIENCES_DIR}))[:80]}"
    mine = dict(_evidence_files(store, ours))
    for path, blob in _evidence_files(store, theirs):  # what readers would read
        if mine.get(path) == blob:
            continue
        for n, (_, item) in enumerate(_lines(store.read_blob(blob).decode("utf-8", "replace"))):
            if not _valid(item):
                return f"{path}, line {n + 1} is not an experience, its hash or a tombstone"
    return None


def _valid(item: dict[str, object] | None) -> bool:
    """A line evidence may hold: an experience, its hash (hashes mode) or a tombstone."""
    return (item is not None and isinstance(item.get("id"), str)
            and ("input" in item or "sha256" in item or _is_tombstone(item)))  # fmt: skip


def covers(store: Store, ours: str, theirs: str) -> bool:
    """Whether evidence ``ours`` holds everything ``theirs`` does (each id as content
    or as a tombstone): then ``theirs`` may be replaced by ``ours`` (a push after an
    erasure) without losing anything."""
    mine_c, mine_s = _ids(store, ours)
    theirs_c, theirs_s = _ids(store, theirs)
    return all(i in mine_c or i in mine_s for i in theirs_c.keys() | theirs_s.keys())


def merge_from(store: Store, theirs: str | None, *, source: str, person: Identity) -> str | None:
    """Bring evidence ``theirs`` (a remote's) into this copy: taken as it is when this
    copy has none or it descends from ours; else the union, each batch's lines by
    id, an erasure on either side winning (ours applied to theirs' lines, and theirs
    erasing ours through :func:`forget`'s rewrite). Returns the new head, or None
    when nothing changed. The merged head never has theirs as a parent, so what
    this copy erased does not become reachable again."""
    if theirs is None:
        return None
    ours = store.head(EVIDENCE_REF)
    if ours == theirs or theirs in rewritten(store, ours):
        return None  # ours, or what ours was before an erasure here
    bad = _shaped(store, theirs, ours)
    if bad is not None:
        raise StoreError(f"the evidence of {source} (refs/imlgit/evidence) is not evidence "
                         f"imlgit wrote: {bad}; it was not merged")  # fmt: skip
    if ours is not None and store.is_ancestor(theirs, ours):
        return None
    if ours is None or store.is_ancestor(ours, theirs):
        store.move_ref(EVIDENCE_REF, ours, theirs)
        return theirs
    mine_c, mine_s = _ids(store, ours)
    theirs_c, theirs_s = _ids(store, theirs)
    erase_here = {rid: line for rid, line in theirs_s.items() if rid in mine_c}
    if erase_here:
        why = f"erased on {source}"
        _rewrite(store, erase_here, person=person, why=why)
        ours = store.head(EVIDENCE_REF)
        mine_c, mine_s = _ids(store, ours)
    stones = {**theirs_s, **mine_s}
    changes: dict[str, bytes | None] = {}
    for path, blob in _evidence_files(store, theirs):
        text = store.read_blob(blob).decode("utf-8", "replace")
        here = store.blob_at(path, ours)
        if here is None:
            changes[path] = _erase(text, stones).encode("utf-8")
            continue
        mine = store.read_blob(here).decode("utf-8", "replace")
        have = {item.get("id") for _, item in _lines(mine) if item is not None}
        extra = [line for line, item in _lines(text)
                 if _valid(item) and item is not None and item.get("id") not in have]  # fmt: skip
        if extra:
            changes[path] = (mine + _erase("\n".join(extra), stones)).encode("utf-8")
    # theirs is not kept (what it held that this copy erased goes with it); the
    # record says this head holds everything theirs did, for push and fetch
    changes[f"{REWRITTEN_DIR}/merged-{theirs[:12]}.txt"] = f"{theirs}\n".encode()
    msg = CommitMessage.make(
        "experiences",
        f"merge the evidence of {source}",
        f"Experiences {source} stored that this copy did not; erasures on either side kept.",
    )
    head = store.commit(changes, msg, author=person, branch=EVIDENCE_REF, expected_head=ours,
                        sync_worktree=False)  # fmt: skip
    store.expunge(store.objects.objects_between(theirs, None), EVIDENCE_REF)
    return head
