"""Docs that cannot drift (after sqlite-utils' tests/test_docs.py, stricter):

- every command and subcommand of the click tree (and of a command that hands its
  arguments to a parser of its own, such as ``imlgit bench`` today) has help text and
  a section of its own in docs/REFERENCE.md, and each of its options is named there;
- every ``imlgit ...`` command line in a code block of README.md, RULE-FORMAT.md or
  docs/*.md parses with the real command line: the command exists, and so does each
  option it uses on that command;
- every relative link in those files names a file that exists, and an ``#anchor`` a
  heading that exists;
- README.md stays under 300 lines;
- the ``# example`` blocks of docs/CONDITIONS.md hold when run through
  ``imlgit.conditions``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from imlgit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
CHECKED = [ROOT / "README.md", ROOT / "RULE-FORMAT.md", *DOCS]
REFERENCE = ROOT / "docs" / "REFERENCE.md"
README_MAX_LINES = 300


# --------------------------------------------------------------------------- Markdown


@dataclass
class Block:
    """A fenced code block: its info string's first word and its lines."""

    lang: str
    lines: list[str]
    start: int  # the line number of its opening fence


@dataclass
class Doc:
    path: Path
    text: str
    headings: list[tuple[int, str, int]] = field(default_factory=list)  # level, text, line
    blocks: list[Block] = field(default_factory=list)
    prose: list[tuple[int, str]] = field(default_factory=list)  # lines outside code blocks


_FENCE = re.compile(r"^ *(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^(#{1,6}) +(.+?) *#* *$")


def parse_doc(path: Path) -> Doc:
    text = path.read_text(encoding="utf-8")
    doc = Doc(path, text)
    fence: str | None = None
    block: Block | None = None
    for n, line in enumerate(text.split("\n"), 1):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            info = m.group(2).strip().split()
            block = Block(info[0] if info else "", [], n)
            continue
        if fence is not None and block is not None:
            if m and m.group(1).startswith(fence[0] * len(fence)) and not m.group(2).strip():
                doc.blocks.append(block)
                fence, block = None, None
            else:
                block.lines.append(line)
            continue
        doc.prose.append((n, line))
        h = _HEADING.match(line)
        if h:
            doc.headings.append((len(h.group(1)), h.group(2), n))
    opened = block.start if block else "?"
    assert fence is None, f"{path.name}: the code block opened at line {opened} never closes"
    return doc


def plain(heading: str) -> str:
    """A heading's text without Markdown: code spans, emphasis and links as text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return text.replace("`", "").replace("*", "").strip()


def slugs(doc: Doc) -> set[str]:
    """The anchors GitHub gives the headings: lower case, punctuation dropped, spaces
    as hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    out = set()
    for _level, text, _line in doc.headings:
        slug = re.sub(r"[^\w\- ]", "", plain(text).lower()).replace(" ", "-")
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}-{seen[slug]}"
        else:
            seen[slug] = 0
        out.add(slug)
    return out


def sections(doc: Doc) -> dict[str, str]:
    """Each heading's plain text -> its section: up to the next heading of its level or above."""
    lines = doc.text.split("\n")
    out: dict[str, str] = {}
    for i, (level, text, line) in enumerate(doc.headings):
        end = len(lines) + 1
        for lv, _t, ln in doc.headings[i + 1 :]:
            if lv <= level:
                end = ln
                break
        out.setdefault(plain(text), "\n".join(lines[line - 1 : end - 1]))
    return out


DOCS_PARSED = {p: parse_doc(p) for p in CHECKED}


# --------------------------------------------------------------------------- the command tree


@dataclass
class Entry:
    """A command as the docs must describe it."""

    path: tuple[str, ...]  # ("imlgit", "rule", "add")
    help: str
    options: list[tuple[str, ...]]  # each option's names, long ones first
    command: click.Command | None = None  # None: a subcommand of a pass-through command
    subcommands: dict[str, Entry] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " ".join(self.path)


def passes_through(cmd: click.Command) -> bool:
    """A command that hands every argument to a parser of its own (argparse behind
    ``imlgit bench`` today): click sees one unprocessed argument and no options."""
    return any(
        isinstance(p, click.Argument) and p.nargs == -1
        and isinstance(p.type, click.types.UnprocessedParamType)
        for p in cmd.params
    )  # fmt: skip


def option_names(cmd: click.Command) -> list[tuple[str, ...]]:
    out = []
    for p in cmd.params:
        if isinstance(p, click.Option):
            names = [*p.opts, *p.secondary_opts]
            longs = tuple(n for n in names if n.startswith("--"))
            out.append(longs or tuple(names))
    return out


_SUBCOMMANDS = re.compile(r"\{([\w,-]+)\}")
_LONG_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def own_help(path: tuple[str, ...]) -> str:
    """What a pass-through command prints for ``--help`` (its own parser's usage)."""
    result = CliRunner().invoke(cli, [*path[1:], "--help"], catch_exceptions=False)
    assert result.exit_code == 0, f"`{' '.join(path)} --help` exited {result.exit_code}"
    assert result.output.strip(), f"`{' '.join(path)} --help` printed nothing"
    return result.output


def pass_through_entry(path: tuple[str, ...], cmd: click.Command | None) -> Entry:
    """A pass-through command and its subcommands, read from their own ``--help``: the
    subcommands its usage line lists (``{a,b,c}``), else the options its help names."""
    text = own_help(path)
    found = _SUBCOMMANDS.search(text.split("\n\n", 1)[0])
    if found:
        entry = Entry(path, cmd.help or "" if cmd else text, option_names(cmd) if cmd else [], cmd)
        for sub in found.group(1).split(","):
            entry.subcommands[sub] = pass_through_entry((*path, sub), None)
        return entry
    options = sorted({(o,) for o in _LONG_OPTION.findall(text)} - {("--help",)})
    assert options, f"`{' '.join(path)} --help` names no option"
    return Entry(path, cmd.help or "" if cmd else text, options, cmd)


def walk(cmd: click.Command, path: tuple[str, ...] = ("imlgit",)) -> Entry:
    if passes_through(cmd):
        return pass_through_entry(path, cmd)
    entry = Entry(path, cmd.help or "", option_names(cmd), cmd)
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=path[-1])
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{entry.name} lists {name} but cannot load it"
            entry.subcommands[name] = walk(sub, (*path, name))
    return entry


def flatten(entry: Entry) -> list[Entry]:
    out = [entry]
    for sub in entry.subcommands.values():
        out.extend(flatten(sub))
    return out


TREE = walk(cli)
ENTRIES = flatten(TREE)
# An option the top command takes too (``--repo`` / ``-C``, which every command also takes
# after its name) is documented once, in the section of ``imlgit``.
COMMON = set(TREE.options)


def test_the_tree_is_walked_whole() -> None:
    """The walk reaches the groups and the pass-through commands, not only the top."""
    names = {e.name for e in ENTRIES}
    assert {"imlgit", "imlgit rule add", "imlgit branch merge", "imlgit learn"} <= names
    assert any(len(e.path) == 3 and e.path[1] == "bench" for e in ENTRIES), names
    assert ("--repo",) in COMMON
    takes_repo = [e.name for e in ENTRIES if ("--repo",) in e.options]
    assert "imlgit rule add" in takes_repo and "imlgit log" in takes_repo


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_command_is_in_the_reference_with_help_and_options(entry: Entry) -> None:
    assert entry.help.strip(), f"{entry.name} has no help text"
    found = sections(DOCS_PARSED[REFERENCE])
    assert entry.name in found, f"docs/REFERENCE.md has no heading `{entry.name}`"
    section = found[entry.name]
    wanted = entry.options if entry is TREE else [o for o in entry.options if o not in COMMON]
    missing = [
        "/".join(names) for names in wanted
        if not any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", section) for n in names)
    ]  # fmt: skip
    assert not missing, f"docs/REFERENCE.md, section `{entry.name}`, does not name {missing}"


# --------------------------------------------------------------------------- command lines

_SHELL_BLOCKS = {"console", "sh", "shell", "bash", "zsh", ""}
_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&"}


def command_lines(doc: Doc) -> list[tuple[int, str]]:
    """(line, command) for each ``imlgit`` command line in the doc's shell blocks: in a
    console block the ``$`` lines, elsewhere every line; continuation lines joined."""
    out = []
    for block in doc.blocks:
        if block.lang not in _SHELL_BLOCKS:
            continue
        lines = block.lines
        i = 0
        while i < len(lines):
            n, line = block.start + 1 + i, lines[i].strip()
            if block.lang == "console":
                line = line[2:] if line.startswith("$ ") else ""
            elif line.startswith("$ "):
                line = line[2:]
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1] + " " + lines[i].strip()
            words = line.split()
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                words = words[1:]  # VAR=value imlgit ...
            if words and words[0] == "imlgit":
                out.append((n, line))
            i += 1
    return out


ALL_LINES: list[tuple[str, int, str]] = [
    (doc.path.relative_to(ROOT).as_posix(), n, line)
    for doc in DOCS_PARSED.values()
    for n, line in command_lines(doc)
]


LINE_IDS = [f"{w}:{n}" for w, n, _ in ALL_LINES]


def imlgit_words(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    while words and words[0] != "imlgit":
        words = words[1:]
    for i, w in enumerate(words):
        if w in _SHELL_OPERATORS:
            return words[1:i]
    return words[1:]


def _rest(ctx: click.Context) -> list[str]:
    protected = ctx.__dict__.get("_protected_args", ctx.__dict__.get("protected_args", []))
    return [*protected, *ctx.args]


def resolve(args: list[str]) -> Entry:
    """Parse ``args`` with click's own parser, the way ``imlgit`` would, without running
    anything: an unknown command, an unknown option, a bad value or a missing argument
    raises a ``click.UsageError``. Returns the command's entry."""
    entry, cmd = TREE, cli
    try:
        ctx = cli.make_context("imlgit", list(args))
        while isinstance(cmd, click.Group):
            rest = _rest(ctx)
            if not rest:
                break
            name, sub, rest = cmd.resolve_command(ctx, rest)
            assert sub is not None and name is not None
            entry = entry.subcommands[name]
            ctx = sub.make_context(name, rest, parent=ctx)
            cmd = sub
    except click.exceptions.Exit as done:  # --help, --version
        assert done.exit_code == 0
        return entry
    if passes_through(cmd):
        entry = pass_through_args(entry, list(ctx.params.get("args", ())))
    return entry


def pass_through_args(entry: Entry, args: list[str]) -> Entry:
    """A pass-through command's arguments against its own parser's subcommands and options."""
    if entry.subcommands:
        if not args or args[0] not in entry.subcommands:
            subs = sorted(entry.subcommands)
            raise click.UsageError(f"{entry.name}: no subcommand {args[:1]}; it has {subs}")
        return pass_through_args(entry.subcommands[args[0]], args[1:])
    known = {n for names in entry.options for n in names} | {"--help", "-h"}
    for word in args:
        if word.startswith("--") and word.split("=", 1)[0] not in known:
            raise click.UsageError(f"{entry.name}: no such option {word.split('=', 1)[0]}")
    return entry


@pytest.mark.parametrize(("where", "n", "line"), ALL_LINES, ids=LINE_IDS)
def test_every_documented_command_line_parses(where: str, n: int, line: str) -> None:
    try:
        resolve(imlgit_words(line))
    except click.UsageError as exc:
        pytest.fail(f"{where}:{n}: `{line}`: {exc.format_message()}")


def test_command_lines_are_found() -> None:
    """The collector sees the README's tour and the reference's examples."""
    where = {w for w, _n, _l in ALL_LINES}
    assert {"README.md", "docs/REFERENCE.md"} <= where
    assert sum(1 for w, _n, _l in ALL_LINES if w == "README.md") >= 10


def test_a_renamed_option_or_command_does_not_parse() -> None:
    resolve(["rule", "list", "--status", "all", "--json"])
    resolve(["bench", "truth-table", "--seeds", "0,1", "--quick"])
    for bad in (
        ["rule", "list", "--state", "all"],
        ["rules", "list"],
        ["learn", "x.jsonl", "--batch", "none"],
        ["bench", "truth-table", "--seed", "0"],
        ["bench", "truthtable"],
    ):
        with pytest.raises(click.UsageError):
            resolve(bad)


_SPAN = re.compile(r"(`+)((?:(?!\1)[^\n]|\n(?!\n))+?)\1")  # may wrap, within a paragraph
_OPTION_WORD = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def inline_commands(doc: Doc) -> list[tuple[int, str]]:
    """(line, text) of each inline code span in the prose that is an ``imlgit`` command."""
    text = "\n".join(line for _n, line in doc.prose)
    numbers = [n for n, _line in doc.prose]
    out = []
    for m in _SPAN.finditer(text):
        span = " ".join(m.group(2).split())
        if span.startswith("imlgit "):
            out.append((numbers[text.count("\n", 0, m.start())], span))
    return out


def check_inline(span: str) -> str | None:
    """What is wrong with an inline command such as ``imlgit rule list [--scope S]``: its
    words name commands down the tree (a capitalised placeholder such as COMMAND stops
    the walk), and every ``--option`` it names exists on the command reached."""
    words = span.split()[1:]
    entry, i = TREE, 0
    while i < len(words):
        word = words[i].strip("[]")
        if word in ("-C", "--repo"):
            i += 2
            continue
        if word.startswith("-") or not entry.subcommands:
            break
        if word in entry.subcommands:
            entry = entry.subcommands[word]
            i += 1
            continue
        if word.isupper() or not word[:1].isalpha():  # COMMAND, |, ...
            break
        return f"{entry.name} has no command {word!r}"
    known = {n for names in entry.options for n in names} | {"--help", "--repo"}
    for option in _OPTION_WORD.findall(" ".join(words[i:])):
        if option not in known:
            return f"{entry.name} has no option {option}"
    return None


INLINE = [
    (doc.path.relative_to(ROOT).as_posix(), n, span)
    for doc in DOCS_PARSED.values()
    for n, span in inline_commands(doc)
]


@pytest.mark.parametrize(("where", "n", "span"), INLINE, ids=[f"{w}:{n}" for w, n, _ in INLINE])
def test_every_inline_command_names_real_commands_and_options(
    where: str, n: int, span: str
) -> None:
    problem = check_inline(span)
    assert problem is None, f"{where}:{n}: `{span}`: {problem}"


def test_inline_commands_are_found() -> None:
    assert len(INLINE) >= 50
    assert check_inline("imlgit rule list [--scope S] [--state all]") is not None
    assert check_inline("imlgit rules list") is not None
    assert check_inline("imlgit bench truth-table --seed 0") is not None
    assert check_inline("imlgit log --version") is not None
    assert check_inline("imlgit [--repo PATH | -C PATH] [--version] COMMAND ...") is None


# --------------------------------------------------------------------------- links

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def links(doc: Doc) -> list[tuple[int, str]]:
    out = []
    for n, line in doc.prose:
        for m in _LINK.finditer(_CODE_SPAN.sub("", line)):
            out.append((n, m.group(1)))
    return out


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path: Path) -> None:
    doc = DOCS_PARSED[path]
    broken = []
    for n, target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{path.name}:{n}: {target}: no such file")
        elif anchor and dest.suffix == ".md":
            there = DOCS_PARSED.get(dest) or parse_doc(dest)
            if anchor not in slugs(there):
                broken.append(f"{path.name}:{n}: {target}: no heading #{anchor} in {dest.name}")
    assert not broken, "\n".join(broken)


# --------------------------------------------------------------------------- the README


def test_the_readme_fits_a_few_screens() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, (
        f"README.md has {lines} lines; keep it under {README_MAX_LINES}"
    )


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_rule_format_spec_matches_the_parser() -> None:
    from imlgit.rules import _KEYS  # the fields the parser knows

    spec = (ROOT / "RULE-FORMAT.md").read_text(encoding="utf-8")
    for key in _KEYS:
        assert f"| `{key}` |" in spec, f"RULE-FORMAT.md does not document {key}"


# --------------------------------------------------------------------------- CONDITIONS.md

CONDITIONS = DOCS_PARSED[ROOT / "docs" / "CONDITIONS.md"]
EXAMPLES = [
    b
    for b in CONDITIONS.blocks
    if b.lang == "yaml" and b.lines and b.lines[0].startswith("# example")
]


def test_conditions_has_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: f"CONDITIONS.md:{b.start}")
def test_condition_example_holds(block: Block) -> None:
    from imlgit.conditions import ScoredRule, choose, matches, parse_when
    from imlgit.errors import RuleError
    from imlgit.inputs import view_of
    from imlgit.statements import render_statement

    where = f"docs/CONDITIONS.md:{block.start}"
    ex: dict[str, Any] = yaml.safe_load("\n".join(block.lines))
    known = {"when", "then", "statement", "holds", "fails", "error", "rules", "choose",
             "agent_output"}  # fmt: skip
    assert set(ex) <= known, f"{where}: unknown keys {sorted(set(ex) - known)}"
    if "error" in ex:
        with pytest.raises(RuleError) as err:
            parse_when(ex["when"])
        assert ex["error"] in str(err.value), f"{where}: refused with {err.value}"
        return
    if "rules" in ex:
        rules = [
            ScoredRule(parse_when(r["when"]), str(r["then"]), r["precision"], r["support"])
            for r in ex["rules"]
        ]
        for case in ex["choose"]:
            got = choose(rules, case["input"])
            want = None if case["answer"] is None else (case["answer"], case["rule"])
            assert got == want, f"{where}: {case['input']} is decided by {got}, not {want}"
        return
    conds = parse_when(ex["when"])
    if "statement" in ex:
        said = render_statement(conds, str(ex["then"]))
        assert said == ex["statement"], f"{where}: the form renders as {said!r}"
    assert ex.get("holds") or ex.get("fails"), f"{where}: an example with no input"

    def case(item: Any) -> Any:
        if ex.get("agent_output"):  # the agent's output beside its input
            return view_of(item["input"], item.get("output"))
        return item

    for inp in ex.get("holds") or []:
        assert matches(conds, case(inp)), f"{where}: does not hold for {inp!r}"
    for inp in ex.get("fails") or []:
        assert not matches(conds, case(inp)), f"{where}: holds for {inp!r}"
