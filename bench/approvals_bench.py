"""What the one guard of main costs as history grows.

    python bench/approvals_bench.py                 # 100,000 commits on main
    python bench/approvals_bench.py --commits 10000

Builds a main of N commits (written straight into packs with dulwich): people's
edits, and every tenth an approval merge bringing one commit of the learner's.
Then times what walks it: ``imlgit doctor``'s ``unapproved`` check
(``Store.unapproved_history``: the whole history the first time, then only what
came after the last head it found clean), and the guard every write of main
passes (``Store.uncovered`` of one move bringing a learner commit). With ``--signed`` the
memory requires signed approvals, so the walk also checks whether each commit
changes the configuration (none is signed here, so the numbers time the walk and
the check, not ssh-keygen).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import click
from dulwich.objects import Blob, Commit, Tree
from dulwich.refs import Ref

from imlgit.commits import LEARNER, CommitMessage, Identity
from imlgit.store import Store

PERSON = Identity("Bench Person", "person@bench.example")


def _tree(toml: bytes, rule: bytes, out: list) -> bytes:
    """The tree of imlgit.toml and rules/aa/r-a.md; its objects go to ``out``."""
    blob_toml, blob_rule = Blob.from_string(toml), Blob.from_string(rule)
    aa, rules, root = Tree(), Tree(), Tree()
    aa.add(b"r-a.md", 0o100644, blob_rule.id)
    rules.add(b"aa", 0o040000, aa.id)
    root.add(b"imlgit.toml", 0o100644, blob_toml.id)
    root.add(b"rules", 0o040000, rules.id)
    out.extend([blob_toml, blob_rule, aa, rules, root])
    return root.id


def build(path: Path, n: int, signed: bool) -> tuple[Store, str]:
    store = Store.init(path, author=PERSON)
    toml = (store.read_file("imlgit.toml") or b"").decode()
    if signed:
        toml = toml.replace("[review]\n", "[review]\nrequire_signed_approvals = true\n", 1)
    objs: list = []
    trees = [_tree(toml.encode(), f"---\nid: r-a\n---\nRule {v}.\n".encode(), objs)
             for v in range(3)]  # fmt: skip
    head = store.head()
    assert head is not None
    msg_edit = CommitMessage.make("edit", "an edit", "A person's edit.").render().encode()
    msg_learn = CommitMessage.make("revise", "learned", "The learner's.").render().encode()
    msg_ok = CommitMessage.make("approve", "proposal p", "Approved.",
                                trailers=[("Imlgit-Proposal", "p")]).render().encode()  # fmt: skip
    t = 1_700_000_000

    def commit(tree: bytes, parents: list[bytes], who: Identity, msg: bytes) -> bytes:
        nonlocal t
        t += 1
        c = Commit()
        c.tree, c.parents, c.message = tree, parents, msg
        c.author = c.committer = who.to_bytes()
        c.author_time = c.commit_time = t
        c.author_timezone = c.commit_timezone = 0
        objs.append(c)
        return c.id

    tip = head.encode()
    made = 0
    while made < n:
        if made % 10 == 9:
            side = commit(trees[2], [tip], LEARNER, msg_learn)
            tip = commit(trees[2], [tip, side], PERSON, msg_ok)
            made += 2
        else:
            tip = commit(trees[made % 2], [tip], PERSON, msg_edit)
            made += 1
        if len(objs) >= 20_000:
            store.repo.object_store.add_objects([(o, None) for o in objs])
            objs.clear()
    store.repo.object_store.add_objects([(o, None) for o in objs])
    store.repo.refs[Ref(b"refs/heads/main")] = tip  # as a plain git push would
    return store, tip.decode()


@click.command(help=__doc__.split("\n")[0])
@click.option("--commits", type=int, default=100_000, show_default=True)
@click.option("--signed", is_flag=True)
def main(commits: int, signed: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="imlgit-approvals-bench-"))
    try:
        t0 = time.perf_counter()
        built, head = build(tmp / "mem", commits, signed)
        built.close()
        print(f"built {commits:,} commits on main in {time.perf_counter() - t0:.1f} s")
        store = Store.open(tmp / "mem")
        t0 = time.perf_counter()
        found = store.guard.unapproved_history(head)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.guard.unapproved_history(head)
        warm = time.perf_counter() - t0
        again = ("once main was found clean" if not found
                 else "again (findings are never remembered)")  # fmt: skip
        print(f"doctor's unapproved check of the whole history: {cold:.2f} s the first time "
              f"({len(found)} found), {warm * 1000:.1f} ms {again}")  # fmt: skip
        # a move of main bringing one learner commit: the guard walks only what it brings
        store.create_branch("proposals/q", head)
        learned = store.commit({"rules/aa/r-a.md": b"---\nid: r-a\n---\nRule q.\n"},
                               CommitMessage.make("revise", "learned", "The learner's."),
                               author=LEARNER, branch="proposals/q")  # fmt: skip
        assert learned is not None  # a new file: a commit is made
        t0 = time.perf_counter()
        found_move = store.guard.uncovered(learned, head)
        guard = time.perf_counter() - t0
        print(f"the guard of one move of main (one learner commit): {guard * 1000:.1f} ms "
              f"({len(found_move)} uncovered, as it must be)")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
