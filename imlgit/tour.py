"""The main job of ``make demo``: learning on the embedded defaults, through the real CLI.

Offline, with no model endpoint configured: experiences from the paper's kind of
task (a truth table whose hidden rules no model knows) are learned batch by batch
by the learner that needs no model; held-out accuracy is measured after each
batch; a bad revision is made and rolled back; a question is answered by checked
rules and one by the embedded language model. Each step prints the command and
what it printed. Everything is left in ``./imlgit-tour`` (or the directory given).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _run(
    args: list[str], *, cwd: Path, show: str, quiet: bool = False, lines: int | None = None
) -> str:
    if not quiet:
        print(f"\n$ {show}", flush=True)
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if not quiet:
        out = (res.stdout + res.stderr).rstrip("\n").split("\n")
        if lines is not None and len(out) > lines:
            out = out[:lines] + [f"... ({len(out) - lines} more lines)"]
        if out != [""]:
            print("\n".join(out), flush=True)
    if res.returncode != 0:
        if quiet:
            print(res.stdout + res.stderr, flush=True)
        raise SystemExit(f"tour step failed (exit {res.returncode}): {show}")
    return res.stdout


def main(argv: list[str] | None = None) -> None:
    from .bench.truthtable import TruthTable
    from .rules import parse_rule, render_rule
    from .statements import render_statement

    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "imlgit-tour").resolve()
    if root.exists():
        if not (root / ".imlgit-tour").exists():
            raise SystemExit(f"{root} exists and was not made by the tour; give another path")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / ".imlgit-tour").write_text("made by imlgit.tour\n")
    mem = root / "memory"
    os.environ.setdefault("IMLGIT_AUTHOR", "Tour Reviewer <reviewer@example.org>")
    base = [sys.executable, "-m", "imlgit"]

    def cli(*args: str, quiet: bool = False, lines: int | None = None) -> str:
        shown = "imlgit " + " ".join(a if " " not in a and "{" not in a else f"'{a}'"
                                     for a in args)
        return _run(base + ["--repo", str(mem), *args], cwd=root, show=shown, quiet=quiet,
                    lines=lines)

    print("imlgit tour: an agent learns rules from its experiences, and every change is a "
          "git commit with its reason.")
    _run(base + ["init", str(mem)], cwd=root, show="imlgit init memory")

    env = TruthTable(seed=0)
    train = env.sample(200, 1, noise=0.0)
    test = env.sample(500, 2)
    (root / "train.jsonl").write_text("".join(e.to_json() + "\n" for e in train))
    (root / "test.jsonl").write_text("".join(e.to_json() + "\n" for e in test))
    print("\nThe environment: 10 yes/no attributes with invented names, 4 invented classes, a "
          "hidden decision list of 3 clauses.\nThe agent answered at random; the environment "
          "said what was expected. No person labelled anything.\n200 experiences to learn "
          "from (train.jsonl), 500 held out (test.jsonl). One of them:")
    print("  " + (root / "train.jsonl").read_text().split("\n")[0])

    print("\nThe learner commits to a proposal branch; main changes only when a person "
          "approves (policy = \"manual\", the default).")
    print("\n$ imlgit learn train.jsonl --batch 20 --propose truth-table-1")
    out = cli("learn", "train.jsonl", "--batch", "20", "--propose", "truth-table-1", "--json",
              quiet=True)
    batches = json.loads(out)["batches"]
    kinds = ("added", "edited", "merged", "retired", "agreed", "damped", "refused")
    for b in batches:
        done = ", ".join(f"{len(b[k])} {k}" for k in kinds if b[k]) or "no change"
        print(f"  {b['batch']}: {done}")
    cli("proposals")
    cli("review", "truth-table-1", lines=40)
    cli("approve", "truth-table-1", "--why",
        "Each rule is checked against the evidence it cites; accuracy rose batch by batch.")
    print("\nHeld-out accuracy after each batch (imlgit eval test.jsonl --at <batch head>):")
    seen = 0
    for b in batches:
        seen += b["size"]
        acc = cli("eval", "test.jsonl", "--at", b["head"], quiet=True).strip().split("\n")[0]
        print(f"  after {seen:>3} experiences: {acc}")

    cli("rule", "list")
    rules = json.loads(cli("rule", "list", "--json", quiet=True))
    learned = [r for r in rules if r["scope"] == "truth-table"]
    best = max(learned, key=lambda r: (len(r.get("when") or {}), r["support"]))
    cli("rule", "show", best["id"])
    cli("history", best["id"])

    cli("ask", json.dumps(test[0].input, separators=(",", ":")), "--scope", "truth-table",
        "--no-model")
    print(f"(the environment says: {test[0].label})")

    print("\nA bad revision: someone flips the conclusion of a well-supported rule.")
    rule = parse_rule(cli("rule", "show", best["id"], quiet=True))
    wrong = next(c for c in ("LUMEN", "VESPER", "ORRIN", "SABLE", "TAMSIN", "QUILL")
                 if c != rule.then)
    other = [c for c in {r.get("then") for r in learned} if c and c != rule.then]
    wrong = other[0] if other else wrong
    bad = rule.with_changes(then=wrong, statement=render_statement(rule.when or (), wrong))
    (root / "bad.md").write_text(render_rule(bad))
    cli("rule", "edit", best["id"], "--file", "bad.md", "--why",
        "Hand edit: I think this class is wrong.")
    cli("eval", "test.jsonl")
    cli("rollback", "HEAD", "--why",
        "The edit contradicts the evidence the rule was counted on; accuracy fell. Undo it.")
    cli("eval", "test.jsonl")

    cli("recall", "glimmer", "-k", "3")
    print("\nThe embedded language model (SmolLM2-135M on llama.cpp, started on 127.0.0.1) "
          "answers what no checkable rule can. It is weak; see the README for a real endpoint.")
    cli("ask", "Which class do the rules give when every attribute is no?", "--scope",
        "truth-table")

    print("\nThe language-model learner, on the same embedded model, from text experiences. "
          "Its proposals go through the same verification: what contradicts the evidence is "
          "refused, and the refusal is shown to it on the next batch.")
    shipping = [
        {"id": f"ship-{i}", "scope": "shipping",
         "input": f"a {'heavy' if i % 2 == 0 else 'light'} parcel to an overseas address",
         "output": "sea" if i % 2 == 0 else "air",
         "outcome": {"reward": 1.0, "text": "arrived on time"}}
        for i in range(4)
    ]
    (root / "shipping.jsonl").write_text("".join(json.dumps(e) + "\n" for e in shipping))
    cli("learn", "shipping.jsonl", "--learner", "model", "--propose", "shipping-1")
    if "shipping-1" in cli("proposals", quiet=True):
        cli("review", "shipping-1", "--no-diff", lines=20)
        cli("reject", "shipping-1", "--why",
            "A 135M model's rules are not worth keeping; later learning is shown this.")
    cli("review", "stats")
    cli("log", "-n", "4")
    cli("ask", "How does a heavy parcel abroad ship?", "--scope", "shipping")
    if shutil.which("git"):
        _run(["git", "log", "--format=%h %s", "-n", "8"], cwd=mem,
             show="git log --format='%h %s' -n 8")
    print(f"\nThe memory is in {mem}: try 'git log', 'imlgit --repo {mem} rule list'.")


if __name__ == "__main__":
    main()
