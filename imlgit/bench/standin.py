"""A stand-in for a capable language model. It is not a language model.

No capable model is reachable on the machines imlgit is built and tested on, and
the embedded SmolLM2-135M is far too weak to learn. :class:`CompetentStandIn` is a
:class:`~imlgit.llm.ChatModel` that reads the learner's prompts (the experiences,
the rules in memory, the candidates, the refusals shown back) and answers them the
way a competent model would, so that the language-model learner's whole path runs
for real: the prompts, the JSON schemas and their retries, every revision
operation, the engine's verification, momentum, refusals, the secret scan, review
and rollback.

How it answers, like a careful but imperfect model:

- **induce**: counts, in the batch, which attribute value (or, for text, which word)
  goes with which outcome, and writes checkable rules for the clear ones
  ("When glimmer is yes, the class is VESPER."), plain-language rules for
  tendencies ("Inputs with glimmer = yes lean towards VESPER, though not always.")
  and, where only a reward says what failed, a plain rule against the failing action.
  It skips what memory already holds and what was refused or rejected before;
- **revise**: AGREE with a rule the batch supports, EDIT one whose outcome the batch
  contradicts, MERGE rules a candidate generalises, RETIRE one the batch refutes,
  ADD what is new;
- **infer**: answers with the rule whose statement the question matches;
- rationales in its own words, some of them "Reason: ..." or "Note: ..." lines;
- mistakes, at seeded rates: a wrong outcome, a statement that says another value
  than its form, an ADD of a rule memory already holds, an email address copied
  from the feedback into a rule, a rule people rejected proposed again, a MERGE of
  two rules that are not one, a first
  answer that breaks the schema (the client shows it the error and asks again).

Its rules come from counting within one batch; it never sees the environment's
hidden rules. It is a stand-in for exercising the mechanism, not evidence of how
well a real model learns.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..llm import JsonAnswer, Messages, Usage, Validator, complete_json_via

__all__ = ["CompetentStandIn", "Mistakes"]

from .standin_induce import Induction, Mistakes, _narrower


class CompetentStandIn(Induction):
    """A ChatModel that answers imlgit's prompts as a competent model would (see the
    module docstring). ``calls`` counts requests by prompt name."""

    def __init__(self, seed: int = 0, mistakes: Mistakes | None = None, retries: int = 2):
        self.identity = "stand-in:competent (not a language model)"
        self.rng = random.Random(f"stand-in:{seed}")
        self.mistakes = mistakes or Mistakes()
        self.retries = retries
        self.calls: Counter[str] = Counter()
        self.proposed: Counter[str] = Counter()  # operations proposed, by kind
        self.refusals_seen: list[str] = []  # the refusals its induction prompts showed
        self.retried = 0

    # ------------------------------------------------------------------ the protocol

    def complete_json(
        self,
        messages: Messages,
        schema: dict[str, Any],
        *,
        name: str,
        validate: Validator | None = None,
        grammar: dict[str, Any] | None = None,
    ) -> JsonAnswer:
        self.calls[name] += 1
        prompt = next((m["content"] for m in messages if m.get("role") == "user"), "")
        reply = {"induce": self._induce, "revise": self._revise}.get(name, self._infer)(
            prompt, schema
        )
        broken = self.rng.random() < self.mistakes.malformed

        def send(conversation: Messages) -> tuple[str, Usage]:
            nonlocal broken
            words = sum(len(m.get("content", "").split()) for m in conversation)
            if broken:  # a first answer with a field the schema does not allow
                broken = False
                self.retried += 1
                raw = json.dumps({**reply, "comment": "here is my answer"})
            else:
                raw = json.dumps(reply)
            return raw, Usage(words, len(raw.split()))

        return complete_json_via(
            send, messages, schema, name=name, validate=validate, retries=self.retries
        )

    def complete_text(self, messages: Messages) -> str:
        self.calls["text"] += 1
        return "I cannot tell."

    # ------------------------------------------------------------------ revise

    def _revise(self, prompt: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        sec = self._sections(prompt)
        rules = [r for r in sec.get("Rules", []) if isinstance(r, dict) and "id" in r]
        exps = [e for e in sec.get("Experiences", []) if isinstance(e, dict)]
        cands = [c for c in sec.get("Candidate rules", []) if isinstance(c, dict)]
        ops: list[dict[str, Any]] = []
        used: set[str] = set()

        def op(kind: str, target: str | None, cand: int | None, why: str, **kw: Any) -> None:
            self.proposed[kind] += 1
            ops.append({"op": kind, "target": target, "candidate": cand, "rationale": why, **kw})
            if target:
                used.add(target)
            used.update(kw.get("sources", []))

        for c in cands:
            i = c["number"]
            form = json.dumps(c.get("when"), sort_keys=True) if "when" in c else None
            same = [
                r
                for r in rules
                if r["id"] not in used
                and form is not None
                and json.dumps(r.get("when"), sort_keys=True) == form
            ]
            wider = [
                r
                for r in rules
                if r["id"] not in used
                and "when" in c
                and "when" in r
                and r.get("then") == c.get("then")
                and _narrower(r["when"], c["when"])
            ]
            broader = [
                r
                for r in rules
                if r["id"] not in used
                and "when" in c
                and "when" in r
                and r.get("then") == c.get("then")
                and _narrower(c["when"], r["when"])
            ]
            if same and same[0].get("then") == c.get("then"):
                if self.rng.random() < self.mistakes.repeat:
                    op(
                        "ADD",
                        None,
                        i,
                        "Reason: this rule explains the batch.",
                        evidence=c["evidence"],
                    )
                else:
                    op(
                        "AGREE",
                        same[0]["id"],
                        None,
                        "The batch supports it again.",
                        evidence=c["evidence"],
                    )
            elif same:
                op(
                    "EDIT",
                    same[0]["id"],
                    i,
                    f"The batch says {c.get('then')}, not {same[0].get('then')}.",
                    evidence=c["evidence"],
                )
            elif broader and self._judge(broader[0], exps)[1]:
                op(
                    "EDIT",
                    broader[0]["id"],
                    i,
                    "Narrowed: its failures in this batch share one value.",
                    evidence=c["evidence"],
                )
            elif len(wider) >= 2:
                op(
                    "MERGE",
                    wider[0]["id"],
                    i,
                    "Note: these rules are one broader rule.",
                    sources=[r["id"] for r in wider[1:]],
                    evidence=c["evidence"],
                )
            elif len(wider) == 1:
                op(
                    "EDIT",
                    wider[0]["id"],
                    i,
                    "Widened: the extra condition does not matter.",
                    evidence=c["evidence"],
                )
            elif (
                self.rng.random() < self.mistakes.overmerge
                and len(
                    free := [r for r in rules if r["id"] not in used and r.get("support", 0) >= 5]
                )
                >= 2
            ):
                op(
                    "MERGE",
                    free[0]["id"],
                    i,
                    "These look like one rule to me.",
                    sources=[free[1]["id"]],
                    evidence=c["evidence"],
                )
            else:
                op(
                    "ADD",
                    None,
                    i,
                    c.get("rationale") or "New in this batch.",
                    evidence=c["evidence"],
                )
        for r in rules:
            if r["id"] in used:
                continue
            right, wrong = self._judge(r, exps)
            if len(wrong) >= 2 and len(wrong) > len(right):
                op(
                    "RETIRE",
                    r["id"],
                    None,
                    f"Reason: {len(wrong)} experiences of this batch go against it.",
                    contradicting=wrong[:20],
                )
            elif len(right) >= 2 and not wrong:
                op("AGREE", r["id"], None, "It held for this batch.", evidence=right[:20])
        limit = schema["properties"]["operations"].get("maxItems", len(ops))
        return {"operations": ops[:limit]}

    def _infer(self, prompt: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        sec = self._sections(prompt)
        question = prompt.rsplit("\n\n", 2)[-2] if "\n\n" in prompt else prompt
        for r in sec.get("Rules", []):
            if not isinstance(r, dict):
                continue
            m = re.match(r"^When (\S+) is (\S+), the \w+ is (\S+)\.$", str(r.get("statement")))
            if m and re.search(rf"{re.escape(m.group(1))}\W+{re.escape(m.group(2))}", question):
                return {"answer": m.group(3), "rules": [r["id"]]}
        return {"answer": "unknown", "rules": []}
