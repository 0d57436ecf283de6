"""doctor's look-alikes: plain rules whose embedded texts are close (searched in the
retrieval index, or embedded here when it cannot be synced), and how each pair is
judged: by the chat model (:func:`confirm_same`) when one is configured, else by
a negation count. Gives ``near-duplicate``, ``contradiction`` and
``possible-contradiction`` findings (see :mod:`imlgit.doctor`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LLMError, LLMOutputError, RuleError
from ..identity import normalize_statement, small_edit
from ..rules import Rule
from .indexchecks import _Parts
from .report import Finding, Report
from .rulechecks import _Groups

if TYPE_CHECKING:
    from ..llm import ChatModel

RELATIONS = ("same", "contradict", "different")
"""What :func:`confirm_same` answers."""

_QUERY_CHUNK = 1024  # queries a search_many call: bounds the score matrix of a big scope
_PROMPT_CLIP = 1_000  # characters of a statement shown to the model

_NEGATIONS = frozenset(
    "not no never none nothing nobody nowhere neither nor without cannot".split()
)

_RELATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"relation": {"type": "string", "enum": list(RELATIONS)}},
    "required": ["relation"],
    "additionalProperties": False,
}


def _shown(rule: Rule) -> str:
    data: dict[str, Any] = {"title": rule.title, "statement": _clip(rule.statement)}
    if rule.checkable:
        from ..conditions import when_to_yaml_obj

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
    from ..learners.model import load_prompt

    scope = f' (scope "{a.scope}")' if a.scope == b.scope else ""
    prompt = load_prompt("same_rule").substitute(scope=scope, a=_shown(a), b=_shown(b))
    reply = chat.complete_json(
        [{"role": "user", "content": prompt}], _RELATION_SCHEMA, name="same_rule"
    )
    relation = reply.data["relation"]
    assert relation in RELATIONS  # the schema's enum
    return str(relation)


def _vectors(parts: _Parts, index: Any, rules: Sequence[Rule]) -> np.ndarray:
    """The index's stored vectors of ``rules`` (RuleIndex.vectors), else re-embedded."""
    if index is not None:
        try:
            return np.asarray(index.vectors([r.id for r in rules]), dtype=np.float32)
        except KeyError:  # a rule the index does not hold: embed them all
            pass
    from ..index import rule_text

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
