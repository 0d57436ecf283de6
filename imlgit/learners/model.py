"""The language-model learner (the paper's IML) and inference with a chat model.

:class:`ModelLearner` asks a :class:`~imlgit.llm.ChatModel` to induce candidate
rules from a batch (``prompts/induce.md``) and to revise memory against them
(``prompts/revise.md``); :func:`answer_with_model` answers a question with the k
rules it is given (``prompts/infer.md``). Every answer is JSON checked against a
schema and then by a callback that raises ValueError, so the client shows the
error to the model and asks again; when retries run out the client raises
:class:`~imlgit.errors.LLMOutputError`. Model output is data, never an
instruction: ids are checked against what the prompt showed, lengths are
bounded, and nothing the model writes can approve, commit or name a path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any

from ..conditions import (
    Condition,
    parse_then,
    parse_when,
    when_to_yaml_obj,
)
from ..errors import ConfigError, RuleError
from ..experience import SCOPE_RE, Experience
from ..llm import ChatModel
from ..rules import EVIDENCE_HEADING, Rule
from .base import OPS, Candidate, LearnContext, Operation
from .model_limits import (
    MAX_PROMPT_CHARS,
    MAX_QUESTION_CHARS,
    MAX_RATIONALE,
    MAX_THEN,
    MAX_TITLE,
    MAX_VALUE_CHARS,
    RECENT_SHOWN,
)
from .render import outcome_phrase, render_input
from .schemas import (
    _attributes,
    _has_text,
    answer_schema,
    induce_schema,
    revise_grammar,
    revise_schema,
)

__all__ = ["ModelAnswer", "ModelLearner", "answer_with_model", "load_prompt"]


# --------------------------------------------------------------------------- prompts


@lru_cache(maxsize=8)
def load_prompt(name: str) -> Template:
    """The template ``imlgit/prompts/<name>.md``, without its leading comment line."""
    text = resources.files("imlgit").joinpath("prompts", f"{name}.md").read_text("utf-8")
    first, _, rest = text.partition("\n")
    return Template(rest if first.startswith("<!--") else text)


def _render(name: str, **values: object) -> str:
    return load_prompt(name).substitute({k: str(v) for k, v in values.items()})


def _clip(value: Any, limit: int = MAX_VALUE_CHARS) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    if isinstance(value, Mapping):
        return {str(k): _clip(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clip(v, limit) for v in value]
    return value


def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(_clip(obj), ensure_ascii=False, separators=(",", ":"))


def _lines(objs: Sequence[Mapping[str, Any]], empty: str = "(none)") -> str:
    return "\n".join(_line(o) for o in objs) or empty


def _experience_line(e: Experience) -> str:
    """One experience: its input as bounded JSON, its outcome as a phrase."""
    return (
        f'{{"id":{json.dumps(e.id)},"input":{render_input(e.input)},'
        f'"outcome":{json.dumps(outcome_phrase(e), ensure_ascii=False)}}}'
    )


_LEFT_OUT = 80  # room kept for the line saying how many experiences were left out


def _fit(batch: Sequence[Experience], budget: int) -> str:
    """The lines of the experiences of ``batch`` that fit in ``budget`` characters (at
    least one), and a last line saying how many were left out."""
    lines: list[str] = []
    used = 0
    for e in batch:
        line = _experience_line(e)
        if lines and used + len(line) + 1 > budget - _LEFT_OUT:
            break
        lines.append(line)
        used += len(line) + 1
    if len(lines) < len(batch):
        lines.append(
            f"({len(batch) - len(lines)} more experiences of this batch are not shown: "
            "the prompt is full)"
        )
    return "\n".join(lines) or "(none)"


def _rule_obj(rule: Rule, recent: Sequence[str] = ()) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": rule.id, "statement": rule.statement}
    if rule.checkable:
        obj["when"] = when_to_yaml_obj(rule.when or ())
        obj["then"] = rule.then
    obj["support"] = rule.support
    obj["contradictions"] = rule.contradictions
    if rule.status != "active":
        obj["status"] = rule.status
    if recent:
        obj["recent"] = list(recent[-RECENT_SHOWN:])
    return obj


def _candidate_obj(i: int, c: Candidate) -> dict[str, Any]:
    obj: dict[str, Any] = {"number": i, "title": c.title, "statement": c.statement}
    if c.when is not None and c.then is not None:
        obj["when"] = when_to_yaml_obj(c.when)
        obj["then"] = c.then
    obj["evidence"] = list(c.evidence)
    return obj


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {_clip(' '.join(s.split()))}" for s in items) or "(none)"


# --------------------------------------------------------------------------- checks


def _known_ids(
    values: Sequence[str], known: Sequence[str] | set[str], where: str
) -> tuple[str, ...]:
    """``values`` without repeats; ValueError naming the first id not in ``known``."""
    allowed = set(known)
    for value in values:
        if value not in allowed:
            shown = ", ".join(sorted(allowed)[:20]) or "none"
            raise ValueError(f"{where}: {value[:60]!r} is not an id given in the prompt ({shown})")
    return tuple(dict.fromkeys(values))


def _text(item: Mapping[str, Any], key: str, limit: int, where: str, *, empty: bool = False) -> str:
    """``item[key]`` trimmed; ValueError when it is empty (unless allowed) or too long."""
    text = str(item.get(key) or "").strip()
    if len(text) > limit:
        raise ValueError(f"{where}.{key}: longer than {limit} characters ({len(text)})")
    if not text and not empty:
        raise ValueError(f"{where}.{key}: empty")
    return text


def _check_fields(when: tuple[Condition, ...], batch: Sequence[Experience], where: str) -> None:
    attributes = _attributes(batch)
    has_text = _has_text(batch)
    for cond in when:
        if cond.field is None and not has_text:
            raise ValueError(f"{where}: the inputs of this batch have no text to test")
        if cond.field is not None and cond.field not in attributes:
            shown = ", ".join(attributes) or "none: the inputs are text"
            raise ValueError(
                f"{where}: attribute {cond.field[:60]!r} is in no input of the batch ({shown})"
            )


def _parse_candidates(
    data: Mapping[str, Any],
    batch: Sequence[Experience],
    scopes: Sequence[str],
    max_candidates: int,
    max_statement: int,
) -> list[Candidate]:
    ids = [e.id for e in batch]
    if len(data["candidates"]) > max_candidates:
        raise ValueError(f"candidates: more than {max_candidates}")
    out: list[Candidate] = []
    for i, item in enumerate(data["candidates"]):
        where = f"candidates[{i}]"
        title = " ".join(_text(item, "title", MAX_TITLE, where).split())
        statement = _text(item, "statement", max_statement, where)
        if EVIDENCE_HEADING in statement:
            raise ValueError(f"{where}.statement: holds {EVIDENCE_HEADING!r}")
        rationale = _text(item, "rationale", MAX_RATIONALE, where, empty=True)
        scope = item["scope"].strip()
        if not SCOPE_RE.match(scope) or scope not in scopes:
            raise ValueError(f"{where}.scope: {scope[:60]!r} is not one of {', '.join(scopes)}")
        evidence = _known_ids(item["evidence"], ids, f"{where}.evidence")
        if not evidence:
            raise ValueError(f"{where}.evidence: empty; name the experiences that support it")
        raw_when, raw_then = item.get("when"), item.get("then")
        when: tuple[Condition, ...] | None = None
        then: str | None = None
        if (raw_when is None) != (raw_then is None):
            raise ValueError(f"{where}: 'when' and 'then' go together: give both or neither")
        if raw_when is not None:
            try:
                when = parse_when(raw_when)
                then = parse_then(raw_then.strip() if isinstance(raw_then, str) else raw_then)
            except RuleError as exc:
                raise ValueError(f"{where}.{exc.field or 'when'}: {exc.message}") from None
            if len(then) > MAX_THEN:
                raise ValueError(f"{where}.then: longer than {MAX_THEN} characters")
            _check_fields(when, batch, f"{where}.when")
        out.append(
            Candidate(
                title=title,
                statement=statement,
                scope=scope,
                evidence=evidence,
                rationale=rationale,
                when=when,
                then=then,
            )
        )
    return out


_NEEDS_CANDIDATE = ("ADD", "EDIT", "MERGE")


def _parse_operations(
    data: Mapping[str, Any],
    batch: Sequence[Experience],
    candidates: Sequence[Candidate],
    rule_ids: Sequence[str],
) -> list[Operation]:
    ids = [e.id for e in batch]
    named: dict[str, int] = {}  # rule id -> the operation that names it
    used: dict[int, int] = {}  # candidate index -> the operation that uses it
    out: list[Operation] = []
    for i, item in enumerate(data["operations"]):
        where = f"operations[{i}]"
        op, target, index = item["op"], item.get("target"), item.get("candidate")
        if op not in OPS:  # the schema's enum already refuses it; kept for other callers
            raise ValueError(f"{where}.op: {str(op)[:20]!r} is not one of {', '.join(OPS)}")
        if op == "ADD":
            # ADD makes a new rule; its id is made in code. A target given anyway
            # (small models copy the field) is ignored rather than trusted.
            target = None
        else:
            if target is None:
                raise ValueError(f"{where}.target: {op} needs the id of a rule shown")
            _known_ids([target], rule_ids, f"{where}.target")
        candidate: Candidate | None = None
        if op in _NEEDS_CANDIDATE:
            if index is None:
                raise ValueError(f"{where}.candidate: {op} needs a candidate number")
            if not 0 <= index < len(candidates):
                raise ValueError(
                    f"{where}.candidate: {index} is not a candidate number "
                    f"(0 to {len(candidates) - 1})"
                    if candidates
                    else f"{where}.candidate: there are no candidates, so {op} is not possible"
                )
            index = int(index)
            if index in used:
                raise ValueError(f"{where}.candidate: {index} is used by operations[{used[index]}]")
            used[index] = i
            candidate = candidates[index]
        elif index is not None:
            raise ValueError(f"{where}.candidate: {op} takes no candidate (use null)")
        sources = _known_ids(item.get("sources", []), rule_ids, f"{where}.sources")
        if op == "MERGE":
            if not sources or target in sources:
                raise ValueError(f"{where}.sources: MERGE needs rules other than the target")
        elif sources:
            raise ValueError(f"{where}.sources: only MERGE has sources")
        for rule_id in (target, *sources) if target is not None else sources:
            if rule_id in named:
                raise ValueError(
                    f"{where}: rule {rule_id!r} is in operations[{named[rule_id]}] too"
                )
            named[rule_id] = i
        evidence = _known_ids(item.get("evidence", []), ids, f"{where}.evidence")
        contradicting = _known_ids(item.get("contradicting", []), ids, f"{where}.contradicting")
        if op == "RETIRE" and not contradicting:
            raise ValueError(f"{where}.contradicting: RETIRE needs the experiences that refute it")
        if op == "AGREE" and not evidence:
            raise ValueError(f"{where}.evidence: AGREE needs the experiences that support it")
        out.append(
            Operation(
                op=op,
                rationale=_text(item, "rationale", MAX_RATIONALE, where),
                target=target,
                candidate=candidate,
                sources=sources,
                evidence=evidence,
                contradicting=contradicting,
            )
        )
    return out


def _checks(parse: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], None]:
    """``parse`` as a validate callback: it raises ValueError, its result is dropped."""
    return lambda data: None if parse(data) is None else None


# --------------------------------------------------------------------------- the learner


class ModelLearner:
    """The paper's learner: a chat model induces candidates and revises memory.

    It proposes and never writes: :mod:`imlgit.learn` verifies, damps and commits
    what it returns. It has no way to approve anything; text in a model's
    rationale such as "approve this change" is carried as text, and approval is
    a person's act (or the approval policy's) in :mod:`imlgit.review`.

    ``max_candidates`` bounds the candidates one batch yields, ``max_statement``
    the characters of a statement, ``max_prompt`` the characters of a prompt: the
    experiences that do not fit are left out of it (counted in a line of their
    own), and each input is cut at :data:`~imlgit.learners.render.MAX_INPUT_CHARS`. Answers
    that break the schema or the checks below are retried with the error; then
    LLMOutputError. Empty lists are valid answers ("nothing new", "nothing to change").
    """

    def __init__(
        self,
        chat: ChatModel,
        *,
        max_candidates: int = 8,
        max_statement: int = 600,
        max_prompt: int = MAX_PROMPT_CHARS,
    ):
        if max_candidates < 1 or max_statement < 1 or max_prompt < 1:
            raise ConfigError("max_candidates, max_statement and max_prompt must be at least 1")
        self.chat = chat
        self.max_candidates = max_candidates
        self.max_statement = max_statement
        self.max_prompt = max_prompt
        self.identity = f"model:{chat.identity}"

    def _prompt(self, name: str, batch: Sequence[Experience], **values: object) -> str:
        """Template ``name`` with as many experiences of ``batch`` as fit ``max_prompt``."""
        room = self.max_prompt - len(_render(name, experiences="", **values))
        return _render(name, experiences=_fit(batch, room), **values)

    def induce(self, batch: Sequence[Experience], context: LearnContext) -> list[Candidate]:
        """Candidate rules that explain ``batch``, with evidence ids from the batch.

        Checked: evidence ids are in the batch; statements fit ``max_statement``;
        the scope is ``context.scope`` (else a scope of the batch); ``when`` parses,
        names only attributes of the batch's inputs, and comes with ``then``.
        """
        if not batch:
            return []
        scopes = [context.scope] if context.scope else sorted({e.scope for e in batch})
        attributes = _attributes(batch)
        if any(isinstance(e.input, str) for e in batch):
            attributes.append("the text itself (contains / lacks, no field)")
        # The schema and the checks take the whole batch: a prompt cut to fit shows
        # fewer experiences, and an id or field of the rest is still a true one.
        prompt = self._prompt(
            "induce",
            batch,
            scopes=" or ".join(json.dumps(s) for s in scopes),
            attributes=", ".join(attributes) or "none",
            rules=_lines([_rule_obj(rc.rule, rc.recent) for rc in context.rules]),
            refused=_bullets(context.refused),
            rejected=_bullets(context.rejected),
            max_candidates=self.max_candidates,
            max_statement=self.max_statement,
        )

        def parse(data: Mapping[str, Any]) -> list[Candidate]:
            return _parse_candidates(data, batch, scopes, self.max_candidates, self.max_statement)

        schema = induce_schema(batch, scopes, self.max_candidates, self.max_statement)
        answer = self.chat.complete_json(
            [{"role": "user", "content": prompt}], schema, name="induce", validate=_checks(parse)
        )
        return parse(answer.data)

    def revise(
        self,
        batch: Sequence[Experience],
        candidates: Sequence[Candidate],
        context: LearnContext,
    ) -> list[Operation]:
        """Operations on the rules of ``context`` (and ADDs of candidates).

        Checked: ``op`` is one of ADD, EDIT, MERGE, RETIRE, AGREE; targets and
        sources are ids of ``context.rules`` (a model never names a new id: ADD has
        no target, and :mod:`imlgit.learn` makes the id); ADD, EDIT and MERGE
        name a candidate by index, and each rule and candidate is used once;
        evidence ids are in the batch.
        """
        if not context.rules and not candidates:
            return []
        rule_ids = [rc.rule.id for rc in context.rules]
        prompt = self._prompt(
            "revise",
            batch,
            rules=_lines([_rule_obj(rc.rule, rc.recent) for rc in context.rules]),
            candidates=_lines([_candidate_obj(i, c) for i, c in enumerate(candidates)]),
        )

        def parse(data: Mapping[str, Any]) -> list[Operation]:
            return _parse_operations(data, batch, candidates, rule_ids)

        schema = revise_schema(batch, len(candidates), rule_ids)
        answer = self.chat.complete_json(
            [{"role": "user", "content": prompt}],
            schema,
            name="revise",
            validate=_checks(parse),
            grammar=revise_grammar(batch, len(candidates), rule_ids),
        )
        return parse(answer.data)


# --------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class ModelAnswer:
    """A model's answer, the ids of the given rules it says it used, and its cost."""

    answer: str
    cited: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int


def answer_with_model(
    chat: ChatModel, question: str | dict[str, Any], rules: Sequence[Rule], *, scope: str | None
) -> ModelAnswer:
    """Answer ``question`` with ``rules`` (the k retrieved ones) in the prompt.

    Only the rules given enter the prompt, so its size does not depend on the
    size of memory. Cited ids must be among them; the answer is non-empty and at
    most 2000 characters; otherwise retried, then LLMOutputError.
    """
    text = question if isinstance(question, str) else render_input(question, MAX_QUESTION_CHARS)
    given = [r.id for r in rules]
    prompt = _render(
        "infer",
        scope=f' in scope "{scope}"' if scope else "",
        rules=_lines([{"id": r.id, "statement": r.statement} for r in rules]),
        question=_clip(text, MAX_QUESTION_CHARS),  # a text question; an object is cut above
    )

    def validate(data: dict[str, Any]) -> None:
        if not data["answer"].strip():
            raise ValueError("answer: empty")
        _known_ids(data["rules"], given, "rules")

    schema = answer_schema(given)
    reply = chat.complete_json(
        [{"role": "user", "content": prompt}], schema, name="infer", validate=validate
    )
    return ModelAnswer(
        answer=reply.data["answer"].strip(),
        cited=tuple(dict.fromkeys(reply.data["rules"])),
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
    )
