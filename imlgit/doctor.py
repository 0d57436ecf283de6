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
    synced); or the stored vectors of a sample of active rules (:data:`INDEX_SAMPLE`,
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
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, IndexError_, LLMError, LLMOutputError, RuleError
from .identity import (
    ACTIVE,
    checkable_form,
    normalize_statement,
    small_edit,
)
from .rules import RULES_DIR, Rule, parse_rule, rule_id_from_path
from .store import INDEX_DIR, check_rule_file

if TYPE_CHECKING:
    from .conditions import Condition
    from .embed import Embedder
    from .index import RuleIndex, Stored
    from .llm import ChatModel
    from .store import Store

__all__ = [
    "KINDS",
    "RELATIONS",
    "Finding",
    "Report",
    "confirm_same",
    "diagnose",
]

KINDS = (
    "unapproved",
    "invalid-file",
    "duplicate",
    "contradiction",
    "near-duplicate",
    "possible-contradiction",
    "stale-index",
    "index-mismatch",
    "forgotten-proposal",
    "stale-lock",
    "unsynced-index",
)
"""Every finding kind, in the order a report lists them."""

RELATIONS = ("same", "contradict", "different")
"""What :func:`confirm_same` answers."""

DEFAULT_SIMILARITY = 0.9
DEFAULT_EDITED_SIMILARITY = 0.75
DEFAULT_NEIGHBOURS = 5
DEFAULT_STALE_DAYS = 14
_QUERY_CHUNK = 1024  # queries a search_many call: bounds the score matrix of a big scope
_PROMPT_CLIP = 1_000  # characters of a statement shown to the model
INDEX_SAMPLE = 32  # active rules re-embedded to check the stored vectors against
_SAME_VECTOR = 0.99  # cosine of a stored vector and its text embedded again, at least

_NEGATIONS = frozenset(
    "not no never none nothing nobody nowhere neither nor without cannot".split()
)

_RELATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"relation": {"type": "string", "enum": list(RELATIONS)}},
    "required": ["relation"],
    "additionalProperties": False,
}


# ---------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One thing doctor found: its kind, the rules involved, and what it is, in words.

    ``similarity`` is the cosine similarity of a pair found through the index,
    ``edit`` the words one statement changes of the other when that is a small
    edit (``"approve" -> "reject"``); ``path`` the file of an ``invalid-file``;
    ``proposal`` the name of a ``forgotten-proposal``.
    """

    kind: str
    rules: tuple[str, ...]
    detail: str
    similarity: float | None = None
    edit: str | None = None
    path: str | None = None
    proposal: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; one of {', '.join(KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rules": list(self.rules),
            "detail": self.detail,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "edit": self.edit,
            "path": self.path,
            "proposal": self.proposal,
        }

    def line(self) -> str:
        """One line for people: kind, rules, detail."""
        who = ", ".join(self.rules) or self.path or self.proposal or "-"
        return f"{self.kind:<22} {who}: {self.detail}"


@dataclass
class Report:
    """What :func:`diagnose` found, and what it looked at."""

    commit: str
    findings: list[Finding] = field(default_factory=list)
    files: int = 0  # files under rules/
    active: int = 0
    checkable: int = 0  # active checkable rules
    index: str = "not built"  # the index before this run: current, stale, not built, ...
    index_note: str | None = None  # why look-alikes were compared without the index
    similarity: float = DEFAULT_SIMILARITY
    edited_similarity: float = DEFAULT_EDITED_SIMILARITY
    candidates: int = 0  # look-alike pairs (at the thresholds) put to the model or reported
    model: str | None = None  # the chat model that confirmed pairs, if any
    dismissed: int = 0  # pairs the model called different rules
    index_sampled: int = 0  # active rules whose stored vectors were checked by re-embedding
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, in the order of :data:`KINDS` (kinds found only)."""
        out = {kind: 0 for kind in KINDS}
        for f in self.findings:
            out[f.kind] += 1
        return {k: n for k, n in out.items() if n}

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "commit": self.commit,
            "files": self.files,
            "active": self.active,
            "checkable": self.checkable,
            "index": self.index,
            "index_note": self.index_note,
            "similarity": self.similarity,
            "edited_similarity": self.edited_similarity,
            "candidates": self.candidates,
            "model": self.model,
            "dismissed": self.dismissed,
            "index_sampled": self.index_sampled,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }

    def summary(self) -> str:
        """The report for people: a header, one line a finding, how pairs were judged."""
        lines = [
            f"main at {self.commit[:12]}: {self.files:,} rule files, {self.active:,} active "
            f"({self.checkable:,} checkable); index: {self.index}"
        ]
        if self.ok:
            lines.append("ok: nothing found")
        else:
            counts = ", ".join(f"{n} {kind}" for kind, n in self.counts().items())
            total = len(self.findings)
            lines.append(f"{total} finding{'s' if total != 1 else ''}: {counts}")
            lines.extend(f.line() for f in self.findings)
        judged = (
            f"confirmed by {self.model}, {self.dismissed} dismissed as different rules"
            if self.model
            else "no model confirmed them"
        )
        if self.index_note:
            lines.append(f"look-alikes compared without the index: {self.index_note}")
        if self.index_sampled:
            lines.append(f"index vectors checked against {self.index_sampled} rules "
                         "embedded again")
        lines.append(
            f"look-alike pairs at similarity >= {self.similarity:.2f} (small edits >= "
            f"{self.edited_similarity:.2f}): "
            f"{self.candidates} ({judged}); {self.seconds:.1f} s"
        )
        return "\n".join(lines)


# ---------------------------------------------------------------------- the model


def _shown(rule: Rule) -> str:
    data: dict[str, Any] = {"title": rule.title, "statement": _clip(rule.statement)}
    if rule.checkable:
        from .conditions import when_to_yaml_obj

        data["when"] = when_to_yaml_obj(rule.when or ())
        data["then"] = rule.then
    return json.dumps(data, ensure_ascii=False)


def _clip(text: str, limit: int = _PROMPT_CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def confirm_same(chat: ChatModel, a: Rule, b: Rule) -> str:
    """Ask ``chat`` how two look-alike rules relate: ``same``, ``contradict`` or ``different``.

    The prompt is ``imlgit/prompts/same_rule.md``; the answer is one JSON object
    ``{"relation": ...}`` checked against a schema (retried, then
    :class:`~imlgit.errors.LLMOutputError`; an endpoint failure is
    :class:`~imlgit.errors.LLMError`).
    """
    from .learners.model import load_prompt

    scope = f' (scope "{a.scope}")' if a.scope == b.scope else ""
    prompt = load_prompt("same_rule").substitute(scope=scope, a=_shown(a), b=_shown(b))
    reply = chat.complete_json(
        [{"role": "user", "content": prompt}], _RELATION_SCHEMA, name="same_rule"
    )
    relation = reply.data["relation"]
    assert relation in RELATIONS  # the schema's enum
    return str(relation)


# ---------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class _Parts:
    """What the index checks read: the store, the index synced to a commit, where
    the index lives, and the embedder."""

    store: Store
    index: Callable[[str], RuleIndex]
    index_dir: Path
    embedder: Embedder



def _read(store: Store, commit: str) -> tuple[dict[str, Rule], list[Finding], int]:
    """Every valid rule at ``commit`` (first of a repeated id), the invalid files as
    findings, and the number of files: the checks of ``Store.check`` in one pass."""
    rules: dict[str, Rule] = {}
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    files = store.files_under(RULES_DIR, commit)
    for path, blob in files:
        data = store.read_blob(blob)
        rid = rule_id_from_path(path)
        problems: list[RuleError] = []
        if rid is None:
            problems = check_rule_file(path, data, seen)
        else:
            try:
                rule = parse_rule(data, path=path)
            except RuleError as exc:
                problems = [exc]
            else:
                if rule.id in seen:
                    problems.append(
                        RuleError(
                            f"duplicate rule id {rule.id!r}, also in {seen[rule.id]}", path=path
                        )
                    )
                else:
                    rules[rule.id] = rule
                seen[rule.id] = path
        for problem in problems:
            findings.append(Finding("invalid-file", (rid,) if rid else (), str(problem), path=path))
    return rules, findings, len(files)


class _Groups:
    """Union-find over rule ids: which rules are one duplicate group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def same(self, a: str, b: str) -> bool:
        return a in self.parent and b in self.parent and self.find(a) == self.find(b)


def _conditions_text(conds: Iterable[Condition]) -> str:
    parts = sorted(f"{c.field or 'the text'} {c.op} {c.value}" for c in conds)
    return ", ".join(parts) if parts else "no conditions (always)"


def _keeper(rules: Sequence[Rule]) -> Rule:
    """The rule of a duplicate group to keep: most support, then oldest, then id."""
    return min(rules, key=lambda r: (-r.support, r.created, r.id))


def _duplicates(active: Sequence[Rule]) -> tuple[list[Finding], _Groups]:
    groups = _Groups()
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)  # pair -> what they share
    first: dict[tuple[Any, ...], str] = {}
    for r in active:
        keys: list[tuple[tuple[Any, ...], str]] = [
            (("s", r.scope, normalize_statement(r.statement)), "statement")
        ]
        form = checkable_form(r)
        if form is not None:
            keys.append((("f", r.scope, form), "form"))
        for key, reason in keys:
            other = first.setdefault(key, r.id)
            if other != r.id:
                groups.union(other, r.id)
                reasons[(other, r.id)].add(reason)
    members: dict[str, list[Rule]] = defaultdict(list)
    by_id = {r.id: r for r in active}
    for rid in groups.parent:
        members[groups.find(rid)].append(by_id[rid])
    why_of: dict[str, set[str]] = defaultdict(set)
    for (a, _), why in reasons.items():
        why_of[groups.find(a)] |= why
    findings = []
    for root in sorted(members):
        group = sorted(members[root], key=lambda r: r.id)
        why = why_of[root]
        said = []
        if "statement" in why:
            said.append("the same statement (ignoring case, spacing and punctuation)")
        if "form" in why:
            form = checkable_form(group[0]) or checkable_form(next(r for r in group if r.checkable))
            assert form is not None
            said.append(f"the same checkable form (when {_conditions_text(form[0])}: {form[1]})")
        keep = _keeper(group)
        findings.append(
            Finding(
                "duplicate",
                tuple(r.id for r in group),
                f"{len(group)} active rules of scope {group[0].scope!r} have "
                f"{' and '.join(said)}; keep {keep.id} (support {keep.support}) and retire "
                f"the other{'s' if len(group) > 2 else ''}",
            )
        )
    return findings, groups


def _contradictions(active: Sequence[Rule]) -> list[Finding]:
    """Checkable rules with the same conditions and different conclusions.

    Only equal condition sets: a rule with a subset of another's conditions is
    the general case of a decision list, which the more specific rule overrides.
    """
    by_conditions: dict[tuple[str, frozenset[Condition]], list[Rule]] = defaultdict(list)
    for r in active:
        if r.when is not None and r.then is not None:
            by_conditions[(r.scope, frozenset(r.when))].append(r)
    findings = []
    for (scope, conds), group in sorted(by_conditions.items(), key=lambda kv: kv[1][0].id):
        outcomes: dict[str, list[str]] = defaultdict(list)
        for r in sorted(group, key=lambda r: r.id):
            outcomes[r.then or ""].append(r.id)
        if len(outcomes) < 2:
            continue
        said = "; ".join(f"{then} ({', '.join(ids)})" for then, ids in sorted(outcomes.items()))
        findings.append(
            Finding(
                "contradiction",
                tuple(sorted(r.id for r in group)),
                f"the same conditions ({_conditions_text(conds)}) in scope {scope!r} conclude "
                f"{len(outcomes)} different outcomes: {said}; only the highest-ranked decides",
            )
        )
    return findings


def _index_state(parts: _Parts, head: str) -> tuple[str, str | None, Stored | None]:
    """The index as it is on disk, before this run touches it: (state, detail, what
    it holds), read only (:func:`imlgit.index.stored`), so nothing is built or
    repaired here."""
    from .index import stored

    try:
        held = stored(parts.index_dir)
    except IndexError_ as exc:
        return "unreadable", f"{exc}; it is rebuilt on use", None
    if held is None or held.commit is None:
        return "not built", None, None
    ours = parts.embedder.identity
    if held.identity is not None and held.identity != ours:
        why = f"the index was built with {held.identity}, the embedder is {ours}"
        return "other embedder", why, held
    if held.commit != head:
        why = f"the index reflects commit {held.commit[:12]}, main is at {head[:12]}"
        return "stale", why, held
    return "current", None, held


def _index_claims(store: Store, state: str, held: Stored | None) -> list[Finding]:
    """The index's rules against the repository's rules at the commit it claims (read
    before anything syncs it); a mismatch is an ``index-mismatch``."""
    if state not in ("current", "stale") or held is None or held.commit is None:
        return []
    commit = held.commit
    try:
        entries = store.rule_entries(store.resolve(commit))
    except Exception as exc:  # noqa: BLE001 - a commit git lacks, or two files of one id
        why = f"the index claims commit {commit[:12]}, which cannot be read ({exc})"
        return [Finding("index-mismatch", (), why + "; this run synced it")]
    repo = {rid: e.blob for rid, e in entries.items()}
    have = held.rules
    wrong = sorted(rid for rid in have.keys() | repo.keys() if have.get(rid) != repo.get(rid))
    if not wrong:
        return []
    shown = ", ".join(wrong[:5]) + (", ..." if len(wrong) > 5 else "")
    why = (f"the index claims commit {commit[:12]} but holds other versions of "
           f"{len(wrong)} rules ({shown}); this run synced it")
    return [Finding("index-mismatch", tuple(wrong[:20]), why)]


def _index_sample(
    parts: _Parts, head: str, active: Sequence[Rule], report: Report
) -> list[Finding]:
    """Sync the index (it checks what it loads: report its repairs), then hold the stored
    vectors of a sample of active rules against their texts embedded again; stored
    vectors that are not theirs make the index be rebuilt from the rules."""
    from .index import rule_text

    try:
        index = parts.index(head)
    except RuleError:  # two files of one id: the index cannot be synced (invalid-file says)
        return []
    findings = [
        Finding("index-mismatch", (), f"{what}; rebuilt") for what in dict.fromkeys(index.repairs)
    ]
    index.repairs.clear()
    held = index.mapping()
    searchable = sorted(
        (r for r in active if r.id in held and held[r.id].status == ACTIVE), key=lambda r: r.id
    )
    step = max(1, len(searchable) // INDEX_SAMPLE)
    sample = searchable[::step][:INDEX_SAMPLE]
    report.index_sampled = len(sample)
    if sample:
        stored = np.asarray(index.vectors([r.id for r in sample]), dtype=np.float32)
        texts = [rule_text(r.title, r.statement, r.scope, r.tags) for r in sample]
        fresh = np.asarray(parts.embedder.embed(texts), dtype=np.float32)
        norms = np.linalg.norm(fresh, axis=1) * np.linalg.norm(stored, axis=1)
        cosines = np.einsum("ij,ij->i", fresh, stored) / np.where(norms > 0, norms, 1.0)
        off = [r.id for r, c in zip(sample, cosines, strict=True) if not c >= _SAME_VECTOR]
        if off:
            findings.append(Finding(
                "index-mismatch", tuple(off),
                f"{len(off)} of {len(sample)} sampled rules have stored vectors that are not "
                "their text's embedding; rebuilt by this run",
            ))
            # The sync cannot repair a vector its blob still matches: start over. The
            # open index sees its database replaced and reloads (RuleIndex._sql).
            for part in parts.index_dir.iterdir():
                if part.is_file() and part.name != "write.lock":  # the lock stays, as a lock
                    part.unlink(missing_ok=True)
            parts.index(head)
            index.repairs.clear()
    return findings


def _vectors(parts: _Parts, index: Any, rules: Sequence[Rule]) -> np.ndarray:
    """The index's stored vectors of ``rules`` (RuleIndex.vectors), else re-embedded."""
    if index is not None:
        try:
            return np.asarray(index.vectors([r.id for r in rules]), dtype=np.float32)
        except KeyError:  # a rule the index does not hold: embed them all
            pass
    from .index import rule_text

    texts = [rule_text(r.title, r.statement, r.scope, r.tags) for r in rules]
    return np.asarray(parts.embedder.embed(texts), dtype=np.float32)


def _neighbours_exact(
    parts: _Parts, queries: Sequence[Rule], pool: Sequence[Rule], k: int
) -> list[list[tuple[str, float]]]:
    """The ``k`` nearest of ``pool`` to each query, by embedding both here (no index)."""
    pool_vectors = _vectors(parts, None, pool)
    ids = [r.id for r in pool]
    out: list[list[tuple[str, float]]] = []
    for start in range(0, len(queries), _QUERY_CHUNK):
        chunk = queries[start : start + _QUERY_CHUNK]
        scores = _vectors(parts, None, chunk) @ pool_vectors.T
        want = min(k, len(ids))
        for row in scores:
            top = np.argpartition(-row, want - 1)[:want] if want < len(row) else range(len(row))
            out.append([(ids[i], float(row[i])) for i in top])
    return out


def _look_alikes(
    parts: _Parts,
    head: str,
    active: Sequence[Rule],
    groups: _Groups,
    similarity: float,
    edited_similarity: float,
    neighbours: int,
) -> tuple[list[tuple[str, str, float]], str | None]:
    """Pairs of active rules, at least one plain, at or above ``similarity`` (or
    ``edited_similarity`` for a small edit), most similar first, and why the index
    was not used (None when it was).

    A pair whose rules are in duplicate groups counts once for the two groups
    (the most similar of its members), and never within one group.
    """
    plain: dict[str, list[Rule]] = defaultdict(list)
    for r in active:
        if not r.checkable:
            plain[r.scope].append(r)
    if not plain:
        return [], None
    by_id = {r.id: r for r in active}
    index: Any = None
    unused: str | None = None
    try:
        index = parts.index(head)
    except RuleError as exc:  # an invalid rule file: the index cannot be synced
        unused = f"the index cannot be synced ({exc})"
    best: dict[tuple[str, str], tuple[float, str, str]] = {}
    floor = min(similarity, edited_similarity)
    for scope in sorted(plain):
        queries = plain[scope]
        if index is None:
            pool = [r for r in active if r.scope == scope]
            rows = _neighbours_exact(parts, queries, pool, neighbours + 1)
        else:
            rows = []
            for start in range(0, len(queries), _QUERY_CHUNK):
                matrix = _vectors(parts, index, queries[start : start + _QUERY_CHUNK])
                hits = index.search_many(matrix, neighbours + 1, scope=scope)
                rows += [[(h.rule_id, float(h.score)) for h in row] for row in hits]
        for rule, row in zip(queries, rows, strict=True):
            for rid, score in row:
                other = by_id.get(rid)
                if score < floor or other is None or other.id == rule.id:
                    continue
                if groups.same(rule.id, other.id):
                    continue
                if score < similarity and small_edit(rule.statement, other.statement) is None:
                    continue
                key = tuple(sorted((groups.find(rule.id), groups.find(other.id))))
                a, b = sorted((rule.id, other.id))
                found = (min(score, 1.0), a, b)
                if key not in best or found[0] > best[key][0]:
                    best[(key[0], key[1])] = found
    pairs = sorted(best.values(), key=lambda t: (-t[0], t[1], t[2]))
    return [(a, b, score) for score, a, b in pairs], unused


def _negations(text: str) -> int:
    words = normalize_statement(text).split()
    return sum(w in _NEGATIONS or w.endswith("n't") for w in words)


def _judge(
    pairs: Sequence[tuple[str, str, float]],
    rules: Mapping[str, Rule],
    chat: ChatModel | None,
    report: Report,
    unconfirmed: str,
) -> list[Finding]:
    findings = []
    failed: str | None = None  # the endpoint failed: ask no more
    for a_id, b_id, score in pairs:
        a, b = rules[a_id], rules[b_id]
        relation: str | None = None
        note = unconfirmed
        if chat is not None and failed is None:
            try:
                relation = confirm_same(chat, a, b)
            except LLMOutputError as exc:
                note = f"the model's answer did not validate: {_clip(str(exc), 200)}"
            except LLMError as exc:
                failed = note = f"the model failed: {_clip(str(exc), 200)}"
        elif failed is not None:
            note = failed
        edit = small_edit(a.statement, b.statement)
        figure = f"similarity {score:.3f}" + (f", edit {edit}" if edit else "")
        if relation == "different":
            report.dismissed += 1
        elif relation == "same":
            findings.append(
                Finding(
                    "near-duplicate",
                    (a_id, b_id),
                    f"{figure}; the model ({report.model}) says they are the same rule: merge them",
                    similarity=score,
                    edit=edit,
                )
            )
        elif relation == "contradict":
            findings.append(
                Finding(
                    "contradiction",
                    (a_id, b_id),
                    f"{figure}; the model ({report.model}) says they contradict each other",
                    similarity=score,
                    edit=edit,
                )
            )
        elif _negations(a.statement) != _negations(b.statement):
            findings.append(
                Finding(
                    "possible-contradiction",
                    (a_id, b_id),
                    f"unconfirmed: {figure}, and one is negated where the other is not ({note})",
                    similarity=score,
                    edit=edit,
                )
            )
        else:
            findings.append(
                Finding(
                    "near-duplicate",
                    (a_id, b_id),
                    f"unconfirmed: {figure} ({note}); similarity alone merges nothing",
                    similarity=score,
                    edit=edit,
                )
            )
    return findings


def _forgotten(store: Store, stale_days: float, now: float) -> list[Finding]:
    from .proposals import list_proposals

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
    from . import locking

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
    for name, value in (("similarity", similarity), ("edited_similarity", edited_similarity)):
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"{name} is a cosine in (0, 1], got {value}")
    if neighbours < 1:
        raise ConfigError(f"neighbours must be at least 1, got {neighbours}")
    started = time.perf_counter()
    parts = _Parts(store, index, store.derived_dir / INDEX_DIR, embedder)
    head = store.resolve("main")
    report = Report(commit=head, similarity=similarity, edited_similarity=edited_similarity)
    rules, findings, report.files = _read(store, head)
    findings += [Finding("unapproved", (), str(u)) for u in store.unapproved_history(head)]
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
