"""`imlgit mcp`: the memory served over the Model Context Protocol.

The slow tests start `python -m imlgit --repo MEM mcp` once for the module and
drive it through the SDK's own client over stdio (the real embedder loads on the
first recall). The fast ones run the same tool code (`imlgit.mcp_server.Tools`)
in process with HashEmbedder, argument by hostile argument.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PERSON
from fakes import HashEmbedder

from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.commits import CommitMessage
from imlgit.conditions import parse_when
from imlgit.errors import ImlgitError
from imlgit.mcp_server import build_server
from imlgit.mcp_stdio import (
    INVALID_REQUEST,
    MAX_DEPTH,
    MAX_LINE_BYTES,
    PARSE_ERROR,
    WireError,
    check_line,
)
from imlgit.mcp_tools import Tools
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.statements import render_statement
from imlgit.store import Store

# ---------------------------------------------------------------------- helpers


def snapshot(path: Path) -> tuple[dict[str, str], bytes | None]:
    """Every branch head, and the journal's bytes: what no refused call may change."""
    store = Store.open(path)
    journal = store.derived_dir / "journal.jsonl"
    try:
        return store.branches(), (journal.read_bytes() if journal.exists() else None)
    finally:
        store.close()


HOSTILE_TOOL_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("recall", {"query": "x", "k": 10**9}, "k must be"),
    ("recall", {"query": "x", "k": 0}, "k must be"),
    ("recall", {"query": "x" * 2_001}, "at most 2000"),
    ("recall", {"query": "x", "scope": "../x"}, "bad scope"),
    ("record_experience", {"input": "a", "outcome": 1.0, "scope": "../x"}, "bad scope"),
    ("record_experience", {"input": "a", "outcome": 1.0, "scope": "a/b"}, "bad scope"),
    ("record_experience", {"input": "a", "outcome": 1.0, "id": "../../etc/passwd"}, "bad id"),
    ("record_experience", {"input": "a\x00b", "outcome": 1.0}, "control character"),
    ("record_experience", {"input": "x" * 20_001, "outcome": 1.0}, "at most 20000"),
    ("record_experience", {"input": {"k": "v" * 20_001}, "outcome": 1.0}, "at most 20000"),
    ("record_experience", {"input": {"a": {"k" * 200: 1}}, "outcome": 1.0}, "at most 128"),
    ("record_experience", {"input": {"a": "yes"}, "outcome": None}, "outcome is required"),
    ("record_experience", {"input": {"a": "yes"}, "outcome": {"oops": 1}}, "unknown field"),
    ("record_experience", {"input": "a", "outcome": 1.0, "rules": ["../x"]}, "bad rule id"),
    ("record_experience", {"input": "a", "outcome": 1.0, "rules": "r-a"}, "rules"),
    # a newline or NUL that reached the journal broke every later learn (issue 14)
    ("record_experience", {"input": "a", "outcome": 1.0, "id": "j-1\n"}, "bad id"),
    ("record_experience", {"input": {"colour": "red\x00"}, "outcome": 1.0}, "control character"),
    ("record_experience", {"input": {"col\nour": "red"}, "outcome": 1.0}, "control character"),
    ("record_experience", {"input": "a", "outcome": 1.0, "scope": "general\n"}, "bad scope"),
    ("record_experience", {"input": "a", "outcome": "said\x00"}, "control character"),
    ("record_experience", {"input": "a", "outcome": {"text": "x\x00"}}, "control character"),
    ("record_experience", {"input": "a", "outcome": 1.0, "rules": ["r-a\n"]}, "bad rule id"),
    ("recall", {"query": "x", "scope": "general\n"}, "bad scope"),
    ("propose_rule", {"statement": "s" * 1_000_000, "rationale": "r"}, "at most 4000"),
    ("propose_rule", {"statement": "Fine.", "rationale": "r" * 4_001}, "at most 4000"),
    ("propose_rule", {"statement": "Fine.", "rationale": " "}, "must not be empty"),
    ("propose_rule", {"statement": "Fine.", "rationale": "r", "scope": "../x"}, "bad scope"),
    (
        "propose_rule",
        {"statement": "Fine.", "rationale": "r", "evidence": ["../../etc/passwd"]},
        "bad evidence id",
    ),
    (
        "propose_rule",
        {"statement": "Fine.", "rationale": "r", "evidence": ["e-1\n"]},
        "bad evidence id",
    ),
    (
        "propose_rule",
        {"statement": "Fine.", "rationale": "r", "evidence": [f"e-{i}" for i in range(101)]},
        "at most 100",
    ),
    ("propose_rule", {"statement": "Fine.", "rationale": "r", "title": "a\nb"}, "control char"),
    (
        "propose_rule",
        {"statement": "Write to " + "jane.doe" + "@" + "gmail.com", "rationale": "r"},
        "email",
    ),
]


# ---------------------------------------------------------------------- in process


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    Store.init(tmp_path / "m", author=PERSON)
    return Tools(Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder()))


@pytest.mark.parametrize(("name", "args", "message"), HOSTILE_TOOL_CALLS)
def test_hostile_arguments_are_refused_before_anything_changes(
    tools: Tools, name: str, args: dict[str, Any], message: str
) -> None:
    before = snapshot(tools.memory.path)
    with pytest.raises(ImlgitError, match=message):
        getattr(tools, name)(**args)
    assert snapshot(tools.memory.path) == before


@pytest.mark.parametrize("rule_id", ["../../etc/passwd", "..", "r-a/../b", "R-UPPER", "a\x00b"])
def test_resources_refuse_unsafe_rule_ids(tools: Tools, rule_id: str) -> None:
    for read in (tools.rule, tools.rule_history):
        with pytest.raises(ImlgitError, match="rule id"):
            read(rule_id)


def test_tools_in_process_record_propose_learn(tools: Tools) -> None:
    mem = tools.memory
    main = mem.store.head()
    for e in TruthTable(seed=0).sample(20, 1):
        d = e.to_dict()
        got = tools.record_experience(d["input"], d["output"], d["outcome"], d["scope"], d["id"])
        assert got["id"] == e.id
    assert got["journal"] == 20
    with pytest.raises(ImlgitError, match="duplicate id"):
        tools.record_experience(d["input"], d["output"], d["outcome"], d["scope"], d["id"])
    done = tools.learn()
    assert done["proposal"] and not done["approved"] and done["journal"] == 0
    assert "approve" in done["note"] and done["main"] == main == mem.store.head()
    proposed = tools.propose_rule("Thrum yes is never HALCYON.", "Seen in 20 cases.", ["tt-1"])
    assert proposed["branch"] == "proposals/" + proposed["proposal"]
    assert mem.store.head() == main
    assert proposed["rule"] in mem.store.read_rules(proposed["branch"])
    history = json.loads(tools.rule_history("r-example-rationale"))
    assert history["commits"][0]["rationale"]
    # an answer's cited rules travel with the experience (outcome credit for pruning)
    cited = tools.record_experience(
        "a question", "A", {"expected": "A"}, "qa", None, ["r-example-rationale"]
    )
    [exp] = [e for e in mem.journal() if e.id == cited["id"]]
    assert exp.rules == ("r-example-rationale",) and exp.right is True


def test_propose_rule_checkable_is_counted_and_the_same_one_twice_is_one_proposal(
    tools: Tools,
) -> None:
    """Issue 17: over MCP an agent could not give a rule a checkable form; proposed
    twice, the same rule opened two proposals."""
    from imlgit.hygiene import stored_experiences

    mem = tools.memory
    for e in TruthTable(seed=0).sample(40, 1):
        d = e.to_dict()
        tools.record_experience(d["input"], d["output"], d["outcome"], d["scope"], d["id"])
    done = tools.learn()
    learned = set(rv.get_proposal(mem.store, done["proposal"]).rules)
    rv.approve(mem.store, done["proposal"], approver=PERSON)
    stored = stored_experiences(mem.store)
    assert len(stored) == 40
    # a rule the stored experiences contradict is refused, and nothing is written
    e = stored[0]
    attr = sorted(e.input)[0]
    before = snapshot(mem.path)
    with pytest.raises(ImlgitError, match="contradict this rule"):
        tools.propose_rule(f"When {attr} is {e.input[attr]}, the class is NEVERSEEN.", "Guess.",
                           scope="truth-table", when={attr: e.input[attr]},
                           then="NEVERSEEN")  # fmt: skip
    assert snapshot(mem.path) == before
    # one they support gets the figures they show, counted by code
    when = dict(e.input)
    same = [x for x in stored if x.input == e.input]
    right = sum(x.outcome.expected == e.outcome.expected for x in same)
    statement = render_statement(parse_when(when), e.outcome.expected)
    got = tools.propose_rule(statement, "Seen.", scope="truth-table", when=when,
                             then=e.outcome.expected)  # fmt: skip
    assert (got["support"], got["contradictions"]) == (right, len(same) - right)
    assert got["existing"] is False
    branches = set(mem.store.branches())
    again = tools.propose_rule(statement, "Seen again.", scope="truth-table", when=when,
                               then=e.outcome.expected)  # fmt: skip
    assert again["existing"] is True and again["proposal"] == got["proposal"]
    assert set(mem.store.branches()) == branches
    # and the rules on main are listed
    listed = {r["id"] for r in tools.rules_listed()}
    assert "r-example-rationale" in listed and learned <= listed


def test_recall_reads_main_even_when_a_proposal_is_checked_out(tools: Tools) -> None:
    from dulwich.refs import Ref

    store = tools.memory.store
    got = tools.propose_rule("Sorrel yes means ORRERY.", "Seen often.", title="Sorrel orrery")
    store.repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(("refs/heads/" + got["branch"]).encode()))
    found = tools.recall("sorrel orrery", k=5)
    assert found["commit"] == store.head("main")
    assert got["rule"] not in {r["id"] for r in found["rules"]}
    # Memory.recall reads main too, unless told another revision (issue 14)
    assert got["rule"] not in {r.rule.id for r in tools.memory.recall("sorrel orrery", k=5)}
    assert tools.memory.recall("sorrel orrery", k=5, at=got["branch"])[0].rule.id == got["rule"]


@pytest.mark.slow
def test_argument_errors_name_the_argument_without_pydantic_links(tools: Tools) -> None:
    import anyio
    from mcp.server.mcpserver.exceptions import ToolError

    server = build_server(tools.memory)
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("recall", {}, ["recall: missing argument 'query'"]),
        (
            "recall",
            {"query": "x", "k": "many"},
            ["argument 'k' must be a valid integer", "(got a string)"],
        ),
        (
            "record_experience",
            {"input": 5, "outcome": 1.0},
            ["argument 'input' must be a valid string or a valid object (got a number)"],
        ),
        (
            "record_experience",
            {"input": "a", "outcome": 1.0, "rules": ["r-a", 3]},
            ["argument 'rules[1]' must be a valid string"],
        ),
        (
            "propose_rule",
            {"rationale": "r", "evidence": "e-1"},
            ["missing argument 'statement'", "argument 'evidence' must be a valid array"],
        ),
    ]
    for name, args, wanted in cases:
        before = snapshot(tools.memory.path)
        with pytest.raises(ToolError) as err:
            anyio.run(server.call_tool, name, args)
        text = str(err.value)
        for w in wanted:
            assert w in text
        assert "pydantic" not in text and "http" not in text and "input_value" not in text
        assert snapshot(tools.memory.path) == before


OK_PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


@pytest.mark.parametrize(
    ("line", "code", "rid", "says"),
    [
        (b"{", PARSE_ERROR, None, "not JSON"),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":Infinity}}',
            PARSE_ERROR,
            None,
            "not JSON",
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"\\udfff":1}}',
            PARSE_ERROR,
            None,
            "lone surrogate",
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping"}\xc0', PARSE_ERROR, None, "not UTF-8"),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', INVALID_REQUEST, None, "the id must be"),
        (
            b'{"jsonrpc":"2.0","id":"a","method":"ping","params":"x"}',
            INVALID_REQUEST,
            "a",
            '"params" must be',
        ),
        (
            b'{"jsonrpc":"2.0","id":3,"result":1,"method":null}',
            INVALID_REQUEST,
            3,
            '"method" must be',
        ),
        (
            b'{"jsonrpc":"2.0","method":"notifications/x","params":[]}',
            INVALID_REQUEST,
            None,
            '"params" must be',
        ),
        (b"[]", INVALID_REQUEST, None, "batch"),
        (b"true", INVALID_REQUEST, None, "JSON object"),
    ],
)
def test_a_line_that_is_no_message_gets_its_error(
    line: bytes, code: int, rid: object, says: str
) -> None:
    got = check_line(line)
    assert isinstance(got, WireError)
    assert (got.code, got.id) == (code, rid) and says in got.message
    assert got.to_dict()["error"]["code"] == code


def test_the_wire_limits_are_exact() -> None:
    def nested(depth: int) -> bytes:
        """A ping nested ``depth`` levels deep: the envelope, params, then arrays."""
        params = "[" * (depth - 2) + "]" * (depth - 2)
        return b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + params.encode() + b"}}"

    assert isinstance(check_line(nested(MAX_DEPTH)), dict)
    got = check_line(nested(MAX_DEPTH + 1))
    assert isinstance(got, WireError) and got.code == PARSE_ERROR
    pad = MAX_LINE_BYTES - len(OK_PING) - len(b',"params":{"x":""}')
    longest = OK_PING[:-1] + b',"params":{"x":"' + b"a" * pad + b'"}}'
    assert len(longest) == MAX_LINE_BYTES and isinstance(check_line(longest + b"\n"), dict)
    got = check_line(longest[:-2] + b'a"}}')
    assert isinstance(got, WireError) and got.code == PARSE_ERROR
    assert check_line(b"  \r\n") is None  # a blank line is not a message
    assert check_line(b'{"jsonrpc":"2.0","id":"r","result":{}}') == {
        "jsonrpc": "2.0",
        "id": "r",
        "result": {},
    }


def test_an_over_long_line_is_read_in_bounded_pieces_and_the_next_one_kept() -> None:
    import io

    from imlgit.mcp_stdio import _read_line

    stream = io.BytesIO(b"x" * (3 * MAX_LINE_BYTES) + b"\n" + OK_PING + b"\n" + OK_PING)
    start, over = _read_line(stream)
    assert over and len(start) <= MAX_LINE_BYTES
    assert _read_line(stream) == (OK_PING + b"\n", False)
    assert _read_line(stream) == (OK_PING, False)  # the last line, without its newline
    assert _read_line(stream) == (b"", False)


# ---------------------------------------------------------------------- over stdio


@dataclass
class Session:
    """A client connected to `imlgit mcp` in a subprocess, driven from sync tests."""

    path: Path
    call: Callable[..., Any]  # call(coroutine function, *args) in the client's event loop
    client: Any
    log: Path

    def tool(self, name: str, **args: Any) -> Any:
        return self.call(self.client.call_tool, name, args)

    def ok(self, name: str, **args: Any) -> dict[str, Any]:
        result = self.tool(name, **args)
        assert not result.is_error, result.content[0].text
        assert isinstance(result.structured_content, dict)
        return result.structured_content

    def read(self, uri: str) -> str:
        result = self.call(self.client.read_resource, uri)
        text: str = result.contents[0].text
        return text


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    from anyio.from_thread import start_blocking_portal
    from mcp import Client, StdioServerParameters, stdio_client

    root = tmp_path_factory.mktemp("mcp")
    path = root / "mem"
    Store.init(path, author=PERSON).close()
    home = root / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "IMLGIT_AUTHOR": str(PERSON),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "imlgit", "--repo", str(path), "mcp"], env=env
    )
    log = root / "server.log"
    with open(log, "w", encoding="utf-8") as errlog, start_blocking_portal() as portal:
        client = Client(stdio_client(params, errlog=errlog), cache=None, read_timeout_seconds=120)
        with portal.wrap_async_context_manager(client):
            yield Session(path, portal.call, client, log)


slow = pytest.mark.slow


@slow
def test_the_server_lists_its_tools_and_none_approves(session: Session) -> None:
    tools = session.call(session.client.list_tools).tools
    names = {t.name for t in tools}
    assert names == {"recall", "ask", "record_experience", "propose_rule", "learn"}
    # the limits are in the schemas, where a client sees them before it calls
    schema = {t.name: t.input_schema for t in tools}
    assert schema["recall"]["properties"]["query"]["maxLength"] == 2_000
    k = schema["recall"]["properties"]["k"]["anyOf"][0]
    assert (k["minimum"], k["maximum"]) == (1, 50)
    assert schema["propose_rule"]["properties"]["statement"]["maxLength"] == 4_000
    assert schema["propose_rule"]["properties"]["evidence"]["maxItems"] == 100
    assert {"when", "then"} <= set(schema["propose_rule"]["properties"])
    assert not [n for n in names if "approv" in n or "merge" in n]
    templates = session.call(session.client.list_resource_templates).resource_templates
    assert {t.uri_template for t in templates} == {
        "imlgit://rules/{rule_id}",
        "imlgit://rules/{rule_id}/history",
    }


@slow
def test_recall_returns_rules_with_scores_and_the_commit(session: Session) -> None:
    got = session.ok("recall", query="why is every change committed with a reason", k=3)
    assert got["commit"] == Store.open(session.path).head()
    assert got["rules"][0]["id"] == "r-example-rationale"
    assert set(got["rules"][0]) == {"id", "title", "statement", "scope", "score"}


@slow
def test_resources_show_a_rule_and_its_history(session: Session) -> None:
    text = session.read("imlgit://rules/r-example-rationale")
    assert text.startswith("---\nid: r-example-rationale\n")
    history = json.loads(session.read("imlgit://rules/r-example-rationale/history"))
    assert history["commits"][-1]["subject"].startswith("init:")


@slow
@pytest.mark.parametrize(("name", "args", "message"), HOSTILE_TOOL_CALLS)
def test_hostile_arguments_over_mcp_are_tool_errors_and_change_nothing(
    session: Session, name: str, args: dict[str, Any], message: str
) -> None:
    before = snapshot(session.path)
    result = session.tool(name, **args)
    assert result.is_error
    text = result.content[0].text
    # the tool's own check, or the schema's (its limits are declared there), naming the
    # argument; never pydantic's text with its links
    assert message in text or (text.startswith(f"{name}: argument '") and "http" not in text)
    assert snapshot(session.path) == before


@slow
@pytest.mark.parametrize(
    "uri",
    [
        "imlgit://rules/../../etc/passwd",
        "imlgit://rules/..%2F..%2Fetc%2Fpasswd",
        "imlgit://rules/%2Fetc%2Fpasswd",
        "imlgit://rules/R-Upper",
        "imlgit://rules/r-no-such-rule",
        "imlgit://rules/r-no-such-rule/history",
        "file:///etc/passwd",
    ],
)
def test_hostile_resource_uris_are_mcp_errors(session: Session, uri: str) -> None:
    from mcp import MCPError

    before = snapshot(session.path)
    with pytest.raises(MCPError) as err:
        session.read(uri)
    assert "root:" not in str(err.value)
    assert snapshot(session.path) == before


@slow
def test_propose_rule_opens_a_proposal_and_main_stays(session: Session) -> None:
    main = Store.open(session.path).head()
    got = session.ok(
        "propose_rule",
        statement="A parcel over 30 kg to an overseas address ships by sea.",
        rationale="Air freight refused every parcel over 30 kg this week.",
        evidence=["s-001", "s-002"],
        scope="shipping",
        title="Heavy overseas parcels go by sea",
    )
    assert got["rule"] == "r-heavy-overseas-parcels-go-by-sea"
    assert f"imlgit approve {got['proposal']}" in got["note"]
    store = Store.open(session.path)
    assert store.head() == main
    assert got["rule"] not in store.read_rules()
    open_ = {p.name: p for p in rv.list_proposals(store)}
    assert open_[got["proposal"]].rules == [got["rule"]]
    commit = open_[got["proposal"]].commits[0]
    assert commit.trailer("Imlgit-Evidence") == "s-001 s-002"
    assert commit.trailer("Imlgit-Op") == "induce"
    # a rule already active on main is refused, and nothing is written
    before = snapshot(session.path)
    again = session.tool(
        "propose_rule",
        statement="A change to this memory is committed with a rationale a reviewer can judge, "
        "so that each rule's history explains itself.",
        rationale="Restating it.",
    )
    assert again.is_error and "already in memory: r-example-rationale" in again.content[0].text
    assert snapshot(session.path) == before


@slow
def test_the_loop_record_learn_approve_recall(session: Session) -> None:
    """An agent records 20 experiences, learns; a person approves; recall has the rules."""
    main = Store.open(session.path).head()
    experiences = TruthTable(seed=0).sample(20, 1)
    for i, e in enumerate(experiences, 1):
        got = session.ok("record_experience", **e.to_dict())
        assert got == {"id": e.id, "journal": i}
    dup = session.tool("record_experience", **experiences[0].to_dict())
    assert dup.is_error and "duplicate id" in dup.content[0].text

    done = session.ok("learn")
    assert done["proposal"] and done["policy"] == "manual" and not done["approved"]
    assert done["main"] == main and done["journal"] == 0 and done["batches"]
    store = Store.open(session.path)
    assert store.head() == main  # nothing reaches main without approval
    proposal = rv.get_proposal(store, done["proposal"])
    assert proposal.rules and not set(proposal.rules) & set(store.read_rules())

    empty = session.ok("learn")  # an empty journal is an outcome, not a tool error
    assert empty["decision"] == "nothing to learn: the journal is empty"
    assert empty["proposal"] is None and empty["batches"] == [] and empty["main"] == main

    # a person approves, with the CLI, outside MCP
    env = {**os.environ, "IMLGIT_AUTHOR": str(PERSON), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run([sys.executable, "-m", "imlgit", "--repo", str(session.path), "approve",
                    done["proposal"]], env=env, check=True, capture_output=True)  # fmt: skip
    store = Store.open(session.path)
    approved = store.head()
    assert approved != main and store.commit_info(approved).author.startswith(PERSON.name)
    got = session.ok("recall", query="wicket brindle glimmer tansy", k=10, scope="truth-table")
    assert got["commit"] == approved
    assert set(proposal.rules) & {r["id"] for r in got["rules"]}
    for rid in proposal.rules:
        assert f"id: {rid}\n" in session.read(f"imlgit://rules/{rid}")
    # the agent asks: the learned rules answer in code, and the answer cites them
    held_out = TruthTable(seed=0).sample(60, 2)
    checked = right = 0
    for e in held_out:
        ans = session.ok("ask", input=e.input, scope="truth-table", model=False)
        assert ans["commit"] == approved
        if ans["path"] == "checked":
            checked += 1
            right += ans["answer"] == e.outcome.expected
            assert set(ans["rules"]) <= set(store.read_rules())
    assert checked >= 30 and right / checked > 0.5
    # the rules are listed as resources
    listed = {str(r.uri) for r in session.call(session.client.list_resources).resources}
    assert {f"imlgit://rules/{rid}" for rid in proposal.rules} <= listed


def test_recall_without_k_takes_the_memorys_retrieval_k(tmp_path: Path) -> None:
    """Issue 17: MCP recall ignored `[retrieval] k` (it always gave 8)."""
    store = Store.init(tmp_path / "m", author=PERSON)
    config = (store.read_file("imlgit.toml") or b"").decode().replace("# k = 8", "k = 2")
    assert "\nk = 2" in config
    msg = CommitMessage.make("edit", "k = 2", "Fewer rules a prompt.")
    store.commit({"imlgit.toml": config.encode()}, msg, author=PERSON)
    for i in range(5):
        r = Rule(id=f"r-{i}", title=f"Rule {i}", statement=f"Parcels of kind {i} go by sea.",
                 created="2026-11-27T08:00:00Z", updated="2026-11-27T08:00:00Z")  # fmt: skip
        store.put_rule(r, CommitMessage.make("add", f"add r-{i}", "A rule."), author=PERSON)
    tools = Tools(Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder()))
    assert len(tools.recall("parcels by sea")["rules"]) == 2
    assert len(tools.recall("parcels by sea", k=4)["rules"]) == 4
