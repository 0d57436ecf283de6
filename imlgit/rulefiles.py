"""A commit's rule files when some of them may be bad.

A rule file that does not parse can reach main without imlgit's checks: a plain
``git commit``, a merge made with git, an older imlgit. Then only what needs that
rule may fail (naming the file); everything else reads the other rules and says
which file it left out. :func:`read_rules` returns both, so each caller chooses:
``check`` and ``doctor`` list the problems, ``recall`` skips the rule with a
warning, ``eval`` and ``prune``, which need every rule, refuse naming the file.

:func:`imlgit.rules.parse_rule` raises only :class:`RuleError`, naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import RuleError
from .rules import Rule, rule_id_from_path

if TYPE_CHECKING:
    from .store import Store

__all__ = ["RuleSet", "read_rules"]

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
            rules[rid] = store.rule_from_blob(blob, path)
        except RuleError as exc:
            problems[rid] = exc
    store.rules.save()
    return RuleSet(dict(sorted(rules.items())), problems)
