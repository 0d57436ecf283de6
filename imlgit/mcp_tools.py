"""The MCP server's tools as plain Python over :class:`~imlgit.memory.Memory`.

:class:`Tools` holds what each tool of ``imlgit mcp`` does (:mod:`imlgit.mcp_server`
registers them with the SDK): every argument is validated before anything is
touched (:class:`ToolInputError`, naming the argument), one call at a time, and
the memory is reached only through Memory's own methods. Usable and tested
without the MCP SDK.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ImlgitError, ToolInputError
from .experience import ID_RE, SCOPE_RE, valid_experience_id
from .memory import Memory
from .rules import MAX_STATEMENT_LENGTH, MAX_TITLE_LENGTH, validate_rule_id

if TYPE_CHECKING:
    pass


__all__ = ["LIMITS", "Tools", "ToolInputError"]

LIMITS = {
    "query": 2_000,
    "k": 50,
    "statement": MAX_STATEMENT_LENGTH,  # 4,000
    "rationale": 4_000,
    "title": MAX_TITLE_LENGTH,  # 200
    "input": 20_000,  # characters of the input as JSON
    "output": 4_000,
    "outcome": 4_000,  # characters of the outcome as JSON
    "evidence": 100,
    "history": 100,  # commits a history resource shows
    "action": 4_000,
    "then": 500,
    "when": 32,  # conditions of a proposed rule
    "listed": 1_000,  # rules list_resources names (the first by id)
}
APPROVAL_NOTE = (
    "A person must approve it before it reaches main: imlgit review {name}; "
    "imlgit approve {name} (or imlgit reject {name} --why ...)."
)
INSTRUCTIONS = (
    "imlgit memory: learned rules kept in a git repository. Call recall before acting "
    "to get the relevant rules; record_experience after acting, with what happened; "
    "learn to turn the recorded experiences into rules (a proposal a person approves); "
    "propose_rule to suggest one rule yourself. You cannot approve a proposal."
)

T = TypeVar("T")


# ---------------------------------------------------------------------- checks


def _text(name: str, value: object, *, required: bool = True, multiline: bool = True) -> str:
    """A string argument: a str, within its limit, without control characters."""
    if not isinstance(value, str):
        raise ToolInputError(f"{name} must be text, got {type(value).__name__}")
    limit = LIMITS[name]
    if len(value) > limit:
        raise ToolInputError(f"{name} has {len(value)} characters; at most {limit}")
    _no_controls(name, value, multiline=multiline)
    if required and not value.strip():
        raise ToolInputError(f"{name} must not be empty")
    return value


def _no_controls(name: str, value: str, *, multiline: bool = False) -> None:
    """Refuse control characters (a line break only in multi-line text): a NUL or a
    newline in a journal field would break every later read of it."""
    allowed = "\t\n\r" if multiline else ""
    for i, ch in enumerate(value):
        if (ord(ch) < 32 and ch not in allowed) or 127 <= ord(ch) < 160:
            raise ToolInputError(f"{name} has a control character (U+{ord(ch):04X}) at {i + 1}")


def _input_fields(value: Mapping[Any, Any]) -> None:
    """An object input's field names are one-line text, its text values free of NULs."""
    for key, item in value.items():
        if not isinstance(key, str):
            raise ToolInputError(f"input field names are text, got {_show(key)}")
        _no_controls(f"input field name {_show(key)}", key)
        if isinstance(item, str):
            _no_controls(f"input field {_show(key)}", item, multiline=True)


def _scope(value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    # fullmatch: the pattern's "$" also matches before a final newline
    if not isinstance(value, str) or not SCOPE_RE.fullmatch(value) or ".." in value:
        raise ToolInputError(
            f"bad scope {_show(value)}: lowercase letters, digits, '.', '_' or '-' (at most 64), "
            "starting with a letter or digit"
        )
    return value


def _experience_id(name: str, value: object) -> str:
    if not valid_experience_id(value) or not ID_RE.fullmatch(str(value)):
        raise ToolInputError(
            f"bad {name} {_show(value)}: letters, digits, '.', '_', ':' or '-' (at most 128), "
            "starting with a letter or digit, without '..'"
        )
    assert isinstance(value, str)
    return value


def _rule_id(value: object) -> str:
    if isinstance(value, str) and not value.isprintable():
        raise ToolInputError(f"bad rule id {_show(value)}: it has a control character")
    try:
        return validate_rule_id(value)
    except ImlgitError as exc:
        raise ToolInputError(f"bad rule id {_show(value)}: {exc}") from None


def _k(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS["k"]:
        raise ToolInputError(
            f"k must be a whole number from 1 to {LIMITS['k']}, got {_show(value)}"
        )
    return value


def _json_size(name: str, value: object) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ToolInputError(f"{name} is not plain JSON: {exc}") from None
    if len(text) > LIMITS[name]:
        raise ToolInputError(f"{name} has {len(text)} characters as JSON; at most {LIMITS[name]}")


def _show(value: object, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def _outcome(value: object) -> dict[str, Any]:
    """The outcome as an experience has it: an object, or a reward (number), or text."""
    if value is None:
        raise ToolInputError(
            "an outcome is required: an object with expected, reward or text; a number "
            "(the reward, 0 to 1); or text (what the environment said)"
        )
    if isinstance(value, bool):
        return {"reward": 1.0 if value else 0.0}
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ToolInputError(f"the reward must be a finite number, got {value!r}")
        return {"reward": float(value)}
    if isinstance(value, str):
        _no_controls("outcome", value, multiline=True)
        return {"text": value}
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str):
                _no_controls(f"outcome {_show(key)}", item, multiline=True)
        return dict(value)
    raise ToolInputError(f"outcome must be an object, a number or text, got {type(value).__name__}")


# ---------------------------------------------------------------------- the tools


class Tools:
    """What the MCP tools and resources do, as plain Python over one :class:`Memory`.

    Every method checks all its arguments first and raises :class:`ImlgitError`
    (:class:`ToolInputError` for a refused argument) before anything is written.
    Calls are serialized: the server runs tools on worker threads.
    """

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self._lock = threading.Lock()

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            return fn()

    def _journal_size(self) -> int:
        """Experiences in the journal (its lines: one experience each)."""
        try:
            return self.memory.journal_path.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def recall(self, query: object, k: object = None, scope: object = None) -> dict[str, Any]:
        q = _text("query", query, multiline=True)
        n = None if k is None else _k(k)  # None: [retrieval] k of imlgit.toml
        sc = _scope(scope, optional=True)

        def run() -> dict[str, Any]:
            mem = self.memory
            for _ in range(3):  # main may move meanwhile: report the commit the rules are from
                commit = mem.resolve(Memory.MAIN)
                # main's rules, even when someone has checked out a proposal (the fast
                # path, the persisted index, follows HEAD)
                at = None if mem.resolve("HEAD") == commit else commit
                hits = mem.recall(q, k=n, scope=sc, at=at)
                if mem.resolve(Memory.MAIN) == commit:
                    break
            return {"commit": commit, "rules": [h.to_dict() for h in hits]}

        return self._locked(run)

    def record_experience(
        self,
        input: object,
        output: object = None,
        outcome: object = None,
        scope: object = "general",
        id: object = None,
        rules: object = None,
    ) -> dict[str, Any]:
        if isinstance(input, str):
            _text("input", input)
        elif not isinstance(input, Mapping):
            raise ToolInputError(
                f"input is text or a flat object of field -> value, got {type(input).__name__}"
            )
        else:
            _input_fields(input)
        _json_size("input", input)
        if output is not None:
            _text("output", output)
        out = _outcome(outcome)
        _json_size("outcome", out)
        data: dict[str, Any] = {"scope": _scope(scope), "input": input, "outcome": out}
        if output is not None:
            data["output"] = output
        if id is not None:
            data["id"] = _experience_id("id", id)
        if rules is not None:
            if not isinstance(rules, (list, tuple)) or len(rules) > LIMITS["evidence"]:
                raise ToolInputError(
                    f"rules is a list of at most {LIMITS['evidence']} rule ids, got {_show(rules)}"
                )
            data["rules"] = [_rule_id(r) for r in rules]

        def run() -> dict[str, Any]:
            exp = self.memory.record(data)
            return {"id": exp.id, "journal": self._journal_size()}

        return self._locked(run)

    def ask(
        self, input: object, scope: object = None, action: object = None, model: object = True
    ) -> dict[str, Any]:
        q = self._question(input)
        sc = _scope(scope, optional=True)
        act = None if action is None else _text("action", action, multiline=False)
        if not isinstance(model, bool):
            raise ToolInputError(f"model is true or false, got {_show(model)}")

        def run() -> dict[str, Any]:
            commit = self.memory.resolve(Memory.MAIN)  # main's rules, whatever is checked out
            ans = self.memory.ask(q, scope=sc, at=commit, use_model=model, action=act)
            return ans.to_dict()

        return self._locked(run)

    @staticmethod
    def _question(value: object) -> str | dict[str, Any]:
        if isinstance(value, str):
            _text("input", value)
            return value
        if not isinstance(value, Mapping):
            raise ToolInputError(
                f"input is text or an object of field -> value, got {type(value).__name__}"
            )
        _input_fields(value)
        _json_size("input", value)
        return dict(value)

    def propose_rule(
        self,
        statement: object,
        rationale: object,
        evidence: object = (),
        scope: object = "general",
        title: object = None,
        when: object = None,
        then: object = None,
    ) -> dict[str, Any]:
        st = _text("statement", statement)
        why = _text("rationale", rationale)
        if not isinstance(evidence, (list, tuple)):
            raise ToolInputError(f"evidence is a list of experience ids, got {_show(evidence)}")
        if len(evidence) > LIMITS["evidence"]:
            raise ToolInputError(f"evidence has {len(evidence)} ids; at most {LIMITS['evidence']}")
        ids = [_experience_id("evidence id", e) for e in evidence]
        sc = _scope(scope)
        ti = None if title is None else _text("title", title, multiline=False)
        if (when is None) != (then is None):
            raise ToolInputError("when and then go together: give both or neither")
        if when is not None:
            if not isinstance(when, (Mapping, list, tuple)) or len(when) > LIMITS["when"]:
                raise ToolInputError(
                    f"when is an object of field -> value or a list of conditions "
                    f"(at most {LIMITS['when']}), got {_show(when)}"
                )
            _json_size("input", when)
        th = None if then is None else _text("then", then, multiline=False)

        def run() -> dict[str, Any]:
            self.memory.reload_settings()
            before = {p.name for p in self.memory.proposals()}
            name = self.memory.propose(st, why, evidence=ids, scope=sc or "general", title=ti,
                                       when=when, then=th)  # fmt: skip
            p = self.memory.proposal(name)
            rid = p.rules[0] if p.rules else None
            out: dict[str, Any] = {
                "proposal": name,
                "existing": name in before,
                "branch": p.branch,
                "rule": rid,
                "main": p.main,
                "note": APPROVAL_NOTE.format(name=name),
            }
            if rid is not None:
                r = self.memory.read_rule(rid, p.branch)
                if r.checkable:
                    out["support"], out["contradictions"] = r.support, r.contradictions
            return out

        return self._locked(run)

    def rules_listed(self) -> list[dict[str, str]]:
        """The active rules on main, the first ``LIMITS['listed']`` by id: id, title and
        the statement's beginning (what list_resources shows)."""

        def run() -> list[dict[str, str]]:
            rules = self.memory.readable_rules().rules
            out = []
            for rid, r in rules.items():
                if r.status != "active":
                    continue
                out.append({"id": rid, "title": r.title, "statement": r.statement[:200]})
                if len(out) >= LIMITS["listed"]:
                    break
            return out

        return self._locked(run)

    def learn(self) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            mem = self.memory
            mem.reload_settings()
            policy = mem.settings.get("review", "policy")
            done = mem.learn()
            if done.note is not None:
                decision = done.note
            elif done.proposal is None:
                decision = (
                    "nothing new to propose"
                    if done.branch.startswith("proposals/")
                    else f"learned into {done.branch}"
                )
            elif done.decision is not None:
                decision = done.decision.summary()
            else:
                decision = f"{policy}: left for a person"
            out: dict[str, Any] = {
                "proposal": done.proposal,
                "branch": done.branch,
                "policy": policy,
                "decision": decision,
                "approved": done.approval is not None,
                "main": mem.resolve(Memory.MAIN),
                "batches": [b.summary() for b in done.batches],
                "refused": [str(r) for b in done.batches for r in b.refused],
                "journal": self._journal_size(),
                "learner": done.choice.to_dict() if done.choice else None,
            }
            if done.proposal is not None and done.approval is None:
                out["note"] = APPROVAL_NOTE.format(name=done.proposal)
            return out

        return self._locked(run)

    def rule(self, rule_id: object) -> str:
        """The rule's Markdown file on main."""
        rid = validate_rule_id(rule_id)

        def run() -> str:
            mem = self.memory
            path = mem.locate(rid, Memory.MAIN)
            data = mem.read_file(path, Memory.MAIN) if path is not None else None
            if data is None:
                raise LookupError(f"no rule {rid!r} on main")
            return data.decode("utf-8")

        return self._locked(run)

    def rule_history(self, rule_id: object) -> str:
        """The rule's commits on main, newest first, with their rationales (JSON)."""
        rid = validate_rule_id(rule_id)

        def run() -> str:
            commits = self.memory.history(rid, Memory.MAIN, limit=LIMITS["history"])
            if not commits:
                raise LookupError(f"no rule {rid!r} on main, nor in its history")
            rows = [
                {
                    "sha": c.sha,
                    "subject": c.subject,
                    "rationale": c.rationale,
                    "trailers": dict(c.trailers),
                    "author": c.author,
                    "time": c.time,
                }
                for c in commits
            ]
            return json.dumps({"rule": rid, "commits": rows}, indent=2, ensure_ascii=False)

        return self._locked(run)
