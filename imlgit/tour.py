"""The main job of ``make demo``: a tour of a memory, run through the real CLI.

Each step prints the command, then what it printed. The memory is left in
``./imlgit-tour`` (or the directory given) for you to explore with git.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

RULE = "r-heavy-overseas-parcels-ship-by-sea"


def _run(args: list[str], *, cwd: Path, show: str | None = None) -> str:
    print(f"\n$ {show or ' '.join(args)}", flush=True)
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    out = res.stdout + res.stderr
    print(out.rstrip("\n"), flush=True)
    if res.returncode != 0:
        raise SystemExit(f"tour step failed (exit {res.returncode}): {' '.join(args)}")
    return res.stdout


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0] if argv else "imlgit-tour").resolve()
    marker = target / ".git" / "imlgit-tour"
    if target.exists():
        if not marker.exists():
            raise SystemExit(f"{target} exists and was not made by the tour; give another path")
        shutil.rmtree(target)
    cwd = target.parent
    imlgit = [sys.executable, "-m", "imlgit"]
    env_author = os.environ.get("IMLGIT_AUTHOR")
    if not env_author:
        os.environ["IMLGIT_AUTHOR"] = "Tour Reviewer <reviewer@example.org>"

    def cli(*args: str, repo: bool = True) -> str:
        full = imlgit + (["--repo", str(target)] if repo else []) + list(args)
        shown = "imlgit " + " ".join(a if " " not in a else repr(a) for a in args)
        return _run(full, cwd=cwd, show=shown)

    print("imlgit tour: a memory is a git repository; every change is a commit with its reason.")
    cli("init", str(target), repo=False)
    marker.write_text("made by imlgit.tour\n")
    cli(
        "rule",
        "add",
        "--id",
        RULE,
        "--title",
        "Heavy overseas parcels ship by sea",
        "--statement",
        "A parcel over 20 kg to an overseas address ships by sea.",
        "--scope",
        "shipping",
        "--source",
        "ship-0007",
        "--source",
        "ship-0012",
        "--why",
        "In 12 of 13 shipments over 20 kg abroad, sea freight was chosen and on time.",
    )
    bad = cli(
        "rule",
        "edit",
        RULE,
        "--statement",
        "Every overseas parcel ships by air.",
        "--why",
        "Batch 3 had two urgent parcels that went by air.",
    ).strip()
    cli("log", "--full")
    cli("history", RULE)
    cli(
        "rollback",
        bad,
        "--why",
        "Two urgent parcels do not outweigh twelve that went by sea; the edit over-generalised.",
    )
    cli("rule", "show", RULE)
    cli("diff", "HEAD~1", "HEAD")
    cli("check")
    if shutil.which("git"):
        _run(
            ["git", "log", "--format=%h %s", "--", f"rules/*/{RULE}.md"],
            cwd=target,
            show=f"git log --format='%h %s' -- 'rules/*/{RULE}.md'",
        )
    print(f"\nThe memory is in {target}: try 'git log', 'imlgit --repo {target} rule list'.")


if __name__ == "__main__":
    main()
