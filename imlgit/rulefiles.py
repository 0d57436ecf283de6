"""A commit's rule files when some of them may be bad.

A rule file that does not parse can reach main without imlgit's checks: a plain
``git commit``, a merge made with git, an older imlgit. Then only what needs that
rule may fail (naming the file); everything else reads the other rules and says
which file it left out. :func:`read_rules` returns both, so each caller chooses:
``check`` and ``doctor`` list the problems, ``recall`` skips the rule with a
warning, ``eval`` and ``prune``, which need every rule, refuse naming the file.

The parser is meant to raise only :class:`RuleError`; :func:`parse_rule_file` and
:func:`check_file` also turn any other failure of it into one, with the path, so
that one odd file can never become an "unexpected" error for every command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import RuleError
from .rules import Rule, parse_rule, rule_id_from_path

if TYPE_CHECKING:
    from .store import Store

__all__ = ["RuleSet", "check", "check_file", "parse_rule_file", "read_rules"]

# What a parser bug on odd input looks like (a deep nesting, a huge number, an
# unhashable key); anything else is not the file's fault and propagates.
_PARSER_FAILURES = (ValueError, TypeError, RecursionError, OverflowError, KeyError, IndexError)


def _as_rule_error(exc: BaseException, path: str) -> RuleError:
    detail = f"{type(exc).__name__}: {exc}"[:300]  # a 5,000-digit number stays out
    return RuleError(f"cannot be read as a rule file ({detail})", path=path)


def parse_rule_file(data: bytes, path: str) -> Rule:
    """:func:`imlgit.rules.parse_rule`, every failure of it a :class:`RuleError` naming ``path``."""
    try:
        return parse_rule(data, path=path)
    except RuleError:
        raise
    except _PARSER_FAILURES as exc:
        raise _as_rule_error(exc, path) from exc


def check_file(path: str, data: bytes, seen: dict[str, str]) -> list[RuleError]:
    """:func:`imlgit.store.check_rule_file` (``imlgit check``), with the same guard."""
    from .store import check_rule_file

    try:
        return check_rule_file(path, data, seen)
    except _PARSER_FAILURES as exc:
        return [_as_rule_error(exc, path)]


@dataclass
class RuleSet:
    """The rules of a commit that parse, and a problem for each file that does not."""

    rules: dict[str, Rule]
    problems: dict[str, RuleError] = field(default_factory=dict)  # rule id -> its error

    def require(self, *, what: str) -> dict[str, Rule]:
        """Every rule, or a :class:`RuleError` naming the first bad file and what needs it."""
        if self.problems:
            first = next(iter(self.problems.values()))
            more = len(self.problems) - 1
            also = f" (and {more} more bad rule file{'s' if more > 1 else ''})" if more else ""
            raise RuleError(
                f"{first.message}{also}; {what} needs every rule: fix the file "
                "(imlgit check lists them)",
                path=first.path, line=first.line, field=first.field,
            )
        return self.rules


def read_rules(store: Store, rev: str | None = None) -> RuleSet:
    """The rules at ``rev`` that parse, and the files that do not (by rule id).

    Two files claiming one id (rules/ may hold a rule anywhere) keep the first
    and report the second, as ``imlgit check`` does.
    """
    from .rules import RULES_DIR

    rules: dict[str, Rule] = {}
    problems: dict[str, RuleError] = {}
    paths: dict[str, str] = {}
    for path, blob in sorted(store.files_under(RULES_DIR, rev)):
        rid = rule_id_from_path(path)
        if rid is None:
            continue  # not a rule file: check reports it, nothing reads it
        if rid in paths:
            problems.setdefault(
                rid, RuleError(f"duplicate rule id {rid!r}, also in {paths[rid]}", path=path)
            )
            continue
        paths[rid] = path
        try:
            rules[rid] = parse_rule_file(store.read_blob(blob), path)
        except RuleError as exc:
            problems[rid] = exc
    return RuleSet(dict(sorted(rules.items())), problems)


def check(store: Store, rev: str | None = None) -> list[RuleError]:
    """:meth:`imlgit.store.Store.check` (every problem with the rule files at ``rev``),
    with each file guarded as in :func:`check_file`."""
    from .rules import RULES_DIR

    seen: dict[str, str] = {}
    problems: list[RuleError] = []
    for path, blob in store.files_under(RULES_DIR, rev):
        problems += check_file(path, store.read_blob(blob), seen)
    return problems
