"""imlgit.doctor: duplicates, contradictions, look-alikes, invalid files, a stale index,
forgotten proposals; and duplicate_of, the test a write is refused by.

HashEmbedder (hashed words) makes texts that share most of their words close, so
the index pass is exercised for real; FakeChat scripts the model's verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PERSON, Clock
from fakes import FakeChat, HashEmbedder

from imlgit.commits import LEARNER, CommitMessage
from imlgit.conditions import parse_when
from imlgit.doctor import KINDS, Finding, Report, confirm_same, diagnose
from imlgit.errors import ConfigError, LLMError
from imlgit.identity import active_rules, duplicate_of, normalize_statement, small_edit
from imlgit.index import rule_text
from imlgit.memory import Memory
from imlgit.proposals import start_proposal
from imlgit.rules import Rule, render_rule
from imlgit.statements import render_statement
from imlgit.store import Store

T = "2026-11-18T08:00:00Z"
SEA = (
    "A heavy parcel over twenty kilograms going to an overseas address always ships by "
    "sea freight with the northern carrier."
)
AIR = SEA.replace("sea freight", "air freight")  # looks alike, says something else
NOT_SEA = SEA.replace("always ships", "never ships")
REFUND = "A refund for a damaged item is paid only when the customer sends the receipt."


def rule(
    rid: str,
    statement: str,
    *,
    scope: str = "shipping",
    title: str | None = None,
    when: Any = None,
    then: str | None = None,
    status: str = "active",
    support: int = 0,
) -> Rule:
    return Rule(
        id=rid,
        title=title or f"Rule {rid}",
        statement=statement,
        scope=scope,
        status=status,
        support=support,
        created=T,
        updated=T,
        when=parse_when(when) if when is not None else None,
        then=then,
    )


def checkable(
    rid: str, when: dict[str, str], then: str, *, scope: str = "tt", title: str | None = None
) -> Rule:
    conds = parse_when(when)
    return Rule(
        id=rid,
        title=title or f"{then} rule {rid}",
        statement=render_statement(conds, then),
        scope=scope,
        created=T,
        updated=T,
        when=conds,
        then=then,
    )


def add(
    store: Store, *rules: Rule, raw: dict[str, bytes] | None = None, branch: str = "main"
) -> str:
    changes: dict[str, bytes | None] = {r.path: render_rule(r).encode("utf-8") for r in rules}
    changes.update(raw or {})
    msg = CommitMessage.make("add", "add rules", "Test rules.", rules=[r.id for r in rules])
    return store.commit(changes, msg, author=PERSON, branch=branch)


def open_memory(path: Path, chat: FakeChat | None = None) -> Memory:
    return Memory.open(path, env={}, chat=chat, embedder=HashEmbedder())


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    return Store.init(tmp_path / "m", author=PERSON, clock=clock, install_hooks=False)


def kinds(report: Report) -> list[str]:
    return [f.kind for f in report.findings]


def similarity(a: Rule, b: Rule) -> float:
    vectors = HashEmbedder().embed([rule_text(r.title, r.statement, r.scope) for r in (a, b)])
    return float(vectors[0] @ vectors[1])


# ---------------------------------------------------------------------- write time


def test_normalize_statement_ignores_case_spacing_and_punctuation() -> None:
    a = normalize_statement("Heavy parcels,  abroad, ship by \u201csea\u201d.")
    assert (
        a
        == normalize_statement("heavy parcels abroad ship by 'SEA'")
        == ("heavy parcels abroad ship by sea")
    )
    # what changes a rule's meaning stays
    assert normalize_statement("age >= 18") != normalize_statement("age <= 18")
    assert normalize_statement("plan != free") != normalize_statement("plan = free")
    assert normalize_statement("costs 3.5 euros") != normalize_statement("costs 35 euros")
    assert normalize_statement("Don't ship it.") == "don't ship it"
    assert normalize_statement("Ship it -- now!") == "ship it now"


def test_duplicate_of() -> None:
    base = rule("r-sea", SEA, title="Heavy parcels go by sea")
    variant = rule("r-sea-2", SEA.upper().replace(",", "").rstrip(".") + " !")
    rules = {"r-sea": base}
    assert duplicate_of(variant, rules) == "r-sea"
    assert duplicate_of(variant, [base]) == "r-sea"
    assert duplicate_of(base, rules) is None  # itself (an edit) is not a duplicate
    assert duplicate_of(rule("r-x", SEA, scope="other"), rules) is None
    assert duplicate_of(rule("r-x", AIR), rules) is None
    assert duplicate_of(rule("r-x", SEA, status="retired"), rules) is None
    retired = {"r-sea": base.with_changes(status="retired")}
    assert duplicate_of(variant, retired) is None
    # the same checkable form, conditions in another order, another statement and title
    one = checkable("r-a", {"glimmer": "yes", "tansy": "no"}, "VESPER")
    two = checkable("r-b", {"tansy": "no", "glimmer": "yes"}, "VESPER", title="Reworded")
    assert one.statement != two.statement
    assert duplicate_of(two, [one]) == "r-a"
    assert duplicate_of(checkable("r-c", {"glimmer": "yes", "tansy": "no"}, "LUMEN"), [one]) is None


def test_active_rules_for_a_write_skip_broken_files_and_other_scopes(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA),
        rule("r-old", REFUND, status="retired"),
        rule("r-hr", REFUND, scope="hr"),
        raw={"rules/00/r-broken.md": b"---\nid: r-broken\n"},
    )
    assert sorted(active_rules(store)) == ["r-example-rationale", "r-hr", "r-sea"]
    assert sorted(active_rules(store, scope="shipping")) == ["r-sea"]
    assert active_rules(store, scope="nowhere") == {}
    # what imlgit rule add does with it
    new = rule("r-sea-again", SEA.lower())
    assert duplicate_of(new, active_rules(store, scope=new.scope)) == "r-sea"


# ---------------------------------------------------------------------- certain findings


def test_a_clean_memory_is_ok(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA),
        rule("r-refund", REFUND),
        checkable("r-a", {"glimmer": "yes"}, "VESPER"),
    )
    report = open_memory(store.path).diagnose()
    assert report.ok, report.summary()
    assert report.files == 4 and report.active == 4 and report.checkable == 1
    assert report.index == "not built"  # never built before: not a finding
    assert "ok: nothing found" in report.summary()


def test_invalid_files_are_reported_and_the_rest_is_still_checked(store: Store) -> None:
    moved = rule("r-moved", REFUND)
    add(
        store,
        rule("r-sea", SEA, title="Heavy parcels"),
        rule("r-sea-copy", SEA, title="Heavy parcels"),
        rule("r-air", AIR, title="Heavy parcels"),
        raw={
            "rules/00/r-broken.md": b"---\nid: r-broken\ntitle: [unclosed\n---\nBody.\n",
            "rules/00/r-moved.md": render_rule(moved).encode(),  # a folder a person chose
            "rules/00/notes.txt": b"not a rule",
        },
    )
    report = open_memory(store.path).diagnose()
    invalid = report.of_kind("invalid-file")
    assert {f.path for f in invalid} == {"rules/00/r-broken.md", "rules/00/notes.txt"}
    broken = next(f for f in invalid if f.path == "rules/00/r-broken.md")
    assert broken.rules == ("r-broken",) and "malformed front matter" in broken.detail
    assert [f.rules for f in report.of_kind("duplicate")] == [("r-sea", "r-sea-copy")]
    # an invalid file no longer stops the index (issue 14): it is left out of it
    assert report.index_note is None
    # r-air is near the duplicate pair (either of the two may stand for it)
    assert [f.rules[0] for f in report.of_kind("near-duplicate")] == ["r-air"]
    # the same problems Store.check reports
    assert sorted(str(p) for p in store.check()) == sorted(f.detail for f in invalid)


def test_exact_and_normalized_duplicates_are_one_finding_a_group(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA, support=3),
        rule("r-sea-copy", SEA),
        rule("r-sea-shout", SEA.upper().replace(",", "").rstrip(".")),
        rule("r-sea-elsewhere", SEA, scope="other"),  # another scope: not a duplicate
        rule("r-sea-retired", SEA, status="retired"),  # retired: not in use
    )
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["duplicate"]
    (dup,) = report.findings
    assert dup.rules == ("r-sea", "r-sea-copy", "r-sea-shout")
    assert "same statement (ignoring case, spacing and punctuation)" in dup.detail
    assert "keep r-sea (support 3)" in dup.detail


def test_same_checkable_form_is_a_duplicate(store: Store) -> None:
    add(
        store,
        checkable("r-a", {"glimmer": "yes", "tansy": "no"}, "VESPER"),
        checkable("r-b", {"tansy": "no", "glimmer": "yes"}, "VESPER", title="Reworded title"),
    )
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["duplicate"]
    assert report.findings[0].rules == ("r-a", "r-b")
    assert "same checkable form (when glimmer = yes, tansy = no: VESPER)" in (
        report.findings[0].detail
    )


def test_same_conditions_other_conclusion_is_a_contradiction(store: Store) -> None:
    add(
        store,
        checkable("r-a", {"glimmer": "yes", "tansy": "no"}, "VESPER"),
        checkable("r-b", {"tansy": "no", "glimmer": "yes"}, "LUMEN"),
    )
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["contradiction"]
    (c,) = report.findings
    assert c.rules == ("r-a", "r-b")
    assert "LUMEN (r-b); VESPER (r-a)" in c.detail


def test_decision_list_exceptions_and_other_values_are_not_contradictions(store: Store) -> None:
    add(
        store,
        checkable("r-general", {"glimmer": "yes"}, "VESPER"),
        checkable("r-exception", {"glimmer": "yes", "tansy": "no"}, "LUMEN"),  # a subset
        checkable("r-other-value", {"glimmer": "no"}, "LUMEN"),  # other inputs
        checkable("r-default", {}, "LUMEN"),  # the rule of last resort
        checkable("r-elsewhere", {"glimmer": "yes"}, "LUMEN", scope="tt2"),  # another scope
    )
    report = open_memory(store.path).diagnose()
    assert report.ok, report.summary()


# ---------------------------------------------------------------------- look-alikes


@pytest.fixture
def look_alikes(store: Store) -> Store:
    a, b = rule("r-sea", SEA, title="Heavy parcels"), rule("r-air", AIR, title="Heavy parcels")
    assert similarity(a, b) > 0.95  # the precondition of these tests
    assert similarity(a, rule("r-refund", REFUND, title="Refunds")) < 0.5
    add(store, a, b, rule("r-refund", REFUND, title="Refunds"))
    return store


def test_without_a_model_a_look_alike_pair_is_an_unconfirmed_near_duplicate(
    look_alikes: Store,
) -> None:
    report = open_memory(look_alikes.path).diagnose()
    assert kinds(report) == ["near-duplicate"]
    (f,) = report.findings
    assert f.rules == ("r-air", "r-sea")
    assert f.similarity is not None and f.similarity > 0.95
    assert f.detail.startswith(f"unconfirmed: similarity {f.similarity:.3f}")
    assert "no model configured" in f.detail
    assert report.candidates == 1 and report.model is None
    assert f.edit == '"air" -> "sea"' and 'edit "air" -> "sea"' in f.detail
    # above the pair's similarity, nothing
    mem = open_memory(look_alikes.path)
    assert mem.diagnose(similarity=0.99, edited_similarity=0.99).ok


def test_small_edit() -> None:
    assert small_edit("Late invoices are approved.", "late invoices are REJECTED") == (
        '"approved" -> "rejected"'
    )
    assert small_edit(SEA, NOT_SEA) == '"always" -> "never"'
    assert small_edit("Ship it by sea.", "Ship it by sea!") is None  # no edit: the same
    assert small_edit("Ship by sea.", "Ship by air.") is None  # a third of the words
    assert small_edit(SEA, SEA.replace("heavy parcel", "light box")) == (
        '"heavy parcel" -> "light box"'
    )
    assert small_edit(SEA, AIR.replace("northern", "southern")) is None  # two places
    assert small_edit(SEA, SEA.replace("heavy parcel over", "box of")) is None  # three words


def test_a_small_edit_is_a_look_alike_below_the_similarity(store: Store) -> None:
    """One changed word turns a rule into its contradiction: caught at a lower similarity."""
    approve = rule(
        "r-approve", "Late invoices from new customers are approved by the finance desk."
    )
    reject = rule("r-reject", "Late invoices from new customers are rejected by the finance desk.")
    other = rule("r-other", "Late invoices from old suppliers are paid by the finance desk.")
    sims = similarity(approve, reject), similarity(approve, other)
    assert 0.75 <= sims[0] < 0.9 and 0.75 <= sims[1] < 0.9, sims
    add(store, approve, reject, other)
    report = open_memory(store.path).diagnose()
    assert [(f.kind, f.rules) for f in report.findings] == [
        ("near-duplicate", ("r-approve", "r-reject"))
    ]
    assert report.findings[0].edit == '"approved" -> "rejected"'
    assert open_memory(store.path).diagnose(edited_similarity=0.9).ok


def test_without_a_model_a_negated_look_alike_is_a_possible_contradiction(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA, title="Heavy parcels"),
        rule("r-not-sea", NOT_SEA, title="Heavy parcels"),
    )
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["possible-contradiction"]
    assert report.findings[0].detail.startswith("unconfirmed: similarity")


@pytest.mark.parametrize(
    ("relation", "expected"),
    [("same", ["near-duplicate"]), ("contradict", ["contradiction"]), ("different", [])],
)
def test_the_model_confirms_or_dismisses_a_pair(
    look_alikes: Store, relation: str, expected: list[str]
) -> None:
    chat = FakeChat({"relation": relation})
    report = open_memory(look_alikes.path, chat).diagnose()
    assert kinds(report) == expected
    assert report.model == "fake:scripted"
    assert report.dismissed == (1 if relation == "different" else 0)
    (call,) = chat.calls
    assert call.name == "same_rule"
    prompt = call.messages[0]["content"]
    assert "sea freight" in prompt and "air freight" in prompt and '"relation"' in prompt
    if expected:
        assert "the model (fake:scripted) says" in report.findings[0].detail
        assert report.findings[0].rules == ("r-air", "r-sea")


def test_a_near_miss_the_model_calls_different_passes(store: Store) -> None:
    """Rules that only look alike: a threshold alone would have merged them."""
    north = rule("r-north", SEA, title="Heavy parcels")
    south = rule("r-south", SEA.replace("northern", "southern"), title="Heavy parcels")
    assert similarity(north, south) > 0.9
    add(store, north, south)
    chat = FakeChat({"relation": "different"})
    report = open_memory(store.path, chat).diagnose()
    assert report.ok and report.candidates == 1 and report.dismissed == 1
    assert "1 dismissed as different rules" in report.summary()


def test_no_confirm_keeps_the_model_out(look_alikes: Store) -> None:
    chat = FakeChat()
    report = open_memory(look_alikes.path, chat).diagnose(confirm=False)
    assert kinds(report) == ["near-duplicate"] and not chat.calls
    assert "unconfirmed" in report.findings[0].detail
    assert "(not put to the model (confirm is off))" in report.findings[0].detail


def test_a_failing_model_leaves_pairs_unconfirmed(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA, title="Heavy parcels"),
        rule("r-air", AIR, title="Heavy parcels"),
        rule("r-sea-b", SEA.replace("northern", "eastern"), title="Heavy parcels b"),
    )
    chat = FakeChat(LLMError("HTTP 500"))
    report = open_memory(store.path, chat).diagnose()
    assert set(kinds(report)) == {"near-duplicate"} and len(report.findings) >= 2
    assert len(chat.calls) == 1  # the endpoint failed: asked no more
    assert all("the model failed: HTTP 500" in f.detail for f in report.findings)


def test_an_answer_that_never_validates_leaves_the_pair_unconfirmed(look_alikes: Store) -> None:
    chat = FakeChat({"relation": "maybe"}, "no json", {"verdict": "same"}, retries=2)
    report = open_memory(look_alikes.path, chat).diagnose()
    assert kinds(report) == ["near-duplicate"]
    assert "did not validate" in report.findings[0].detail


def test_confirm_same_shows_the_checkable_form() -> None:
    chat = FakeChat({"relation": "same"})
    a = checkable("r-a", {"glimmer": "yes"}, "VESPER")
    b = rule("r-b", "Glimmer yes means VESPER.", scope="tt")
    assert confirm_same(chat, a, b) == "same"
    prompt = chat.calls[0].messages[0]["content"]
    assert '"when": {"glimmer": "yes"}' in prompt and '(scope "tt")' in prompt
    assert "<!--" not in prompt


def test_duplicates_are_not_reported_again_as_look_alikes(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA),
        rule("r-sea-copy", SEA.replace("kilograms", "kilograms,")),
        rule("r-sea-3", SEA.lower()),
    )
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["duplicate"] and report.candidates == 0


# ---------------------------------------------------------------------- index, proposals


def test_a_stale_index_is_reported_once(store: Store) -> None:
    add(store, rule("r-sea", SEA))
    mem = open_memory(store.path)
    mem.index()
    assert mem.diagnose().index == "current"
    head = add(store, rule("r-refund", REFUND))
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["stale-index"] and report.index == "stale"
    assert f"main is at {head[:12]}" in report.findings[0].detail
    assert "this run synced it" in report.findings[0].detail
    assert open_memory(store.path).diagnose().ok


def test_the_index_of_a_memory_opened_by_a_relative_path(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(store, rule("r-sea", SEA))
    monkeypatch.chdir(store.path.parent)
    mem = open_memory(Path(store.path.name))
    mem.index()
    assert mem.diagnose().index == "current"


def test_an_index_of_another_embedder_is_stale(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    add(store, rule("r-sea", SEA))
    open_memory(store.path).index()
    mem = Memory.open(store.path, env={}, embedder=HashEmbedder(dim=32))
    report = mem.diagnose()
    # the index rebuilds itself for the new embedder, and says so on the imlgit logger
    assert any("hash:64" in r.getMessage() for r in caplog.records if r.name == "imlgit")
    assert kinds(report) == ["stale-index"] and report.index == "other embedder"
    assert "built with hash:64, the embedder is hash:32" in report.findings[0].detail


def test_a_forgotten_proposal(tmp_path: Path) -> None:
    long_ago = 1_600_000_000  # 2020-09-13
    store = Store.init(tmp_path / "m", author=PERSON, clock=Clock(long_ago), install_hooks=False)
    branch = start_proposal(store, "old-idea")
    store.put_rule(
        rule("r-sea", SEA),
        CommitMessage.make("induce", "add r-sea", "Seen.", rules=["r-sea"]),
        author=LEARNER,
        branch=branch,
    )
    report = open_memory(store.path).diagnose()
    assert kinds(report) == ["forgotten-proposal"]
    (f,) = report.findings
    assert f.proposal == "old-idea" and f.rules == ("r-sea",)
    assert "(2020-09-13, more than 14)" in f.detail and "imlgit review old-idea" in f.detail
    # measured from a time just after it, it is not forgotten yet
    assert open_memory(store.path).diagnose(now=long_ago + 3 * 86_400).ok
    assert (
        open_memory(store.path)
        .diagnose(now=long_ago + 3 * 86_400, stale_days=1)
        .of_kind("forgotten-proposal")
    )


# ---------------------------------------------------------------------- the report


def test_report_to_dict_and_summary(store: Store) -> None:
    add(
        store,
        rule("r-sea", SEA, title="Heavy parcels"),
        rule("r-sea-copy", SEA, title="Heavy parcels"),
        rule("r-air", AIR, title="Heavy parcels"),
        rule("r-north", SEA.replace("northern", "southern"), title="Heavy parcels"),
        checkable("r-a", {"glimmer": "yes"}, "VESPER"),
        checkable("r-b", {"glimmer": "yes"}, "LUMEN"),
    )
    report = open_memory(store.path).diagnose()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["commit"] == store.head()
    assert data["counts"] == {"duplicate": 1, "contradiction": 1, "near-duplicate": 3}
    assert [f["kind"] for f in data["findings"]] == [
        "duplicate",
        "contradiction",
        "near-duplicate",
        "near-duplicate",
        "near-duplicate",
    ]
    near = data["findings"][2]
    assert set(near) == {"kind", "rules", "detail", "similarity", "edit", "path", "proposal"}
    assert isinstance(near["similarity"], float)
    text = report.summary()
    assert "5 findings: 1 duplicate, 1 contradiction, 3 near-duplicate" in text
    assert "duplicate              r-sea, r-sea-copy:" in text
    assert (
        "look-alike pairs at similarity >= 0.90 (small edits >= 0.75): 3 (no model confirmed them)"
        in text
    )


def test_finding_kinds_are_checked() -> None:
    assert set(KINDS) >= {"invalid-file", "stale-index", "forgotten-proposal"}
    with pytest.raises(ValueError, match="unknown finding kind"):
        Finding("dupe", (), "x")
    with pytest.raises(ConfigError, match="similarity"):
        diagnose(object(), index=object(), embedder=object(), similarity=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("similarity", "0.9"),  # a TypeError before: '<' between float and str
        ("edited_similarity", None),
        ("neighbours", "3"),
        ("neighbours", 2.5),
        ("stale_days", "x"),  # compared only once a proposal exists: no error at all before
        ("stale_days", float("nan")),
        ("now", "today"),
    ],
)
def test_a_bad_option_is_a_config_error_naming_it(option: str, value: object) -> None:
    """No TypeError or ValueError crosses diagnose: the option is named (issue 19)."""
    with pytest.raises(ConfigError, match=rf"\b{option}\b"):
        diagnose(object(), index=object(), embedder=object(), **{option: value})  # type: ignore[arg-type]


def test_stored_vectors_are_used_when_the_index_offers_them(look_alikes: Store) -> None:
    """With RuleIndex.vectors (when index.py has it), nothing is embedded twice."""
    mem = open_memory(look_alikes.path)
    index = mem.index()
    embedder = mem.embedder
    assert isinstance(embedder, HashEmbedder)
    before = embedder.texts_embedded
    texts = {
        r.id: rule_text(r.title, r.statement, r.scope) for r in look_alikes.read_rules().values()
    }

    def vectors(ids: list[str]) -> np.ndarray:
        return HashEmbedder().embed([texts[i] for i in ids])

    if not hasattr(index, "vectors"):
        index.vectors = vectors  # type: ignore[attr-defined]
    report = mem.diagnose()
    assert kinds(report) == ["near-duplicate"]
    # only the sample that checks the stored vectors is embedded again
    assert report.index_sampled == len(texts)
    assert embedder.texts_embedded == before + report.index_sampled


def test_same_rule_compares_forms_when_both_have_one_else_statements() -> None:
    """The one test of 'the same rule' that learning (duplicates, rejected rules) and
    Memory.propose share."""
    from imlgit.identity import same_rule
    from imlgit.learners.base import Candidate

    a = checkable("r-a", {"glimmer": "yes", "tansy": "no"}, "VESPER")
    reordered = checkable("r-b", {"tansy": "no", "glimmer": "yes"}, "VESPER")
    other_then = checkable("r-c", {"glimmer": "yes", "tansy": "no"}, "LUMEN")
    assert same_rule(a, reordered)  # conditions in any order
    assert not same_rule(a, other_then)
    elsewhere = checkable("r-d", {"glimmer": "yes", "tansy": "no"}, "VESPER", scope="x")
    assert not same_rule(a, elsewhere)
    # a checkable form and a plain statement: the statements decide
    plain = Candidate(title="t", statement=a.statement.upper(), scope="tt")
    assert same_rule(a, plain) and same_rule(plain, a)
    assert not same_rule(a, Candidate(title="t", statement="Something else.", scope="tt"))
    # two plain statements: case, spacing and punctuation do not count
    assert same_rule(
        rule("r-e", "Heavy parcels ship by sea."), rule("r-f", "heavy  parcels ship by SEA")
    )


# ---------------------------------------------------------------------- a lying index (issue 14)


PLAIN = [
    ("r-sea", SEA, "Heavy parcels"),
    ("r-refund", REFUND, "Refunds"),
    ("r-label", "Every parcel carries a printed label with the sender address.", "Labels"),
    ("r-fragile", "Glass items are packed in double boxes with foam corners.", "Fragile"),
]


@pytest.fixture
def indexed(store: Store) -> Store:
    """Four unrelated plain rules, and the index built for main."""
    add(store, *(rule(rid, text, title=title) for rid, text, title in PLAIN))
    index = open_memory(store.path).index()
    index.close()
    return store


def _snapshot(store: Store) -> Path:
    (snapshot,) = (store.derived_dir / "index").glob("faiss-*.index")
    return snapshot


def _stored(store: Store, rid: str) -> bytes:
    index = open_memory(store.path).index()
    data = np.asarray(index.vectors([rid])[0], np.float32).tobytes()
    index.close()
    return data


def _recall_first(store: Store, rid: str) -> tuple[str, float]:
    text = next(t for r, t, _ in PLAIN if r == rid)
    best = open_memory(store.path).recall(text, k=1)[0]
    return best.rule.id, best.score


def test_garbled_index_vectors_are_an_index_mismatch_and_repaired(indexed: Store) -> None:
    sea = _stored(indexed, "r-sea")
    data = _snapshot(indexed).read_bytes()
    junk = np.full(len(sea) // 4, 3.0e17, np.float32).tobytes()  # loads; scores ~1e34
    _snapshot(indexed).write_bytes(data.replace(sea, junk))
    report = open_memory(indexed.path).diagnose()
    mismatch = report.of_kind("index-mismatch")
    assert mismatch and "not unit length" in mismatch[0].detail
    assert "index-mismatch" in report.summary()
    rid, score = _recall_first(indexed, "r-refund")
    assert rid == "r-refund" and score <= 1.0001


def test_stored_vectors_of_other_rules_are_found_by_the_sample(indexed: Store) -> None:
    """Two vectors swapped in the snapshot and the cache: every norm and count is right,
    so only embedding a sample again shows that recall would answer the wrong rule."""
    sea, refund = _stored(indexed, "r-sea"), _stored(indexed, "r-refund")
    for path in (_snapshot(indexed), indexed.derived_dir / "index" / "index.sqlite"):
        hold = b"\xab" * len(sea)
        data = path.read_bytes().replace(sea, hold).replace(refund, sea).replace(hold, refund)
        path.write_bytes(data)
    assert _recall_first(indexed, "r-refund")[0] == "r-sea"  # the lie, before doctor
    report = open_memory(indexed.path).diagnose()
    (found,) = report.of_kind("index-mismatch")
    assert set(found.rules) == {"r-sea", "r-refund"}
    assert report.index_sampled == 5  # the four and the template rule
    assert "2 of 5 sampled rules" in found.detail
    assert _recall_first(indexed, "r-refund")[0] == "r-refund"
    assert open_memory(indexed.path).diagnose().of_kind("index-mismatch") == []


def test_an_index_claiming_another_commit_is_an_index_mismatch(indexed: Store) -> None:
    import sqlite3

    first = indexed.log()[-1].sha  # the memory's first commit: other rules
    with sqlite3.connect(indexed.derived_dir / "index" / "index.sqlite") as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'commit'", (first,))
    conn.close()
    report = open_memory(indexed.path).diagnose()
    claims = [f for f in report.of_kind("index-mismatch") if "claims commit" in f.detail]
    assert claims and set(claims[0].rules) == {rid for rid, _, _ in PLAIN}
    assert report.index == "stale"
    assert open_memory(indexed.path).diagnose().of_kind("index-mismatch") == []
