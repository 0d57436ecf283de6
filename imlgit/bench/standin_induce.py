"""How the stand-in (:mod:`imlgit.bench.standin`) reads a prompt and induces rules
from a batch: counting which attribute value, or word, goes with which outcome,
and the mistakes a careful but imperfect model makes while doing it."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..conditions import matches, parse_when
from ..statements import render_statement

__all__ = ["Mistakes"]

_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_STOP = frozenset(
    "this that with from have what when your about there their would could should "
    "been were they them then than into just some also only very over".split()
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_TENDENCY = re.compile(r"^Inputs with (\S+) = (\S+) lean towards (\S+), though not always\.$")
_AGAINST = re.compile(r"^Answering (\S+) fails when (\S+) is (\S+)\.$")
# An outcome as the prompts phrase it (imlgit.learners.render.outcome_phrase).
_OUTCOME = re.compile(
    r"(?:did (?P<did>.+?)(?:, (?=expected |reward )|\Z))?"
    r"(?:expected (?P<expected>.+?)(?: \((?:right|wrong)\))?(?:, (?=reward )|\Z))?"
    r"(?:reward (?P<reward>[-+.\deE]+) \([^)]*\))?\Z",
    re.DOTALL,
)

_REASONS = (
    "Reason: {n} of the {m} experiences with {what} ended as {label}.",
    "Note: every case of {what} in this batch came out {label} ({n} of {m}).",
    "{n} of {m} experiences with {what} were {label}; that is more than chance.",
    "The batch shows {what} leading to {label} in {n} of {m} cases.\n---\nCounted by hand.",
)


@dataclass(frozen=True)
class Mistakes:
    """How often the stand-in errs (each a probability per chance to err)."""

    wrong_outcome: float = 0.08  # a candidate whose outcome is another class
    slip: float = 0.05  # the statement names another value than the form
    repeat: float = 0.1  # ADD a candidate memory already holds
    leak: float = 0.3  # copy an email address from the feedback into a rule
    stubborn: float = 0.2  # propose a rejected rule again
    malformed: float = 0.1  # a first answer that breaks the schema
    overmerge: float = 0.05  # MERGE two well-supported rules that are not one rule


class Induction:
    """The stand-in's reading of prompts and its induction (a base of
    :class:`~imlgit.bench.standin.CompetentStandIn`)."""

    rng: random.Random
    mistakes: Mistakes
    proposed: Counter[str]
    refusals_seen: list[str]

    # ------------------------------------------------------------------ reading a prompt

    @staticmethod
    def _sections(prompt: str) -> dict[str, list[Any]]:
        """The prompt's blocks by their first words: JSON lines and bullets."""
        out: dict[str, list[Any]] = {}
        for block in prompt.split("\n\n"):
            lines = block.split("\n")
            head = lines[0]
            items: list[Any] = []
            for line in lines[1:]:
                if line.startswith("{"):
                    try:
                        items.append(_experience_read(json.loads(line)))
                    except ValueError:
                        continue
                elif line.startswith("- "):
                    items.append(line[2:])
            key = next(
                (
                    k
                    for k in (
                        "Experiences",
                        "Rules",
                        "Proposals refused",
                        "Statements people",
                        "Candidate rules",
                        "Question",
                    )
                    if head.startswith(k)
                ),
                head[:20],
            )
            out.setdefault(key, []).extend(items)
        return out

    @staticmethod
    def _label(e: Mapping[str, Any]) -> str | None:
        outcome = e.get("outcome") or {}
        if outcome.get("expected") is not None:
            return str(outcome["expected"])
        if (outcome.get("reward") or 0) >= 0.5 and e.get("output") is not None:
            return str(e["output"])
        return None

    @staticmethod
    def _features(inp: Any) -> list[tuple[str | None, Any]]:
        if isinstance(inp, str):
            return sorted({(None, w) for w in _WORD.findall(inp.lower()) if w not in _STOP})
        if isinstance(inp, Mapping):
            return [(k, v) for k, v in sorted(inp.items()) if isinstance(v, (str, int, bool))]
        return []

    # ------------------------------------------------------------------ induce

    def _induce(self, prompt: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        sec = self._sections(prompt)
        exps = [e for e in sec.get("Experiences", []) if isinstance(e, dict)]
        item = schema["properties"]["candidates"]["items"]["properties"]
        scope = item["scope"]["enum"][0]
        limit = schema["properties"]["candidates"].get("maxItems", 8)
        known = {
            json.dumps(r.get("when"), sort_keys=True) + str(r.get("then"))
            for r in sec.get("Rules", [])
            if isinstance(r, dict)
        }
        statements = {r.get("statement") for r in sec.get("Rules", []) if isinstance(r, dict)}
        self.refusals_seen.extend(s for s in sec.get("Proposals refused", []) if s != "(none)")
        refused = " ".join(sec.get("Proposals refused", []))
        rejected = [s for s in sec.get("Statements people", []) if isinstance(s, str)]
        by_feature: dict[tuple[str | None, Any], Counter[str]] = defaultdict(Counter)
        ids: dict[tuple[str | None, Any], list[str]] = defaultdict(list)
        failed: dict[tuple[str, str, Any], list[str]] = defaultdict(list)
        tried: dict[tuple[str, str, Any], int] = Counter()
        labels = sorted({lab for e in exps if (lab := self._label(e))})
        for e in exps:
            lab = self._label(e)
            for f in self._features(e.get("input")):
                if lab is not None:
                    by_feature[f][lab] += 1
                    ids[f].append(e["id"])
                out = e.get("output")
                if out is not None and f[0] is not None:
                    act = (str(out), f[0], f[1])
                    tried[act] += 1
                    if (e.get("outcome") or {}).get("reward") == 0:
                        failed[act].append(e["id"])
        cands: list[dict[str, Any]] = []
        ranked = sorted(
            by_feature.items(),
            key=lambda kv: (
                -max(kv[1].values()) / sum(kv[1].values()),
                -sum(kv[1].values()),
                str(kv[0]),
            ),
        )
        for (field, value), counts in ranked:
            label, n = counts.most_common(1)[0]
            m = sum(counts.values())
            if m < 3 or n / m < 0.6:
                continue
            what = f"{field} = {value}" if field else f"the word {value!r}"
            evidence = [i for i in ids[(field, value)]][:20]
            if n / m >= 0.8:
                when: Any = {field: value} if field else [{"op": "contains", "value": value}]
                then = label
                if self.rng.random() < self.mistakes.wrong_outcome and len(labels) > 1:
                    then = self.rng.choice([c for c in labels if c != label])
                if json.dumps(when, sort_keys=True) + then in known:
                    continue
                conds = parse_when(when)
                statement = render_statement(conds, then)
                if field and self.rng.random() < self.mistakes.slip:
                    other = "no" if value == "yes" else "yes"
                    statement = statement.replace(f" is {value},", f" is {other},")
                cand = {
                    "title": f"{what} is {then}"[:120],
                    "statement": statement,
                    "when": when,
                    "then": then,
                }
            elif field:
                statement = (
                    f"Inputs with {field} = {value} lean towards {label}, though not always."
                )
                cand = {"title": f"{what} leans {label}"[:120], "statement": statement}
            else:
                continue
            if cand["statement"] in statements or cand["statement"] in refused:
                continue
            if any(s in cand["statement"] for s in rejected):
                continue
            cand.update(
                scope=scope,
                evidence=evidence,
                rationale=self.rng.choice(_REASONS).format(n=n, m=m, what=what, label=label),
            )
            cands.append(cand)
        cands.extend(self._pairs(exps, by_feature, known, statements, refused, scope))
        memory = [r for r in sec.get("Rules", []) if isinstance(r, dict)]
        cands[:0] = self._from_memory(memory, exps, known, refused, scope)
        for (out, field, value), bad in sorted(failed.items()):
            if len(bad) >= 3 and len(bad) == tried[(out, field, value)]:
                statement = f"Answering {out} fails when {field} is {value}."
                if statement not in statements and statement not in refused:
                    cands.append(
                        {
                            "title": f"{out} fails on {field} {value}"[:120],
                            "statement": statement,
                            "scope": scope,
                            "evidence": bad[:20],
                            "rationale": f"Note: all {len(bad)} tries of {out} with "
                            f"{field} = {value} got reward 0.",
                        }
                    )
        self._mistakes_of_induction(cands, exps, rejected, scope)
        return {"candidates": cands[:limit]}

    def _pairs(
        self,
        exps: Sequence[Mapping[str, Any]],
        single: Mapping[tuple[str | None, Any], Counter[str]],
        known: set[str],
        statements: set[Any],
        refused: str,
        scope: str,
    ) -> list[dict[str, Any]]:
        """Two attribute values that together always give one outcome, where neither
        alone is clear (a careful model looks for the conjunction)."""
        clear = {f for f, c in single.items() if max(c.values()) / sum(c.values()) >= 0.8}
        counts: dict[tuple[tuple[str, Any], tuple[str, Any]], Counter[str]] = defaultdict(Counter)
        ids: dict[tuple[tuple[str, Any], tuple[str, Any]], list[str]] = defaultdict(list)
        for e in exps:
            lab = self._label(e)
            feats = [f for f in self._features(e.get("input")) if f[0] is not None]
            if lab is None:
                continue
            for a in range(len(feats)):
                for b in range(a + 1, len(feats)):
                    if feats[a] in clear or feats[b] in clear:
                        continue
                    key = ((str(feats[a][0]), feats[a][1]), (str(feats[b][0]), feats[b][1]))
                    counts[key][lab] += 1
                    ids[key].append(e["id"])
        out = []
        for key, c in sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), str(kv[0]))):
            label, n = c.most_common(1)[0]
            if n < 4 or n != sum(c.values()):
                continue
            when = {key[0][0]: key[0][1], key[1][0]: key[1][1]}
            if json.dumps(when, sort_keys=True) + label in known:
                continue
            statement = render_statement(parse_when(when), label)
            if statement in statements or statement in refused:
                continue
            what = f"{key[0][0]} = {key[0][1]} with {key[1][0]} = {key[1][1]}"
            out.append(
                {
                    "title": f"{what} is {label}"[:120],
                    "statement": statement,
                    "when": when,
                    "then": label,
                    "scope": scope,
                    "evidence": ids[key][:20],
                    "rationale": f"All {n} experiences with {what} were {label}.",
                }
            )
            if len(out) >= 3:
                break
        return out

    def _from_memory(
        self,
        rules: Sequence[Mapping[str, Any]],
        exps: Sequence[Mapping[str, Any]],
        known: set[str],
        refused: str,
        scope: str,
    ) -> list[dict[str, Any]]:
        """Rules a careful model writes by rereading memory against the batch: a rule
        narrowed by the one yes/no value all its failures share, and two rules that
        differ only in one yes/no attribute written as one."""
        out: list[dict[str, Any]] = []

        def add(when: dict[str, Any], then: str, evidence: list[str], why: str) -> None:
            statement = render_statement(parse_when(when), then)
            key = json.dumps(when, sort_keys=True) + then
            if key in known or statement in refused or not evidence:
                return
            known.add(key)
            title = " and ".join(f"{k} {v}" for k, v in sorted(when.items())) + f" is {then}"
            out.append(
                {
                    "title": title[:120],
                    "statement": statement,
                    "when": when,
                    "then": then,
                    "scope": scope,
                    "evidence": evidence[:20],
                    "rationale": why,
                }
            )

        forms = [r for r in rules if isinstance(r.get("when"), dict) and "then" in r]
        for r in forms:
            right, wrong = self._judge(r, exps)
            if len(wrong) < 2:
                continue
            by_id = {e["id"]: e.get("input") for e in exps}
            shared = None
            for i in wrong:
                feats = {(k, v) for k, v in (by_id.get(i) or {}).items() if v in ("yes", "no")}
                shared = feats if shared is None else shared & feats
            for k, v in sorted(shared or ()):
                if k in r["when"] or any((by_id.get(i) or {}).get(k) == v for i in right):
                    continue
                add(
                    {**r["when"], k: "no" if v == "yes" else "yes"},
                    str(r["then"]),
                    right,
                    f"Reason: the {len(wrong)} failures of {r['id']} in this batch all had "
                    f"{k} = {v}; without them it holds.",
                )
                break
        for a in range(len(forms)):
            for b in range(a + 1, len(forms)):
                x, y = forms[a], forms[b]
                if x["then"] != y["then"] or set(x["when"]) != set(y["when"]):
                    continue
                diff = [k for k in x["when"] if x["when"][k] != y["when"][k]]
                if len(diff) == 1 and len(x["when"]) > 1:
                    rest = {k: v for k, v in x["when"].items() if k != diff[0]}
                    ids = [
                        e["id"]
                        for e in exps
                        if self._label(e) == str(x["then"])
                        and all((e.get("input") or {}).get(k) == v for k, v in rest.items())
                    ]
                    add(
                        rest,
                        str(x["then"]),
                        ids,
                        f"Note: {x['id']} and {y['id']} differ only in {diff[0]}, so it "
                        "does not matter.",
                    )
        return out

    def _mistakes_of_induction(
        self,
        cands: list[dict[str, Any]],
        exps: Sequence[Mapping[str, Any]],
        rejected: Sequence[str],
        scope: str,
    ) -> None:
        if not exps:
            return
        first = [exps[0]["id"]]
        for e in exps:
            text = str((e.get("outcome") or {}).get("text") or "")
            found = _EMAIL.search(text)
            if found and self.rng.random() < self.mistakes.leak:
                cands.insert(
                    0,
                    {
                        "title": "Escalate to the owner",
                        "scope": scope,
                        "statement": f"Escalate such cases to {found.group(0)}.",
                        "evidence": [e["id"]],
                        "rationale": "The feedback names who handles them.",
                    },
                )
                break
        # the prompt lists "the rule r-x: <statement> (rejected: <why>)"
        again = [
            m.group(1) for s in rejected if (m := re.match(r"^the rule \S+: (.+) \(rejected: ", s))
        ]
        if again and self.rng.random() < self.mistakes.stubborn:
            cands.insert(
                0,
                {
                    "title": again[0][:60],
                    "statement": again[0][:600],
                    "scope": scope,
                    "evidence": first,
                    "rationale": "I still think this holds.",
                },
            )

    def _judge(
        self, rule: Mapping[str, Any], exps: Sequence[Mapping[str, Any]]
    ) -> tuple[list[str], list[str]]:
        """The batch's experiences that agree and disagree with a rule, as the
        stand-in reads it: a checkable form, or one of its own plain phrasings."""
        right: list[str] = []
        wrong: list[str] = []
        if "when" in rule and "then" in rule:
            conds = parse_when(rule["when"])
            for e in exps:
                lab = self._label(e)
                inp = e.get("input")
                if lab is not None and isinstance(inp, (str, Mapping)) and matches(conds, inp):
                    (right if lab == str(rule["then"]) else wrong).append(e["id"])
            return right, wrong
        statement = str(rule.get("statement", ""))
        tendency, against = _TENDENCY.match(statement), _AGAINST.match(statement)
        for e in exps:
            inp = e.get("input")
            if not isinstance(inp, Mapping):
                continue
            if tendency:
                field, value, label = tendency.groups()
                lab = self._label(e)
                if lab is not None and str(inp.get(field)) == value:
                    (right if lab == label else wrong).append(e["id"])
            elif against:
                out, field, value = against.groups()
                if str(e.get("output")) == out and str(inp.get(field)) == value:
                    ok = (e.get("outcome") or {}).get("reward") == 0
                    (right if ok else wrong).append(e["id"])
        return right, wrong

    # ------------------------------------------------------------------ infer


def _experience_read(item: Any) -> Any:
    """An experience line read back into output and outcome fields, as a model reads
    the phrase (other JSON lines are returned as they are)."""
    phrase = item.get("outcome") if isinstance(item, dict) else None
    if not isinstance(phrase, str):
        return item
    head, _, text = phrase.partition("; feedback: ")
    m = _OUTCOME.match(head)  # None for "no expected answer or reward"
    outcome: dict[str, Any] = {"text": text} if text else {}
    if m and m["expected"] is not None:
        outcome["expected"] = m["expected"]
    if m and m["reward"] is not None:
        outcome["reward"] = float(m["reward"])
    out = {**item, "outcome": outcome}
    if m and m["did"] is not None:
        out["output"] = m["did"]
    return out


def _narrower(inner: Any, outer: Any) -> bool:
    """Whether the form ``inner`` tests everything ``outer`` does, and more."""
    if not isinstance(inner, Mapping) or not isinstance(outer, Mapping):
        return False
    return len(inner) > len(outer) and all(inner.get(k) == v for k, v in outer.items())
