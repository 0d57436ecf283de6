"""The whole language-model loop for 20 batches, driven by a stand-in for a capable
model (imlgit.bench.standin.CompetentStandIn: not a language model, named as such;
it reads the prompts and answers as a careful, imperfect model would).

The real paths run: ModelLearner's prompts, schemas and retries; the engine's
verification, momentum and refusals; proposals, approval, rejection, rollback; git.
HashEmbedder (tests/fakes.py) stands in for sentence-transformers.

Which refusals the model path can reach, and which it cannot:
- reached here: a rule the evidence refutes (verification), a statement that says
  another thing than its form, a rule already in memory, a rule people rejected, a
  retirement people rejected, a secret or personal data, a MERGE that would lose a
  well-supported rule's evidence;
- not reachable through a model, because ModelLearner's schema and checks refuse
  the answer first and the model is asked again (the retry path, also reached here):
  an unknown operation, an empty rationale, a rule id not shown, evidence not in the
  batch, an EDIT without a target, an ADD without a candidate, 'when' without
  'then'. tests/test_learn.py reaches each of those through a scripted learner.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import PERSON, git_available, run_git
from fakes import HashEmbedder

from imlgit import proposals
from imlgit import review as rv
from imlgit.bench.standin import CompetentStandIn, Mistakes
from imlgit.bench.truthtable import TruthTable
from imlgit.experience import Experience
from imlgit.memory import Memory
from imlgit.store import Store

REFUSALS = {
    "verification": "experiences and gets",
    "statement and form": "does not say what its form says",
    "already in memory": "the same rule is already in memory",
    "rejected rule": "people rejected this rule",
    "rejected retirement": "people rejected retiring",
    "secret": "looks like email",
    "merge under momentum": "merg",  # "merging would lose ..." / "a merge would rewrite ..."
}
OPERATIONS = ("added", "edited", "merged", "retired", "agreed", "damped", "restored")


def environment(seed: int) -> list[Experience]:
    """A hidden decision list the stand-in never sees, 10% of outcomes flipped; one
    in five experiences carries only a reward, some feedback names a person."""
    tt = TruthTable(n_attributes=6, n_classes=3, clauses=3, literals=2, seed=seed)
    rng = random.Random(seed)
    out = []
    for e in tt.sample(400, rng_seed=seed, noise=0.1):
        d = e.to_dict()
        if rng.random() < 0.05:
            d["outcome"]["text"] = "escalated; the owner is dana.lopez@acme-corp.com"
        if rng.random() < 0.2:
            d["outcome"] = {"reward": d["outcome"]["reward"]}
        out.append(Experience.from_dict(d))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="needs the git CLI")
def test_twenty_batches_reach_every_operation_and_refusal(tmp_path: Path) -> None:
    seed = 3  # reaches every operation and refusal (failures now count as contradictions)
    Store.init(tmp_path / "m", author=PERSON)
    # slip 0.2: a statement that contradicts its form in about one candidate in five,
    # so the refusal is reached however the rule ids order the prompts
    chat = CompetentStandIn(seed=seed, mistakes=Mistakes(slip=0.2))
    # privacy "hashes": the feedback reaches the learner as written, so the engine's own
    # scan of what it commits is what refuses the copied address (under the default,
    # "redact", the learner never sees it: tests/test_privacy.py)
    mem = Memory.open(tmp_path / "m", env={}, chat=chat, embedder=HashEmbedder(),
                      flags={("privacy", "experiences"): "hashes"})  # fmt: skip
    exps = environment(seed)
    done = dict.fromkeys(OPERATIONS, 0)
    refused: list[str] = []
    rejected: list[str] = []
    for k in range(10):  # ten learns of two batches: 20 batches
        learned = mem.learn(exps[k * 40 : (k + 1) * 40], learner="model", batch=20)
        for b in learned.batches:
            for kind in OPERATIONS:
                done[kind] += len(getattr(b, kind))
            refused += [str(r) for r in b.refused]
        assert learned.proposal is not None
        shown = rv.review(mem.store, learned.proposal, rv.Gate(), "manual")
        assert shown.entries  # every commit of the proposal is shown
        if k in (2, 5):
            rv.reject(mem.store, learned.proposal, person=PERSON, why="Not convinced by these.")
            rejected.append(learned.proposal)
        else:
            rv.approve(mem.store, learned.proposal, approver=PERSON, why="Checked the figures.")
    assert chat.calls["induce"] == 20 and chat.calls["revise"] == 20
    missing_ops = [kind for kind, n in done.items() if n == 0]
    assert not missing_ops, f"operations never reached: {missing_ops} ({done})"
    missing = [name for name, text in REFUSALS.items() if not any(text in r for r in refused)]
    assert not missing, f"refusals never reached: {missing}"
    assert chat.retried > 0  # answers that broke the schema were shown the error, and fixed
    assert chat.refusals_seen  # refusals were shown back to the model
    assert any(r.split(":", 1)[-1].strip()[:30] in " ".join(chat.refusals_seen) for r in refused)
    store = mem.store
    # The rationales are the model's own words, and git reads every trailer block.
    main_log = store.log("main")
    own_words = [c for c in main_log if c.rationale.startswith(("Reason:", "Note:"))]
    assert own_words
    for c in own_words[:5]:
        body = run_git(store.path, "cat-file", "commit", c.sha).split("\n\n", 1)[1]
        assert "Imlgit-Op:" in run_git(store.path, "interpret-trailers", "--parse", input=body)
    # Roll back the newest learned rule that nothing changed since.
    learned_commit = next(
        c
        for c in main_log
        if c.trailer("Imlgit-Op") == "induce"
        and len(c.parents) == 1
        and store.history(c.message.rules[0], "main")[0].sha == c.sha
    )
    rid = learned_commit.message.rules[0]
    store.revert(learned_commit.sha, "This rule was learned from noise.", author=PERSON)
    assert rid not in store.rule_entries("main")
    records = proposals.rejected_rules(store)
    assert len(rejected) == 2 and records  # both rejections recorded, with their reason
    assert {r.proposal for r in records} == set(rejected)
    assert {r.why for r in records} == {"Not convinced by these."}
    run_git(store.path, "fsck", "--strict")
