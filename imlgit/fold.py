"""A learned proposal that reads like a pull request: its bookkeeping folded.

Learning commits batch by batch (so a run that dies part-way leaves every batch
before it): per batch, the experiences it learns from, one commit per change of
meaning (a rule added, revised, merged, retired or restored) and one commit of
the figures the batch recounted. Ten batches make twenty bookkeeping commits
around a handful of changes a person has to judge.

:func:`fold` rewrites what one learning run added to a proposal branch, once the
run is over, as

1. one ``experiences`` commit: everything the run stored (so every evidence id in
   the rationales after it resolves);
2. the changes of meaning, in the order they were made, each with its own
   message (rationale, evidence, batch);
3. one ``recount`` commit: the figures as the last batch left them, for every rule
   whose figures differ from what the changes above wrote.

The branch ends at the same tree, byte for byte (:meth:`Store.rewrite` refuses
anything else), so accuracy, evidence and rules are those the batches made. Only
the learner's own commits of this run are rewritten, never a person's, never a
merge, never what a proposal held before the run (it may have been read or
pushed); a proposal branch is not main, and nothing on main is rewritten.

The proposal branches themselves, their approval and rejection, are
:mod:`imlgit.proposals`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .commits import (
    LEARNER,
    MAX_RATIONALE,
    CommitMessage,
    Identity,
    evidence_ids,
    evidence_trailer,
    with_notes,
)
from .errors import ImlgitError, RuleError
from .evidence import is_pointer
from .rules import parse_rule
from .store import CommitInfo, Store

__all__ = [
    "BOOKKEEPING",
    "MEANING",
    "Folded",
    "fold",
]

log = logging.getLogger("imlgit")

BOOKKEEPING = ("experiences", "recount")
MEANING = ("induce", "revise", "merge", "retire", "restore")
MAX_FOLDED = 100_000  # commits one fold walks back at most


@dataclass(frozen=True)
class Folded:
    """What a fold did: ``before`` commits became ``after``; the branch is at ``head``."""

    before: int
    after: int
    head: str

    def to_dict(self) -> dict[str, object]:
        return {"before": self.before, "after": self.after, "head": self.head}


def _run_commits(store: Store, head: str, since: str, author: Identity) -> list[CommitInfo]:
    """The learner's commits from ``since`` (exclusive) to ``head``, oldest first: the
    walk stops at the first commit that is not the learner's own, a merge or not an
    operation of learning, and at ``since``."""
    out: list[CommitInfo] = []
    who = str(author)
    sha = head
    while sha != since and len(out) < MAX_FOLDED:
        info = store.commit_info(sha)
        op = info.trailer("Imlgit-Op")
        if (
            len(info.parents) != 1
            or info.author != who
            or info.committer != who
            or op not in BOOKKEEPING + MEANING
        ):
            break
        out.append(info)
        sha = info.parents[0]
    out.reverse()
    return out


def _changes(store: Store, info: CommitInfo) -> dict[str, bytes | None]:
    return {path: store.read_file(path, info.sha) for path in store.objects.changed_paths(info.sha)}


def _figures(data: bytes | None, path: str) -> tuple[int, int] | None:
    if data is None:
        return None
    try:
        rule = parse_rule(data, path=path)
    except RuleError:
        return None
    return rule.support, rule.contradictions


def fold(store: Store, branch: str, since: str, *, author: Identity = LEARNER) -> Folded | None:
    """Fold the bookkeeping of the learning run that moved ``branch`` from ``since``
    (see the module's docstring). None when there is nothing to fold: the run's
    commits already read one experiences commit, its changes, one recount."""
    head = store.head(branch)
    if head is None or head == since:
        return None
    chain = _run_commits(store, head, since, author)
    if not chain:
        return None
    base = chain[0].parents[0]
    stored: dict[str, bytes | None] = {}
    batches: list[str] = []
    models: list[str] = []
    evidence: list[str] = []
    more = 0
    notes: list[str] = []
    recounted: set[str] = set()
    meaning: list[tuple[dict[str, bytes | None], CommitMessage]] = []
    for info in chain:
        op = info.trailer("Imlgit-Op")
        for key, value in info.trailers:
            if key == "Imlgit-Batch" and value not in batches:
                batches.append(value)
            if key == "Imlgit-Model" and value not in models:
                models.append(value)
        if op == "experiences":
            stored.update(_changes(store, info))
            ids, extra = evidence_ids(info.trailer("Imlgit-Evidence"))
            evidence.extend(ids)
            more += extra
        elif op == "recount":
            recounted.update(store.objects.changed_paths(info.sha))
            for para in info.rationale.split("\n\n")[2:]:
                if para.strip() and para not in notes:
                    notes.append(para)
        else:
            meaning.append((_changes(store, info), info.message))
    # replay: experiences first, then each change of meaning on what is there by then
    current: dict[str, bytes | None] = {}

    def now(path: str) -> bytes | None:
        if path not in current:
            current[path] = store.read_file(path, base)
        return current[path]

    steps: list[tuple[dict[str, bytes | None], CommitMessage]] = []
    if stored:
        n = sum(len([ln for ln in (d or b"").split(b"\n")
                     if ln.strip() and not is_pointer(ln.decode("utf-8", "replace"))])
                for d in stored.values())  # a pointer's header line is no experience  # fmt: skip
        trailers = [("Imlgit-Evidence", evidence_trailer(evidence, more))] if evidence else []
        trailers += [("Imlgit-Batch", b) for b in batches] + [("Imlgit-Model", m) for m in models]
        steps.append((
            dict(stored),
            CommitMessage.make(
                "experiences",
                f"store the {n} experiences of {len(batches)} batches",
                f"The {n} experiences this proposal learned from, in {len(batches)} batches "
                f"({', '.join(batches[:5])}{', ...' if len(batches) > 5 else ''}), stored so "
                "that every evidence id in the rationales after this commit resolves.",
                trailers=trailers,
            ),
        ))
        for path, data in stored.items():
            now(path)
            current[path] = data
    for changes, message in meaning:
        kept = {p: d for p, d in changes.items() if now(p) != d}
        if kept:
            steps.append((kept, message))
            current.update(kept)
    for path in recounted:
        now(path)
    final = {path: store.read_file(path, head) for path in current}
    moved = {p: d for p, d in final.items() if current.get(p) != d}
    if moved:
        lines = []
        for path in sorted(moved):
            old, new = _figures(current.get(path), path), _figures(moved[path], path)
            if old and new:
                lines.append(
                    f"- {path}: support {old[0]} -> {new[0]}, contradictions {old[1]} -> {new[1]}"
                )
            else:
                lines.append(f"- {path}: recounted")
        head_text = (
            f"The figures of {len(moved)} rules as the last of batches "
            f"{batches[0] if batches else '-'} .. {batches[-1] if batches else '-'} counted them "
            "against the stored evidence. No rule's statement or form changes here; each "
            "change of meaning is a commit of its own, before this one."
        )
        figures = "\n".join(lines)
        if len(figures) > MAX_RATIONALE // 2:
            figures = figures[: MAX_RATIONALE // 2].rsplit("\n", 1)[0] + "\n- (the rest: git show)"
        steps.append((
            moved,
            CommitMessage.make(
                "recount",
                f"the figures of {len(moved)} rules",
                with_notes(head_text + "\n\n" + figures, notes),
                trailers=[("Imlgit-Batch", b) for b in batches]
                + [("Imlgit-Model", m) for m in models],
            ),
        ))
    if len(steps) >= len(chain):
        return None
    try:
        shas = store.rewrite(branch, base, steps, expected_head=head, author=author)
    except ImlgitError as exc:
        log.warning("the proposal %s was left unfolded: %s", branch, exc)
        return None
    return Folded(len(chain), len(shas), shas[-1])
