"""Memory hygiene: what ``imlgit doctor`` finds in a memory as it grows.

:func:`diagnose` reads main once and reports :class:`Finding` objects of these kinds:

``unapproved``
    A commit imlgit wrote that reached main without an approval record covering
    it (:mod:`imlgit.approvals`): a plain ``git merge`` of a proposal where the
    hooks did not run, a forged approval merge (by imlgit's own identity, by the
    proposal's author, by the policy where main's imlgit.toml did not let it, or
    by the policy over a change only a person may approve). One finding a commit.
``invalid-file``
    A file under ``rules/`` that :meth:`imlgit.store.Store.check` would refuse: it
    does not parse, is not at ``rules/<xx>/<id>.md``, repeats an id, or is not a
    rule file. The same checks, made in the one pass that also reads the rules.
``duplicate``
    Active rules of one scope that are the same rule for certain: the same
    statement once case, spacing and punctuation are ignored
    (:func:`imlgit.identity.normalize_statement`), or the same checkable form (the
    same set of ``when`` conditions, in any order, and the same ``then``). One finding
    a group. :func:`imlgit.identity.duplicate_of` is the same test for one rule, for
    refusing at write time.
``contradiction``
    Checkable rules of one scope with the same set of conditions and different
    conclusions: whichever ranks first decides, and the other is dead or wrong.
    A rule whose conditions are a proper subset of another's, with another
    conclusion, is *not* a contradiction: it is the decision list working as
    RULE-FORMAT.md specifies (the more specific rule decides where both match, so
    the other is an exception's general case). Nor are rules that differ in the
    value of one condition: they cover different inputs. For plain (text) rules,
    a contradiction is a pair the chat model confirmed (below).
``near-duplicate`` and ``possible-contradiction``
    Plain rules (at least one of the pair without a checkable form) whose embedded
    texts are close: each active plain rule's vector is searched in the retrieval
    index (FAISS, one batched search per scope) for its nearest neighbours of the
    same scope, and pairs at cosine similarity >= ``similarity`` are candidates;
    so are pairs at >= ``edited_similarity`` whose statements differ by a small
    edit (:func:`imlgit.identity.small_edit`: one or two words in one place). One changed word is
    how a rule turns into its contradiction ("approve" -> "reject"), and an
    embedding can rate that pair lower than unrelated rules of the same shape.
    With a chat model configured (and ``confirm``), :func:`confirm_same` asks it
    whether the two are the same rule, contradict each other, or are different
    rules: ``near-duplicate``, ``contradiction`` or nothing. Without a model the
    pair is reported as ``near-duplicate``, or as ``possible-contradiction`` when
    one says "not" (or another negation) where the other does not, with
    "unconfirmed", the similarity and any small edit in the detail. Similarity
    alone never merges anything: rules that only look alike are often different.
``stale-index``
    The retrieval index reflects another commit than main's head, or another
    embedder (read from its database without opening or building it). An index
    never built is not a finding (``Report.index`` says ``not built``). The
    near-duplicate search syncs the index, so the detail says when this run did.
``index-mismatch``
    The retrieval index lied, and was rebuilt: its rules table does not hold the
    rules of the commit it claims (or claims a commit the repository lacks); it
    found damage as it loaded (garbled vectors, counts, a table not what was
    synced); or the stored vectors of a sample of active rules
    (:data:`imlgit.doctor.indexchecks.INDEX_SAMPLE`,
    spread over the ids; ``Report.index_sampled`` says how many) differ from
    their texts embedded again. Derived data: reported, repaired, not a failure.
``forgotten-proposal``
    An open proposal whose newest commit is older than ``stale_days`` days.
``stale-lock``
    A git lock file (``refs/**.lock``, ``index.lock``, ``packed-refs.lock``) whose
    owner is gone, or that names no owner and is older than
    :data:`imlgit.locking.STALE_AFTER` (see :mod:`imlgit.locking`): it would
    refuse git's next write, and it is what a killed process leaves.
``unsynced-index``
    A path where git's index still holds the commit before one imlgit made,
    because the imlgit process died before updating it (:mod:`imlgit.git.worktree`):
    a plain ``git commit`` would undo imlgit's change.

Nothing here writes to the memory: a finding is a report, for a person or for the
learning engine, which merges confirmed near-duplicates through review.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..identity import ACTIVE
from ..rules import rule_id_from_path
from ..store import INDEX_DIR
from .indexchecks import _index_claims, _index_sample, _index_state, _Parts
from .lookalikes import RELATIONS, _judge, _look_alikes, confirm_same
from .report import (
    DEFAULT_EDITED_SIMILARITY,
    DEFAULT_NEIGHBOURS,
    DEFAULT_SIMILARITY,
    DEFAULT_STALE_DAYS,
    KINDS,
    Finding,
    Report,
)
from .rulechecks import _contradictions, _duplicates, _read

if TYPE_CHECKING:
    from ..embed import Embedder
    from ..index import RuleIndex
    from ..llm import ChatModel
    from ..store import Store

__all__ = [
    "KINDS",
    "RELATIONS",
    "Finding",
    "Report",
    "confirm_same",
    "diagnose",
]

def _forgotten(store: Store, stale_days: float, now: float) -> list[Finding]:
    from ..proposals import list_proposals

    findings = []
    for p in list_proposals(store):
        newest = max(c.time for c in p.commits)
        days = (now - newest) / 86_400
        if days <= stale_days:
            continue
        when = _dt.datetime.fromtimestamp(newest, _dt.UTC).strftime("%Y-%m-%d")
        n = len(p.commits)
        findings.append(
            Finding(
                "forgotten-proposal",
                tuple(p.rules),
                f"proposal {p.name}: {n} commit{'s' if n != 1 else ''}, the newest {days:.0f} "
                f"days old ({when}, more than {stale_days:g}); review it with imlgit review "
                f"{p.name}, then approve or reject it",
                proposal=p.name,
            )
        )
    return findings


def _leftovers(store: Store) -> list[Finding]:
    """What a killed process left: stale lock files, and an index behind its branch."""
    from .. import locking

    findings = []
    fix = "imlgit doctor --repair removes it (so does imlgit's next write)"
    for info in store.stale_locks():
        if info.stale:
            what = fix
        elif info.owner is None and info.age > locking.STALE_AFTER:
            what = "if no git command is running, remove it"  # index.lock: never taken over
        else:
            continue  # held by a running process, for a moment
        where = str(info.path.relative_to(store.gitdir))
        detail = f"{info.why}, {info.age:.0f} s old; {what}"
        findings.append(Finding("stale-lock", (), detail, path=where))
    for u in store.unsynced():
        rid = rule_id_from_path(u.path)
        findings.append(Finding("unsynced-index", (rid,) if rid else (), u.detail(), path=u.path))
    return findings


def _real(value: object) -> float | None:
    """``value`` as a float when it is a real number (not a bool), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _check_options(
    similarity: object,
    edited_similarity: object,
    neighbours: object,
    stale_days: object,
    now: object,
) -> None:
    """:func:`diagnose`'s options, each refused with a :class:`ConfigError` naming it
    (a string or None where a number belongs once escaped as a TypeError)."""
    for name, value in (("similarity", similarity), ("edited_similarity", edited_similarity)):
        cosine = _real(value)
        if cosine is None:
            raise ConfigError(f"diagnose: {name} is a cosine in (0, 1], got {value!r}")
        if not 0.0 < cosine <= 1.0:
            raise ConfigError(f"{name} is a cosine in (0, 1], got {value}")
    if not isinstance(neighbours, numbers.Integral) or isinstance(neighbours, bool):
        raise ConfigError(f"diagnose: neighbours is a whole number >= 1, got {neighbours!r}")
    if int(neighbours) < 1:
        raise ConfigError(f"neighbours must be at least 1, got {neighbours}")
    days = _real(stale_days)
    if days is None or not days >= 0:
        raise ConfigError(f"diagnose: stale_days is a number of days >= 0, got {stale_days!r}")
    when = None if now is None else _real(now)
    if now is not None and (when is None or not math.isfinite(when)):
        raise ConfigError(f"diagnose: now is a time in Unix seconds, got {now!r}")


def diagnose(
    store: Store,
    *,
    index: Callable[[str], RuleIndex],
    embedder: Embedder,
    chat: Callable[[], ChatModel] | None = None,
    similarity: float = DEFAULT_SIMILARITY,
    edited_similarity: float = DEFAULT_EDITED_SIMILARITY,
    stale_days: float = DEFAULT_STALE_DAYS,
    confirm: bool = True,
    neighbours: int = DEFAULT_NEIGHBOURS,
    now: float | None = None,
) -> Report:
    """Check main of ``store`` for every kind of finding in the module docstring;
    returns a :class:`Report`, writes nothing but the derived retrieval index.

    ``index(commit)`` is the retrieval index synced to a commit (kept in the store's
    derived directory, ``index/``), ``embedder`` the model it embeds with, ``chat``
    None when no chat model is configured, else what gives it
    (:meth:`imlgit.memory.Memory.diagnose` passes its own).

    ``similarity`` is the cosine threshold for look-alike pairs, and
    ``edited_similarity`` the one for pairs whose statements differ by a small
    edit (:func:`small_edit`); ``neighbours`` how many nearest rules each plain
    rule is compared with, ``stale_days`` the age at which a proposal counts as
    forgotten, ``now`` the time (Unix seconds) that age is measured from. With
    ``confirm`` and a chat model (``chat``), each look-alike pair is put to the model.
    The retrieval index is synced to main when there are plain rules to compare.
    """
    _check_options(similarity, edited_similarity, neighbours, stale_days, now)
    started = time.perf_counter()
    parts = _Parts(store, index, store.derived_dir / INDEX_DIR, embedder)
    head = store.resolve("main")
    report = Report(commit=head, similarity=similarity, edited_similarity=edited_similarity)
    rules, findings, report.files = _read(store, head)
    findings += [Finding("unapproved", (), str(u)) for u in store.guard.unapproved_history(head)]
    active = [r for r in rules.values() if r.status == ACTIVE]
    report.active = len(active)
    report.checkable = sum(r.checkable for r in active)

    duplicates, groups = _duplicates(active)
    findings += duplicates
    findings += _contradictions(active)

    report.index, stale, held = _index_state(parts, head)
    claims = _index_claims(store, report.index, held)
    pairs, unused = _look_alikes(
        parts, head, active, groups, similarity, edited_similarity, neighbours
    )
    if report.index != "not built" or unused is None and any(not r.checkable for r in active):
        findings += claims + _index_sample(parts, head, active, report)
    synced = any(not r.checkable for r in active) and unused is None
    if stale is not None:
        findings.append(
            Finding("stale-index", (), stale + ("; this run synced it" if synced else ""))
        )
    report.index_note = unused
    report.candidates = len(pairs)
    configured = bool(pairs) and chat is not None
    model = chat() if chat is not None and configured and confirm else None
    report.model = model.identity if model is not None else None
    why = "not put to the model (confirm is off)" if configured else "no model configured"
    findings += _judge(pairs, rules, model, report, why)

    findings += _forgotten(store, stale_days, time.time() if now is None else now)
    findings += _leftovers(store)
    order = {kind: i for i, kind in enumerate(KINDS)}
    report.findings = sorted(findings, key=lambda f: (order[f.kind], f.rules, f.path or ""))
    report.seconds = time.perf_counter() - started
    return report
