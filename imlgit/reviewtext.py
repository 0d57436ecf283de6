"""A review as a person reads it: in a terminal, or as a pull-request comment.

Both say the same, in this order: the net change (each rule added, changed or
retired, its statement and figures before and after, the evidence behind it),
the experiences stored, the accuracy before and after on an evaluation set, what
the policy decides, then the commits: one line each, or with ``commits`` each
one's rationale, evidence and rule diff.
"""

from __future__ import annotations

from collections.abc import Iterator

from .review import NetChange, Review
from .rules import Rule

__all__ = ["text", "markdown"]

_SIGN = {"added": "+", "changed": "~", "retired": "-", "restored": "+", "removed": "-",
         "figures": "="}
MAX_STATEMENT_SHOWN = 300


def _clip(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= MAX_STATEMENT_SHOWN else s[: MAX_STATEMENT_SHOWN - 3] + "..."


def figures(r: Rule) -> str:
    """The evidence behind a rule: counted (checkable) or cited (plain)."""
    if r.checkable:
        decided = r.support + r.contradictions
        share = f" ({r.support / decided:.0%})" if decided else ""
        return f"decides {decided} experiences, {r.support} right{share}"
    return f"support {r.support}, contradictions {r.contradictions} (cited, not counted)"


def _short(r: Rule) -> str:
    return f"{r.support}/{r.support + r.contradictions}"


def _figures_only(r: Review, shape: str) -> str:
    """The rules whose figures alone moved, each in ``shape``, the first 20 shown."""
    only = [n for n in r.net if n.kind == "figures" and n.before and n.after]
    shown = ", ".join(
        shape.format(id=n.rule_id, before=_short(n.before), after=_short(n.after))
        for n in only[:20]
        if n.before is not None and n.after is not None
    )
    return shown + (f" and {len(only) - 20} more" if len(only) > 20 else "")


def _counts(r: Review) -> str:
    kinds: dict[str, int] = {}
    for n in r.net:
        kinds[n.kind] = kinds.get(n.kind, 0) + 1
    meaning = [f"{v} {k}" for k, v in kinds.items() if k != "figures"]
    if "figures" in kinds:
        meaning.append(f"{kinds['figures']} with new figures only")
    return ", ".join(meaning) or "no rule"


def _redacted(r: Review) -> str:
    """" (redacted before they were stored: 3 <email>, 1 <card>)", or ""."""
    if not r.redacted:
        return ""
    from .privacy import PLACEHOLDERS

    shown = ", ".join(f"{n} {PLACEHOLDERS[kind]}" for kind, n in r.redacted.items())
    return f" (redacted before they were stored: {shown})"


def _net_lines(n: NetChange) -> Iterator[str]:
    b, a = n.before, n.after
    yield f"  {_SIGN[n.kind]} {n.rule_id} ({n.kind}; {n.path})"
    if n.kind in ("added", "restored") and a is not None:
        yield f"      {_clip(a.statement)}"
        yield f"      evidence: {figures(a)}"
    elif n.kind == "changed" and a is not None and b is not None:
        if b.statement != a.statement:
            yield f"      before: {_clip(b.statement)}"
            yield f"      after:  {_clip(a.statement)}"
        else:
            yield f"      {_clip(a.statement)}"
        for field in ("title", "scope", "status"):
            if getattr(b, field) != getattr(a, field):
                yield f"      {field}: {getattr(b, field)} -> {getattr(a, field)}"
        yield f"      evidence: {figures(b)} -> {figures(a)}"
    elif b is not None:
        yield f"      was: {_clip(b.statement)}"
        yield f"      its evidence: {figures(b)}" + (
            f" -> {figures(a)}" if a is not None else ""
        )


def _accuracy(r: Review) -> str | None:
    if r.accuracy is None:
        return None
    before, after = r.accuracy
    return (f"accuracy on {r.eval_name}: {before.accuracy:.1%} on main, {after.accuracy:.1%} "
            f"once approved ({before.total} experiences; {after.answered} answered by "
            "checked rules)")


def text(r: Review, *, commits: bool = False, diff: bool = True) -> list[str]:
    p = r.proposal
    out = [f"proposal {p.name}: {len(p.commits)} commits on {p.branch}; net change: "
           f"{_counts(r)}; {r.stored} experiences stored{_redacted(r)}"]
    if r.files:
        out.append(f"! it changes {len(r.files)} file{'s' if len(r.files) != 1 else ''} "
                   "outside the rules and the evidence, which only a person approves:")
        for path, change in r.files:
            out.append(f"  ! {path}")
            out.extend(f"      {line}" for line in change.splitlines())
    if p.behind:
        out.append("main has moved since this proposal was made; approving merges it")
    meaning = [n for n in r.net if n.kind != "figures"]
    for n in meaning:
        out.extend(_net_lines(n))
    only = _figures_only(r, "{id} {before} -> {after}")
    if only:
        out.append(f"  = figures only (right/decided): {only}")
    acc = _accuracy(r)
    if acc:
        out.append(acc)
    out.append(f"policy {r.decision.summary()}")
    for ck in r.decision.checks:
        out.append(f"  [{'ok' if ck.ok else 'no'}] {ck.name}: {ck.detail}")
    if not commits:
        out.append(f"commits ({len(r.entries)}; --commits shows each one's rationale, "
                   "evidence and diff):")
        out.extend(f"  {e.commit.sha[:12]} {e.commit.subject}" for e in r.entries)
        return out
    for e in r.entries:
        c = e.commit
        out.append("")
        out.append(f"{c.sha[:12]} {c.subject}")
        out.extend(f"    {line}" if line else "" for line in c.rationale.splitlines())
        for key in ("Imlgit-Evidence", "Imlgit-Support"):
            if c.trailer(key):
                out.append(f"    {key}: {c.trailer(key)}")
        for rid, hist in e.history.items():
            if hist:
                recent = "; ".join(f"{h.sha[:8]} {h.subject}" for h in hist)
                out.append(f"    history of {rid} on main: {recent}")
        if diff:
            for ch in e.changes:
                out.extend(f"    {line}" for line in ch.unified().splitlines())
    return out


def _md(s: str) -> str:
    """Text safe in a Markdown table cell."""
    return _clip(s).replace("|", "\\|").replace("<", "&lt;")


def markdown(r: Review, *, commits: bool = False, diff: bool = True) -> str:
    """The review as a pull-request comment (GitHub / GitLab flavoured Markdown)."""
    p = r.proposal
    out = [f"### imlgit review: `{p.name}`", ""]
    out.append(f"**{len(p.commits)} commits**; net change: {_counts(r)}; "
               f"{r.stored} experiences stored{_md(_redacted(r))}.")
    if r.files:
        out += ["", f"> **It changes {len(r.files)} file{'s' if len(r.files) != 1 else ''} "
                "outside the rules and the evidence, which only a person approves:**"]
        for path, change in r.files:
            out += ["", f"`{_md(path)}`", "", "```diff", *change.splitlines(), "```"]
    if p.behind:
        out.append("")
        out.append("> main has moved since this proposal was made; approving merges it.")
    meaning = [n for n in r.net if n.kind != "figures"]
    if meaning:
        out += ["", "| rule | change | before | after | evidence |", "|---|---|---|---|---|"]
        for n in meaning:
            b, a = n.before, n.after
            ev = (f"{figures(b)} → {figures(a)}" if b and a and n.kind == "changed"
                  else figures(a) if a is not None and n.kind in ("added", "restored")
                  else figures(b) if b is not None else "")
            out.append(
                f"| `{n.rule_id}` | {n.kind} | {_md(b.statement) if b else ''} | "
                f"{_md(a.statement) if a and n.kind != 'retired' else ''} | {_md(ev)} |"
            )
    only = _figures_only(r, "`{id}` {before} → {after}")
    if only:
        out += ["", f"Figures only (right/decided): {only}"]
    acc = _accuracy(r)
    if acc:
        out += ["", acc[0].upper() + acc[1:] + "."]
    out += ["", f"**Policy** {_md(r.decision.summary())}", ""]
    out += [f"- {'✅' if ck.ok else '❌'} {ck.name}: {_md(ck.detail)}" for ck in r.decision.checks]
    out += ["", "<details><summary>Commits</summary>", ""]
    for e in r.entries:
        c = e.commit
        out.append(f"- `{c.sha[:12]}` {_md(c.subject)}")
        if commits:
            out += [f"  > {line}" if line else "  >" for line in c.rationale.splitlines()]
            if diff and e.changes:
                out.append("")
                out.append("  ```diff")
                out += [f"  {line}" for ch in e.changes for line in ch.unified().splitlines()]
                out.append("  ```")
    out += ["", "</details>", ""]
    return "\n".join(out)
