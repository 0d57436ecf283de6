"""``imlgit mcp``: the memory served to agents over the Model Context Protocol (stdio).

Tools (each validates its arguments before it touches anything, and an error is
an MCP tool error carrying the message, with nothing written):

``recall(query, k=8, scope=None)``
    The most relevant active rules on main, with ids, scores and main's commit.
``record_experience(input, output, outcome, scope="general", id=None)``
    Appends one experience to the journal (``<git dir>/imlgit/journal.jsonl``).
``ask(input, scope=None, action=None, model=True)``
    The answer on main: checked by the rules in code where they decide the input,
    else by the model with the retrieved rules; the path, the cited rules, the commit.
``propose_rule(statement, rationale, evidence=[], scope="general", title=None,
when=None, then=None)``
    One rule on a new proposal branch, never main; with ``when``/``then`` it is
    checkable and counted against the stored experiences as the learner's rules are.
    The same rule proposed again while its proposal is open answers with that one.
``learn()``
    Learns from the journal into a proposal (into main only when the review
    policy of imlgit.toml approves it).

Resources: ``imlgit://rules/{rule_id}`` (the rule's Markdown on main) and
``imlgit://rules/{rule_id}/history`` (its commits with their rationales, JSON);
``list_resources`` names the active rules on main (the first 1,000 by id).

Every stdin line gets an answer: one that is not a JSON-RPC message gets a
JSON-RPC error (:mod:`imlgit.mcp_stdio`), and arguments that do not fit a
tool's schema get a tool error naming each argument and what is wrong.

There is no approve tool: what an agent proposes waits for a person
(``imlgit approve NAME``) or the review policy. Nothing is written outside the
memory repository. The SDK (``pip install 'imlgit[mcp]'``) is imported only
when the server is built, so :class:`Tools` can be used and tested without it.
"""

# No ``from __future__ import annotations`` here: the SDK reads the tools' annotations
# at registration, and they name Annotated and Field imported inside build_server.
import json
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError, ImlgitError, ToolInputError
from .experience import ID_RE, SCOPE_RE, valid_experience_id
from .mcp_stdio import json_type
from .memory import Memory
from .rules import MAX_STATEMENT_LENGTH, MAX_TITLE_LENGTH, validate_rule_id

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["Tools", "ToolInputError", "argument_errors", "build_server", "serve", "LIMITS"]

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


# ---------------------------------------------------------------------- the server


def argument_errors(tool: str, arguments: Mapping[str, Any], errors: list[Any]) -> str:
    """The schema errors of a tool call (pydantic's ``errors()``) as one line.

    Each argument is named with what is wrong with it; the caller's values are
    not echoed (only their JSON type) and no pydantic link is shown.
    """
    missing: list[str] = []
    wrong: dict[str, list[str]] = {}
    for err in errors:
        loc = tuple(err.get("loc") or ("?",))
        name = str(loc[0])
        if err.get("type") == "missing" and len(loc) == 1:
            missing.append(name)
            continue
        # ints in the rest of loc are list positions; strings are the union branch tried
        where = name + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))
        msg = str(err.get("msg", "is invalid"))
        for word, json_word in (("dictionary", "object"), ("list", "array")):
            msg = msg.replace(f"valid {word}", f"valid {json_word}")
        msg = msg.removeprefix("Input should be ").removeprefix("Value error, ")
        wrong.setdefault(where, [])
        if msg not in wrong[where]:
            wrong[where].append(msg)
    parts = [f"missing argument '{n}'" for n in missing]
    for where, msgs in wrong.items():
        name = where.split("[", 1)[0]
        got = json_type(arguments.get(name)) if where == name else None
        parts.append(
            f"argument '{where}' must be " + " or ".join(msgs) + (f" (got {got})" if got else "")
        )
    return f"{tool}: " + "; ".join(parts)


def build_server(memory: Memory) -> "MCPServer[Any]":
    """The MCP server (the SDK's ``MCPServer``) with imlgit's tools and resources."""
    from typing import Annotated

    import anyio
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
    from mcp.shared.exceptions import MCPError
    from mcp_types import INVALID_PARAMS, CallToolResult, InputRequiredResult, ToolAnnotations
    from pydantic import Field, ValidationError

    class Server(MCPServer[Any]):
        """MCPServer with argument errors a model can act on, and the checked stdio wire."""

        async def call_tool(
            self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
        ) -> CallToolResult | InputRequiredResult:
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as exc:
                cause = exc.__cause__
                if not isinstance(cause, ValidationError):
                    raise
                # the SDK's text is pydantic's, with a URL per error; the cause stays, so
                # the SDK still logs field names only
                raise ToolError(argument_errors(name, arguments, cause.errors())) from cause

        async def list_resources(self) -> list[Any]:
            """The resources the SDK knows, and one per active rule on main (bounded)."""
            from mcp_types import Resource

            listed = await super().list_resources()
            try:
                rules = await anyio.to_thread.run_sync(tools.rules_listed)
            except ImlgitError as exc:
                raise MCPError(INVALID_PARAMS, str(exc)) from exc
            return listed + [
                Resource(uri=f"imlgit://rules/{r['id']}", name=r["id"], title=r["title"],
                         description=r["statement"], mime_type="text/markdown")  # fmt: skip
                for r in rules
            ]

        async def run_stdio_async(self) -> None:
            from .mcp_stdio import stdio_server

            # as the SDK's own run_stdio_async, behind the wire that answers every bad line
            low = self._lowlevel_server
            async with stdio_server() as (read_stream, write_stream):
                await low.run(read_stream, write_stream, low.create_initialization_options())

    tools = Tools(memory)
    server: MCPServer[Any] = Server(
        "imlgit", instructions=INSTRUCTIONS, version=_version(), log_level="WARNING"
    )

    def tool_call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ImlgitError as exc:
            raise ToolError(str(exc)) from exc

    def resource_read(fn: Callable[[], str]) -> str:
        try:
            return fn()
        except ImlgitError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from exc
        except LookupError as exc:
            raise ResourceNotFoundError(str(exc.args[0])) from exc

    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    @server.tool(
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        structured_output=True,
    )
    def recall(
        query: Annotated[
            str,
            Field(description="What to find rules about.", min_length=1,
                  max_length=LIMITS["query"]),  # fmt: skip
        ],
        k: Annotated[
            int | None,
            Field(description="How many rules (default: [retrieval] k of imlgit.toml).",
                  ge=1, le=LIMITS["k"]),  # fmt: skip
        ] = None,
        scope: Annotated[
            str | None, Field(description="Only rules of this scope.", max_length=64)
        ] = None,
    ) -> dict[str, Any]:
        """The most relevant active rules on main, best first: id, title, statement, scope
        and cosine score, and `commit`, the memory commit they were read at."""
        return tool_call(lambda: tools.recall(query, k, scope))

    @server.tool(
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        structured_output=True,
    )
    def ask(
        input: Annotated[
            str | dict[str, Any],
            Field(description="The question: text, or an object field -> value (as recorded)."),
        ],
        scope: Annotated[
            str | None, Field(description="Only rules of this scope.", max_length=64)
        ] = None,
        action: Annotated[
            str | None,
            Field(description="Ask instead whether this action works there (works / fails).",
                  max_length=LIMITS["action"]),  # fmt: skip
        ] = None,
        model: Annotated[
            bool,
            Field(description="Let the language model answer what no checkable rule decides."),
        ] = True,
    ) -> dict[str, Any]:
        """Answer from memory on main: `answer`, `path` (checked: the rules decided it in
        code; model: the model answered with the retrieved rules; none: nothing applies),
        `rules` (the ids the answer rests on: cite them in record_experience), `commit`."""
        return tool_call(lambda: tools.ask(input, scope, action, model))

    @server.tool(annotations=writes, structured_output=True)
    def record_experience(
        input: Annotated[
            str | dict[str, Any],
            Field(description="What the agent saw: text, or a flat object field -> value."),
        ],
        outcome: Annotated[
            dict[str, Any] | float | str | None,
            Field(
                description="What happened: {expected, reward, text}; a number is the reward "
                "(0 to 1); text is what the environment said."
            ),
        ],
        output: Annotated[
            str | None,
            Field(description="What the agent did or answered.", max_length=LIMITS["output"]),
        ] = None,
        scope: Annotated[
            str, Field(description="The task family, e.g. truth-table.", max_length=64)
        ] = "general",
        id: Annotated[
            str | None,
            Field(description="A unique id (default: j-<12 hex digits>).", max_length=128),
        ] = None,
        rules: Annotated[
            list[str] | None,
            Field(
                description="The rule ids the answer cited (from recall or ask), so the "
                "outcome counts for or against them when memory is pruned.",
                max_length=LIMITS["evidence"],
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Record one experience in the journal that `learn` learns from. Returns its id
        and how many experiences the journal holds."""
        return tool_call(
            lambda: tools.record_experience(input, output, outcome, scope, id, rules)
        )

    @server.tool(annotations=writes, structured_output=True)
    def propose_rule(
        statement: Annotated[
            str,
            Field(description="The rule, a sentence or two.", min_length=1,
                  max_length=LIMITS["statement"]),  # fmt: skip
        ],
        rationale: Annotated[
            str,
            Field(description="Why the rule is right (a reviewer reads it).", min_length=1,
                  max_length=LIMITS["rationale"]),  # fmt: skip
        ],
        evidence: Annotated[
            list[str],
            Field(description="Ids of the experiences behind it.", max_length=LIMITS["evidence"]),
        ] = [],  # noqa: B006 - the schema's default; never mutated
        scope: Annotated[
            str, Field(description="The task family the rule is for.", max_length=64)
        ] = "general",
        title: Annotated[
            str | None,
            Field(description="One line naming the rule.", max_length=LIMITS["title"]),
        ] = None,
        when: Annotated[
            dict[str, Any] | list[dict[str, Any]] | None,
            Field(
                description="Makes the rule checkable: {field: value} or a list of "
                "{field, op, value} (ops =, !=, <, <=, >, >=, contains, lacks, mentions). "
                "Give with then; the statement must say the same.",
                max_length=LIMITS["when"],
            ),
        ] = None,
        then: Annotated[
            str | None,
            Field(description="The outcome when `when` holds (an answer, or works / fails).",
                  max_length=LIMITS["then"]),  # fmt: skip
        ] = None,
    ) -> dict[str, Any]:
        """Propose one rule: it goes to a new proposal branch, never to main, and waits
        for a person to approve it. With when/then it is counted against the stored
        experiences (refused when they contradict it; `support`, `contradictions`).
        The same rule proposed again answers with its open proposal (`existing`).
        Refused: a rule already in memory, one people rejected, text that looks like a
        secret."""
        return tool_call(
            lambda: tools.propose_rule(statement, rationale, evidence, scope, title, when, then)
        )

    @server.tool(annotations=writes, structured_output=True)
    def learn() -> dict[str, Any]:
        """Learn rules from the recorded experiences: the changes go to a proposal that a
        person approves (or that the review policy of imlgit.toml approves); the learned
        experiences leave the journal. "learner" says which learner was chosen and why."""
        return tool_call(tools.learn)

    @server.resource(
        "imlgit://rules/{rule_id}",
        name="rule",
        description="A rule's Markdown file as it is on main.",
        mime_type="text/markdown",
    )
    def rule(rule_id: str) -> str:
        return resource_read(lambda: tools.rule(rule_id))

    @server.resource(
        "imlgit://rules/{rule_id}/history",
        name="rule-history",
        description="The commits that changed a rule on main, newest first, with rationales.",
        mime_type="application/json",
    )
    def rule_history(rule_id: str) -> str:
        return resource_read(lambda: tools.rule_history(rule_id))

    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imlgit")
    except PackageNotFoundError:
        return "0+unknown"


def serve(repo: str) -> None:
    """Run the MCP server on the memory at ``repo`` over stdio until the client leaves."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise ConfigError("imlgit mcp needs the MCP SDK 2.x: pip install 'imlgit[mcp]'") from None
    memory = Memory.open(repo)
    try:
        memory.warm()  # the model's fast runtime before the first question, not during it
    except ImlgitError:
        pass  # a warm-up only: the tool that needs what failed says why when it is called
    build_server(memory).run("stdio")
