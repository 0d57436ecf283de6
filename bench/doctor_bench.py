"""`imlgit doctor` at scale: planted duplicates and contradictions, found or not.

    python bench/doctor_bench.py                              # 5,000 rules, MiniLM, no model
    python bench/doctor_bench.py --embedder hash              # hashed words instead of MiniLM
    python bench/doctor_bench.py --rules 1000 --oracle        # a model that knows the truth

A memory of N rules is written in one commit: checkable rules over four scopes
(random conditions on twelve invented yes/no attributes, four classes, no two
with the same conditions) and plain rules in six domains, from six sentence
shapes and a vocabulary per domain, so unrelated rules do not read alike. Then
D duplicates and C contradictions are planted, each on its own original:

- duplicates: exact copies under another id; case and punctuation variants
  (with another title); checkable rules with the same form, their conditions in
  another order, another title and another wording;
- contradictions: checkable rules with the same conditions and another class;
  plain rules with the conclusion changed (the opposite action, or negated).
Unrelated plain rules of one domain differ in at least two of subject,
quality, place, team and action, whatever their sentence shapes.

``diagnose`` (similarity 0.9; 0.75 for statements that differ by a small
edit) runs with the retrieval index (built first, timed apart) and no
chat model, unless ``--oracle``: then a scripted model that knows what was
planted confirms each look-alike pair, as a perfect model would. A planted pair
is found when doctor reports the two rules together in any finding; its kind is
right when a duplicate is reported as ``duplicate`` and a contradiction as
``contradiction`` (or ``possible-contradiction``, the best doctor can say
without a model). Every reported pair that was not planted is a false positive.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from imlgit.commits import CommitMessage, Identity
from imlgit.conditions import Condition
from imlgit.doctor import Report
from imlgit.index import rule_text
from imlgit.llm import JsonAnswer
from imlgit.memory import Memory
from imlgit.rules import Rule, render_rule
from imlgit.statements import render_statement
from imlgit.store import Store

T0 = "2026-11-27T08:00:00Z"
T1 = "2026-11-28T08:00:00Z"
BENCH = Identity("Bench", "bench@example.org")

# ---------------------------------------------------------------------- checkable rules

ATTRIBUTES = (
    "glimmer tansy quillet sorrel wicket halcyon brindle cinder marrow dapple fennick larkspur"
).split()
CLASSES = ["VESPER", "LUMEN", "SOLACE", "TREMOR"]
CHECK_SCOPES = [f"truth-table-{i}" for i in range(4)]

# ---------------------------------------------------------------------- plain rules

DOMAINS: dict[str, dict[str, list[str]]] = {
    "billing": {
        "subj": "invoice refund charge credit note payment dispute subscription "
        "voucher statement deposit".split(),
        "qual": "overdue partial duplicate foreign disputed recurring unsigned "
        "unusual prepaid flagged".split(),
        "place": "Germany Brazil Japan Canada Kenya Norway Chile India Spain Egypt".split(),
        "team": "finance desk, ledger team, credit office, billing lead, audit group, "
        "treasury, collections team, tax unit".split(", "),
    },
    "shipping": {
        "subj": "parcel pallet crate envelope container drum tube sack trunk carton".split(),
        "qual": "fragile heavy oversized chilled damaged insured urgent leaking "
        "hazardous returned".split(),
        "place": "Rotterdam Lagos Osaka Quebec Mombasa Bergen Valparaiso Chennai "
        "Seville Alexandria".split(),
        "team": "dock crew, freight desk, customs broker, warehouse lead, courier "
        "pool, route planner, depot manager, packing line".split(", "),
    },
    "support": {
        "subj": "ticket complaint chat request callback review survey bug report "
        "outage call".split(),
        "qual": "angry repeated vague escalated anonymous multilingual overnight "
        "premium stale abusive".split(),
        "place": "Dublin Manila Austin Krakow Nairobi Lisbon Bogota Pune Cairo Perth".split(),
        "team": "tier two, duty manager, product owner, night shift, quality coach, "
        "help desk, success manager, on-call engineer".split(", "),
    },
    "hiring": {
        "subj": "candidate referral offer contract intern contractor transfer "
        "applicant reference visa".split(),
        "qual": "remote senior junior returning relocating part-time seasonal "
        "internal external shortlisted".split(),
        "place": "Berlin Accra Kyoto Toronto Kampala Oslo Lima Delhi Madrid Tunis".split(),
        "team": "recruiter, hiring manager, people partner, legal counsel, "
        "interview panel, payroll clerk, onboarding buddy, works council".split(", "),
    },
    "security": {
        "subj": "login token certificate badge laptop password key firewall rule "
        "scanner alert vendor account".split(),
        "qual": "expired shared unknown revoked unpatched privileged dormant "
        "suspicious leaked unencrypted".split(),
        "place": "Frankfurt Abuja Sapporo Ottawa Kigali Tromso Santiago Mumbai "
        "Valencia Luxor".split(),
        "team": "SOC analyst, identity team, red team, CISO office, IT helpdesk, "
        "risk board, incident lead, platform owner".split(", "),
    },
    "devops": {
        "subj": "deploy rollback migration backup release hotfix pipeline cluster "
        "cron job snapshot".split(),
        "qual": "failing canary nightly manual blocked untested flaky "
        "cross-region weekend oversized".split(),
        "place": "Ireland Singapore Ohio Sydney Frankfurt Mumbai Virginia Tokyo "
        "Oregon Paris".split(),
        "team": "release captain, SRE pager, platform squad, database admin, "
        "change board, build cop, cloud architect, QA lead".split(", "),
    },
}
# (verb, its opposite): a rule's conclusion, and what contradicts it
ACTIONS = [
    ("approve", "reject"),
    ("escalate", "close"),
    ("hold", "release"),
    ("accept", "return"),
    ("keep", "discard"),
    ("prioritise", "postpone"),
    ("encrypt", "publish"),
    ("pay", "withhold"),
    ("flag", "clear"),
    ("forward", "block"),
]
MODALS = ["must", "should", "will", "may"]
UNITS = ["hours", "days", "weeks"]
SHAPES = [
    "When a {qual} {subj} comes from {place}, the {team} {modal} {action} it within {n} {unit}.",
    "{Qual} {subjs} from {place} {modal} be {done} by the {team} before the next audit.",
    "If the {subj} is {qual} and mentions {place}, the {team} {modal} {action} it and log why.",
    "Every {qual} {subj} that reaches the {team} after {n} {unit} {modal} {action} its {subj2}.",
    "For customers in {place}, the {team} {modal} {action} any {subj} marked {qual}, "
    "whatever its size.",
    "A {subj} that stays {qual} for {n} {unit} means the {team} {modal} {action} "
    "the {subj2} from {place}.",
]


IRREGULAR = {
    "hold": "held",
    "keep": "kept",
    "pay": "paid",
    "withhold": "withheld",
    "flag": "flagged",
}


def past(verb: str) -> str:
    return IRREGULAR.get(verb) or verb + ("d" if verb.endswith("e") else "ed")


def sentence(shape: int, slots: dict[str, Any], *, action: str, negate: bool = False) -> str:
    modal = slots["modal"] + (" not" if negate else "")
    subjs = slots["subj"] + ("es" if slots["subj"].endswith(("s", "x", "ch", "sh")) else "s")
    values = {**slots, "modal": modal, "action": action, "done": past(action), "subjs": subjs}
    return SHAPES[shape].format(**values, Qual=slots["qual"].capitalize())


def title_of(domain: str, slots: dict[str, Any], action: str) -> str:
    return f"{slots['qual'].capitalize()} {slots['subj']} in {domain}, {slots['place']}: {action}"


# ---------------------------------------------------------------------- generation


class Planted:
    def __init__(self) -> None:
        self.pairs: dict[frozenset[str], tuple[str, str]] = {}  # pair -> (planted, how)

    def add(self, a: str, b: str, what: str, how: str) -> None:
        self.pairs[frozenset((a, b))] = (what, how)


def checkable_rule(rid: str, scope: str, conds: Sequence[Condition], then: str, **kw: Any) -> Rule:
    word = kw.pop("word", "class")
    title = kw.pop("title", None) or f"{' '.join(c.field or '' for c in conds)} -> {then}"
    return Rule(
        id=rid,
        title=title[:200],
        statement=render_statement(conds, then, attribute_word=word),
        scope=scope,
        created=kw.pop("created", T0),
        updated=kw.pop("created_u", T0),
        when=tuple(conds),
        then=then,
    )


def generate(n: int, dups: int, contras: int, rng: random.Random) -> tuple[list[Rule], Planted]:
    base = n - dups - contras
    n_check = int(base * 0.4)
    n_plain = base - n_check
    rules: list[Rule] = []
    planted = Planted()

    # checkable originals: no two with the same condition set in a scope
    seen: set[tuple[str, frozenset[Condition]]] = set()
    check: list[Rule] = []
    while len(check) < n_check:
        scope = CHECK_SCOPES[len(check) % len(CHECK_SCOPES)]
        k = rng.randint(1, 4)
        conds = [Condition(a, "=", rng.choice(["yes", "no"])) for a in rng.sample(ATTRIBUTES, k)]
        key = (scope, frozenset(conds))
        if key in seen:
            continue
        seen.add(key)
        rid = f"r-{scope}-{len(check):05d}"
        check.append(checkable_rule(rid, scope, conds, rng.choice(CLASSES)))

    # plain originals: two of one domain differ in 2 of subject, quality, place, team
    # and action at least (whatever their shapes), so unrelated rules do not read alike
    plain: list[tuple[Rule, str, int, dict[str, Any], int]] = []
    buckets: dict[str, list[tuple[Any, ...]]] = {}
    domains = list(DOMAINS)
    while len(plain) < n_plain:
        domain = domains[len(plain) % len(domains)]
        vocab = DOMAINS[domain]
        shape = rng.randrange(len(SHAPES))
        subj, subj2 = rng.sample(vocab["subj"], 2)
        slots = {
            "subj": subj,
            "subj2": subj2,
            "qual": rng.choice(vocab["qual"]),
            "place": rng.choice(vocab["place"]),
            "team": rng.choice(vocab["team"]),
            "modal": rng.choice(MODALS),
            "n": rng.randint(2, 30),
            "unit": rng.choice(UNITS),
        }
        act = rng.randrange(len(ACTIONS))
        core = (slots["subj"], slots["qual"], slots["place"], slots["team"], act)
        bucket = buckets.setdefault(domain, [])
        if any(sum(x != y for x, y in zip(core, other, strict=True)) < 2 for other in bucket):
            continue  # unrelated rules differ in at least 2 of these 5 slots
        bucket.append(core)
        statement = sentence(shape, slots, action=ACTIONS[act][0])
        rid = f"r-{domain}-{len(plain):05d}"
        r = Rule(
            id=rid,
            title=title_of(domain, slots, ACTIONS[act][0]),
            statement=statement,
            scope=domain,
            created=T0,
            updated=T0,
        )
        plain.append((r, domain, shape, slots, act))
    rules = check + [p[0] for p in plain]

    # plant, each on its own original
    check_pool = rng.sample(check, min(len(check), dups // 3 + contras // 2 + 1))
    plain_pool = rng.sample(plain, min(len(plain), dups - dups // 3 + contras + 1))
    for i in range(dups):
        kind = ("exact copy", "case/punctuation", "same checkable form")[i % 3]
        if kind == "same checkable form":
            orig = check_pool.pop()
            conds = list(orig.when or ())
            rng.shuffle(conds)
            if len(conds) > 1 and conds == list(orig.when or ()):
                conds.reverse()
            copy = checkable_rule(
                f"{orig.id}-dup",
                orig.scope,
                conds,
                orig.then or "",
                word=rng.choice(["outcome", "answer", "label"]),
                title=f"Reworded: {orig.title}",
                created=T1,
                created_u=T1,
            )
        else:
            orig = plain_pool.pop()[0]
            statement = orig.statement
            title = orig.title
            if kind == "case/punctuation":
                statement = rng.choice(
                    [
                        lambda s: s.upper(),
                        lambda s: s.lower().rstrip("."),
                        lambda s: s.replace(",", "").rstrip(".") + "!",
                        lambda s: s.replace(" ", "  ").replace(".", " ."),
                        lambda s: '"' + s[0].lower() + s[1:] + '"',
                    ]
                )(statement)
                title = "Same as before: " + title.lower()
            copy = orig.with_changes(
                id=f"{orig.id}-dup", statement=statement, title=title[:200], created=T1, updated=T1
            )
        rules.append(copy)
        planted.add(orig.id, copy.id, "duplicate", kind)
    for i in range(contras):
        if i % 2 == 0:
            orig = check_pool.pop()
            other = rng.choice([c for c in CLASSES if c != orig.then])
            copy = checkable_rule(
                f"{orig.id}-contra", orig.scope, list(orig.when or ()), other, created=T1
            )
            how = "checkable: other class"
        else:
            orig, domain, shape, slots, act = plain_pool.pop()
            negate = i % 4 == 3
            verb, opposite = ACTIONS[act]
            new_action = verb if negate else opposite
            statement = sentence(shape, slots, action=new_action, negate=negate)
            title = title_of(domain, slots, f"not {verb}" if negate else opposite)
            copy = orig.with_changes(
                id=f"{orig.id}-contra", statement=statement, title=title, created=T1, updated=T1
            )
            how = "plain: negated" if negate else "plain: opposite action"
        rules.append(copy)
        planted.add(orig.id, copy.id, "contradiction", how)
    return rules, planted


# ---------------------------------------------------------------------- embedders, oracle


class HashEmbedder:
    """Hashed word counts (as tests/fakes.py), 384-d: instant, lexical only."""

    identity = "hash:384"
    dim = 384

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import hashlib

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"[a-z0-9]+", text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                slot = int.from_bytes(digest[:4], "little") % self.dim
                out[row, slot] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dim)
        return out


class Oracle:
    """A chat model that knows what was planted: what a perfect model would answer."""

    identity = "oracle:planted"

    def __init__(self, rules: Sequence[Rule], planted: Planted) -> None:
        self.by_statement = {r.statement: r.id for r in rules}
        self.planted = planted
        self.calls = 0

    def complete_json(self, messages: Any, schema: Any, *, name: str, **_: Any) -> JsonAnswer:
        self.calls += 1
        shown = re.findall(r"^Rule [AB]:\n(.*)$", messages[-1]["content"], re.M)
        ids = [self.by_statement[json.loads(line)["statement"]] for line in shown]
        what = self.planted.pairs.get(frozenset(ids), ("different", ""))[0]
        relation = {"duplicate": "same", "contradiction": "contradict"}.get(what, "different")
        data = {"relation": relation}
        return JsonAnswer(data, json.dumps(data), 0, 0, 1)

    def complete_text(self, messages: Any) -> str:
        raise NotImplementedError


# ---------------------------------------------------------------------- scoring


def score(report: Report, planted: Planted) -> dict[str, Any]:
    reported: dict[frozenset[str], str] = {}
    for f in report.findings:
        for a, b in itertools.combinations(f.rules, 2):
            reported.setdefault(frozenset((a, b)), f.kind)
    found = right = 0
    by_how: Counter[tuple[str, str, str]] = Counter()
    pairs = {}
    for pair, (what, how) in planted.pairs.items():
        kind = reported.get(pair)
        pairs[pair] = (what, how, kind)
        by_how[(what, how, kind or "missed")] += 1
        if kind is None:
            continue
        found += 1
        if kind == what or (what == "contradiction" and kind == "possible-contradiction"):
            right += 1
    false = [(pair, kind) for pair, kind in reported.items() if pair not in planted.pairs]
    return {"found": found, "right": right, "by_how": by_how, "false": false, "pairs": pairs}


def above(report: Report, threshold: float) -> Report:
    """The report a run at ``threshold`` gives: look-alike findings below it left out,
    but for small edits (found at ``edited_similarity``, whatever the threshold)."""
    kept = [
        f
        for f in report.findings
        if f.similarity is None or f.similarity >= threshold or f.edit is not None
    ]
    return dataclasses.replace(report, findings=kept, similarity=threshold)


def cosine(embedder: Any, a: Rule, b: Rule) -> float:
    """The similarity doctor sees for two rules (their texts as the index embeds them)."""
    v = embedder.embed([rule_text(r.title, r.statement, r.scope, r.tags) for r in (a, b)])
    return float(v[0] @ v[1])


@click.command(help=__doc__.split("\n")[0])
@click.option(
    "--rules",
    "rules_arg",
    type=int,
    default=5000,
    show_default=True,
    help="rules in memory, planted included",
)
@click.option("--duplicates", type=int, default=100, show_default=True)
@click.option("--contradictions", type=int, default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--embedder",
    "embedder_arg",
    type=click.Choice(["real", "hash"]),
    default="real",
    show_default=True,
)
@click.option("--similarity", type=float, default=0.9, show_default=True)
@click.option("--edited-similarity", type=float, default=0.75, show_default=True)
@click.option("--oracle", "oracle_arg", is_flag=True, help="confirm pairs with a perfect model")
@click.option("--show", type=int, default=5, show_default=True, help="false positives to print")
@click.option(
    "--sweep",
    "sweep_arg",
    default="0.80,0.85,0.90,0.95",
    show_default=True,
    help="thresholds to score too (one doctor run at the lowest; a pair's similarity is "
        "reported, so higher thresholds are its findings above them)",
)
def main(
    rules_arg: int,
    duplicates: int,
    contradictions: int,
    seed: int,
    embedder_arg: str,
    similarity: float,
    edited_similarity: float,
    oracle_arg: bool,
    show: int,
    sweep_arg: str,
) -> None:
    rng = random.Random(seed)
    t = time.perf_counter()
    rules, planted = generate(rules_arg, duplicates, contradictions, rng)
    root = Path(tempfile.mkdtemp(prefix="imlgit-doctor-"))
    try:
        store = Store.init(root / "m", author=BENCH, install_hooks=False)
        files: dict[str, bytes | None] = {r.path: render_rule(r).encode("utf-8") for r in rules}
        msg = CommitMessage.make("add", f"add {len(rules)} rules", "Benchmark memory.")
        store.commit(files, msg, author=BENCH, sync_worktree=False)
        made = time.perf_counter() - t
        if embedder_arg == "real":
            from imlgit.embed import SentenceTransformerEmbedder

            embedder: Any = SentenceTransformerEmbedder()
        else:
            embedder = HashEmbedder()
        oracle = Oracle(rules, planted) if oracle_arg else None
        mem = Memory.open(store.path, env={}, embedder=embedder, chat=oracle)
        t = time.perf_counter()
        mem.index()
        built = time.perf_counter() - t
        sweep = sorted({float(x) for x in sweep_arg.split(",") if x.strip()} | {similarity})
        if sweep[0] < edited_similarity:
            raise click.UsageError("the sweep's thresholds must be at least --edited-similarity")
        lowest = mem.diagnose(similarity=sweep[0], edited_similarity=edited_similarity)
        scores = {t: score(above(lowest, t), planted) for t in sweep}
        report = above(lowest, similarity)
        s = scores[similarity]
        missed = [pair for pair, (_, _, kind) in s["pairs"].items() if kind is None]
        by_id = {r.id: r for r in rules}
        s["missed"] = [cosine(embedder, *(by_id[i] for i in sorted(pair))) for pair in missed]
    finally:
        shutil.rmtree(root, ignore_errors=True)

    total = len(planted.pairs)
    checkable = sum(r.checkable for r in rules)
    print(
        f"doctor benchmark: {len(rules):,} rules ({checkable:,} checkable in "
        f"{len(CHECK_SCOPES)} scopes, {len(rules) - checkable:,} plain in {len(DOMAINS)}), "
        f"seed {seed}, embedder {embedder.identity}, similarity >= {similarity} "
        f"(small edits >= {edited_similarity}), "
        f"model: {'oracle (knows what was planted)' if oracle else 'none'}"
    )
    print(f"planted: {duplicates} duplicates, {contradictions} contradictions")
    if len(sweep) > 1:
        print("  similarity  found (recall)  right kind  false positives")
        for t in sweep:
            x = scores[t]
            print(
                f"  >= {t:.2f}   {x['found']:>4} ({x['found'] / len(planted.pairs):6.1%})"
                f"  {x['right']:>10}  {len(x['false']):>15}"
            )
        print(f"at similarity >= {similarity}:")
    print(f"found: {s['found']} of {total} ({s['found'] / total:.1%})")
    print(f"right kind: {s['right']} of {total} ({s['right'] / total:.1%})")
    print("  planted as                            reported as                n")
    for (what, how, kind), count in sorted(s["by_how"].items()):
        print(f"  {what + ': ' + how:<37} {kind:<26} {count:>3}")
    if s["missed"]:
        sims = sorted(s["missed"])
        print(
            f"missed pairs' similarity: min {sims[0]:.3f}, median {sims[len(sims) // 2]:.3f}, "
            f"max {sims[-1]:.3f} (threshold {similarity})"
        )
    kinds = Counter(kind for _, kind in s["false"])
    shown = ", ".join(f"{n} {k}" for k, n in kinds.most_common()) or "none"
    print(f"false positives (reported pairs not planted): {len(s['false'])} ({shown})")
    sims = {frozenset(f.rules): f.similarity for f in report.findings if len(f.rules) == 2}
    for pair, kind in s["false"][: show]:
        a, b = sorted(pair)
        sim = sims.get(pair)
        print(f"  {kind} {'' if sim is None else f'{sim:.3f}'}")
        print(f"    {a}: {by_id[a].statement}")
        print(f"    {b}: {by_id[b].statement}")
    print(
        f"look-alike pairs at >= {sweep[0]}: {report.candidates}"
        + (f", put to the model: {oracle.calls}, dismissed: {report.dismissed}" if oracle else "")
    )
    print(
        f"time: memory written {made:.1f} s, index built {built:.1f} s, "
        f"doctor {report.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
