"""Rule files parsed with libyaml's loader (what imlgit uses) beside PyYAML's
pure-Python loader, the same bounds and constructors on both.

    python bench/rules_bench.py            # ~10 s

Prints microseconds per ``parse_rule`` of a typical checkable rule and of a rule
with a long evidence list, for each loader, and the ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import yaml

from imlgit import frontmatter
from imlgit.conditions import parse_when
from imlgit.rules import Rule, parse_rule, render_rule
from imlgit.statements import render_statement

T = "2026-11-27T08:00:00Z"


def texts() -> dict[str, str]:
    when = parse_when({"a1": "yes", "a2": "no", "a3": "yes"})
    plain = Rule(id="r-bench-000001", title="rule 1", statement=render_statement(when, "K"),
                 scope="tt", support=5, created=T, updated=T, when=when, then="K")  # fmt: skip
    sourced = plain.with_changes(sources=tuple(f"e-{i:06d}" for i in range(200)))
    return {"a checkable rule": render_rule(plain), "200 sources": render_rule(sourced)}


def per_parse_us(text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(runs):
            parse_rule(text)
        best = min(best, (time.perf_counter() - t0) / runs * 1e6)
    return best


def with_loader(base: type, fn: Callable[[], float]) -> float:
    """``fn`` run with the front-matter loader built on ``base``."""
    saved = frontmatter._BaseLoader, frontmatter._FrontMatterLoader
    body = {k: v for k, v in vars(saved[1]).items() if k not in ("__dict__", "__weakref__")}
    frontmatter._BaseLoader = base
    frontmatter._FrontMatterLoader = type("_FrontMatterLoader", (base,), body)  # type: ignore[misc]
    try:
        return fn()
    finally:
        frontmatter._BaseLoader, frontmatter._FrontMatterLoader = saved


def main() -> None:
    if not getattr(yaml, "__with_libyaml__", False):
        print("PyYAML here was built without libyaml: imlgit uses the pure-Python loader")
        return
    for name, text in texts().items():
        runs = 2000 if len(text) < 2000 else 300
        c = with_loader(yaml.CSafeLoader, lambda t=text, n=runs: per_parse_us(t, n))
        py = with_loader(yaml.SafeLoader, lambda t=text, n=runs: per_parse_us(t, n))
        print(f"{name:>18}: libyaml {c:7.0f} us   pure Python {py:7.0f} us   {py / c:4.1f}x")


if __name__ == "__main__":
    main()
