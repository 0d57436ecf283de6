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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ImlgitError, ToolInputError
from .mcp_stdio import json_type
from .mcp_tools import (
    INSTRUCTIONS,
    LIMITS,
    T,
    Tools,
)
from .memory import Memory

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["Tools", "ToolInputError", "argument_errors", "build_server", "serve", "LIMITS"]

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
