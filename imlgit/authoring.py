"""Rules a person writes: add, edit, retire, each one commit on main.

What every interface shares (``imlgit rule add / edit / retire``, :class:`imlgit.Memory`):

- a rationale is required, and is refused when it carries a secret or personal
  data (it is committed to history);
- a rule whose text carries a secret or personal data is refused, naming where
  (``[scan] allow`` of imlgit.toml on main lets patterns through);
- the same rule twice in a scope is refused at write (``imlgit doctor`` finds the
  rest): the same statement ignoring case, spacing and punctuation, or the same
  checkable form;
- retiring a rule that is retired already is an outcome, not an error: nothing is
  committed and :attr:`Written.sha` is None.

Every write is made against the main this call read (``expected_head``), so a
concurrent change of the same rule is a conflict, never lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .commits import CommitMessage, Identity
from .errors import ExperienceError, RationaleRequired, RuleError, VerificationError
from .experience import valid_experience_id
from .identity import active_rules, duplicate_of
from .privacy import check_rationale
from .rules import MAX_SOURCES, Rule, now_utc, parse_rule, render_rule, slugify, unique_rule_id
from .scan import scan_text
from .store import DEFAULT_BRANCH, Store

__all__ = [
    "Written",
    "add_rule",
    "edit_rule",
    "retire_rule",
    "refuse_duplicate",
    "refuse_secrets",
    "proposed_rule",
    "refuse_secret_fields",
    "verified",
]


@dataclass(frozen=True)
class Written:
    """What a rule write did: ``op`` (add, edit, retire) on ``rule_id``, committed as
    ``sha``; None when nothing needed committing (a retired rule retired again, a
    rule file replaced by the very same text)."""

    op: str
    rule_id: str
    sha: str | None

    @property
    def changed(self) -> bool:
        return self.sha is not None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "rule_id": self.rule_id, "sha": self.sha}


def add_rule(
    store: Store,
    *,
    title: str,
    statement: str,
    why: str,
    author: Identity,
    rule_id: str | None = None,
    scope: str = "general",
    evidence: str = "",
    sources: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> Written:
    """Add a rule to main as one commit; its id defaults to one made from ``title``.

    Refused (:class:`RuleError`, nothing written): an id that exists, an empty
    statement, secrets or personal data, the same rule active in the scope."""
    rationale = _rationale(store, why)
    if not isinstance(statement, str) or not statement.strip():
        raise RuleError("a rule needs a statement", field="statement")
    rid = rule_id or slugify(title)
    head = store.resolve(DEFAULT_BRANCH)
    if store.locate(rid, head) is not None:
        raise RuleError(f"a rule with id {rid!r} exists; edit it, or choose another --id")
    now = now_utc()
    new = Rule(
        id=rid,
        title=title,
        statement=statement.strip(),
        scope=scope,
        created=now,
        updated=now,
        sources=tuple(sources),
        evidence=evidence.strip(),
        tags=tuple(tags),
    )
    return _commit(store, "add", new, rationale, author, head)


def edit_rule(
    store: Store,
    rule_id: str,
    *,
    why: str,
    author: Identity,
    title: str | None = None,
    statement: str | None = None,
    scope: str | None = None,
    evidence: str | None = None,
    text: bytes | None = None,
    source: str = "the rule file",
) -> Written:
    """Change a rule's fields on main, or replace its whole file with ``text`` (the
    bytes of a rule file; ``source`` names it in errors), as one commit.

    Read as the file it replaces, ``text`` keeps the rule's id, scope and place as
    defaults; an id other than ``rule_id`` is refused. Refused as :func:`add_rule`
    refuses, and (:class:`RuleError`) when nothing would change."""
    rationale = _rationale(store, why)
    head = store.resolve(DEFAULT_BRANCH)
    old = store.read_rule(rule_id, head)
    if text is not None:
        try:
            new = parse_rule(text, path=old.path)
        except RuleError as exc:
            raise RuleError(exc.message, path=source, line=exc.line, field=exc.field) from None
        if new.id != rule_id:
            raise RuleError(
                f"the file's id is {new.id!r}, not {rule_id!r}", path=source, field="id"
            )
        new = new.with_changes(updated=now_utc())
    else:
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "title": title,
                "statement": statement.strip() if statement else None,
                "scope": scope,
                "evidence": evidence.strip() if evidence is not None else None,
            }.items()
            if v is not None
        }
        if not changes:
            raise RuleError(
                "nothing to change: give a title, statement, scope or evidence, or the "
                "rule's text",
                path=old.path,
            )
        new = old.with_changes(updated=now_utc(), **changes)
    return _commit(store, "edit", new, rationale, author, head)


def retire_rule(store: Store, rule_id: str, *, why: str, author: Identity) -> Written:
    """Retire a rule on main (one commit): it stays in the repo, no longer used.

    An unknown id is :class:`~imlgit.errors.RuleNotFound`; a rule already retired
    is left as it is, and :attr:`Written.sha` is None."""
    rationale = _rationale(store, why)
    head = store.resolve(DEFAULT_BRANCH)
    old = store.read_rule(rule_id, head)
    if old.status == "retired":  # what was asked is already so: an outcome, not an error
        return Written("retire", rule_id, None)
    msg = CommitMessage.make("retire", f"retire {rule_id}", rationale, rules=[rule_id])
    new = old.with_changes(status="retired", updated=now_utc())
    sha = store.put_rule(new, msg, author=author, expected_head=head)
    return Written("retire", rule_id, sha)


def refuse_duplicate(store: Store, rule: Rule, head: str) -> None:
    """The same rule twice in a scope is refused at write (imlgit doctor finds the rest)."""
    dup = duplicate_of(rule, active_rules(store, head, scope=rule.scope))
    if dup is not None:
        raise RuleError(
            f"the same rule is already active in scope {rule.scope!r}: {dup} (the same "
            "statement, ignoring case, spacing and punctuation, or the same when/then); "
            f"edit {dup} instead",
            path=rule.path,
            field="statement",
        )


def refuse_secrets(store: Store, rule: Rule) -> None:
    """A rule write carrying a secret or personal data is refused, with where."""
    found = scan_text(render_rule(rule), path=rule.path, allow=store.guard.scan_allow())
    if found:
        listed = "; ".join(str(f) for f in found[:5])
        raise RuleError(
            f"refused: {listed}. Rules may not keep secrets or personal data; if this is "
            "fine, add a pattern to [scan] allow in imlgit.toml",
            path=rule.path,
            line=found[0].line,
        )


def _rationale(store: Store, why: str) -> str:
    if not isinstance(why, str) or not why.strip():
        raise RationaleRequired("a rationale is required: say why")
    check_rationale(why.strip(), store.guard.scan_allow(), what="the rationale")
    return why.strip()


def _commit(
    store: Store, op: str, new: Rule, rationale: str, author: Identity, head: str
) -> Written:
    refuse_secrets(store, new)
    refuse_duplicate(store, new, head)
    msg = CommitMessage.make(op, f"{op} {new.id}", rationale, rules=[new.id])
    return Written(op, new.id, store.put_rule(new, msg, author=author, expected_head=head))


# ---------------------------------------------------------------------- an agent's proposal


def proposed_rule(
    store: Store,
    statement: Any,
    rationale: Any,
    *,
    evidence: Any = (),
    scope: str = "general",
    title: Any = None,
    when: Any = None,
    then: Any = None,
) -> tuple[Rule, str, str, dict[str, Rule]]:
    """The rule an agent proposes (:meth:`imlgit.Memory.propose`), its input checked
    before main is read: (the rule, its rationale stripped, main's commit, main's
    rules). Its id is made from the title (the statement's beginning by default),
    unique on main; ``when`` and ``then`` go together."""
    from .conditions import parse_then, parse_when

    if not isinstance(rationale, str) or not rationale.strip():
        raise RationaleRequired("a rationale is required: say why this rule is right")
    if not isinstance(statement, str) or not statement.strip():
        raise RuleError("a rule needs a statement", field="statement")
    statement = statement.strip()
    if title is not None and not isinstance(title, str):
        raise RuleError("the title is text", field="title")
    title = (title or "").strip() or _title_from(statement)
    if isinstance(evidence, str):
        raise ExperienceError("evidence is a list of experience ids", field="evidence")
    sources = tuple(dict.fromkeys(evidence))
    if len(sources) > MAX_SOURCES:
        raise ExperienceError(f"at most {MAX_SOURCES} evidence ids", field="evidence")
    for ev in sources:
        if not valid_experience_id(ev):
            raise ExperienceError(
                f"bad evidence id {ev!r}: an experience id is letters, digits, '.', '_', "
                "':' or '-', starting with a letter or digit, without '..'",
                field="evidence",
            )
    conds = parse_when(when) if when is not None else None
    outcome = parse_then(then) if then is not None else None
    if (conds is None) != (outcome is None):
        raise RuleError("'when' and 'then' go together: give both or neither", field="when")
    main = store.resolve(DEFAULT_BRANCH)
    rules = store.read_rules(main)
    now = now_utc()
    rule = Rule(
        id=unique_rule_id(title, rules),
        title=title,
        statement=statement,
        scope=scope,
        created=now,
        updated=now,
        sources=sources,
        when=conds,
        then=outcome,
    )
    return rule, rationale.strip(), main, rules


def refuse_secret_fields(fields: Mapping[str, str], allow: Sequence[str]) -> None:
    """:class:`RuleError` naming the first field (of ``fields``: name -> text) that
    looks like a secret or personal data."""
    for where, text in fields.items():
        found = scan_text(text, path=where, allow=allow)
        if found:
            f = found[0]
            raise RuleError(
                f"looks like a secret or personal data: {f.kind} at line {f.line}, column "
                f"{f.column} ({f.excerpt}); remove it (or allow the pattern in [scan] allow "
                "of imlgit.toml)",
                field=where,
            )


def verified(store: Store, rule: Rule, main: str, *, min_precision: float) -> Rule:
    """``rule`` (checkable) with the support and contradictions the experiences
    stored on ``main`` show; :class:`VerificationError` when they contradict it more
    often than ``min_precision`` allows."""
    from .conditions import matches
    from .hygiene import stored_experiences
    from .verify import OUTCOME, judge, kind_of

    kind = kind_of(rule)
    right = wrong = 0
    for exp in stored_experiences(store, main, skip_invalid=True):
        if exp.scope != rule.scope or (kind == OUTCOME and exp.output is None):
            continue
        if not matches(rule.when or (), exp.acted if kind == OUTCOME else exp.view):
            continue
        ok = judge(exp, rule.then or "", kind)
        if ok is not None:
            right += ok
            wrong += not ok
    if right + wrong and right / (right + wrong) < min_precision:
        raise VerificationError(
            f"the stored experiences contradict this rule: right on {right}, wrong on "
            f"{wrong} of the {right + wrong} in scope {rule.scope!r} it decides "
            f"(precision {right / (right + wrong):.2f}, below [learn] min_precision "
            f"{min_precision:.2f})",
            rule.id,
            f"support {right}, contradictions {wrong}",
        )
    return rule.with_changes(support=right, contradictions=wrong)


def _title_from(statement: str, limit: int = 80) -> str:
    """A one-line title: the statement on one line, cut at a word before ``limit``."""
    text = " ".join(statement.split())
    if len(text) <= limit:
        return text.rstrip(".") or text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:") + "…"
