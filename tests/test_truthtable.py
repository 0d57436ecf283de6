"""The benchmark environments: truth table and tickets."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from imlgit.bench.tickets import CLASSES as TICKET_CLASSES
from imlgit.bench.tickets import Tickets
from imlgit.bench.truthtable import ATTRIBUTE_WORDS, CLASS_WORDS, TruthTable
from imlgit.conditions import ScoredRule, choose
from imlgit.experience import Experience


def _all_inputs(tt: TruthTable) -> list[dict[str, str | int | float | bool]]:
    return [
        dict(zip(tt.attributes, values, strict=True))
        for values in itertools.product(("yes", "no"), repeat=tt.n_attributes)
    ]


def test_word_lists() -> None:
    assert len(set(ATTRIBUTE_WORDS)) == len(ATTRIBUTE_WORDS) >= 16
    assert len(set(CLASS_WORDS)) == len(CLASS_WORDS) >= 4


@pytest.mark.parametrize("seed", range(6))
def test_hidden_rule_shape_and_balance(seed: int) -> None:
    tt = TruthTable(seed=seed)
    assert len(tt.clauses) == 3 and all(len(w) == 2 for w, _ in tt.clauses)
    thens = {t for _, t in tt.clauses}
    assert len(thens) > 1 and thens != {tt.default}
    counts = Counter(tt.classify(x) for x in _all_inputs(tt))
    assert max(counts.values()) / sum(counts.values()) <= 0.56  # a constant guess is poor
    assert set(counts) <= set(tt.classes)


@pytest.mark.parametrize("seed", range(6))
def test_hidden_rules_under_choose_equal_classify(seed: int) -> None:
    tt = TruthTable(seed=seed)
    rules = [ScoredRule(w, t) for w, t in tt.hidden_rules()]
    assert rules[-1].when == () and rules[-1].then == tt.default
    for x in _all_inputs(tt):
        got = choose(rules, x)
        assert got is not None and got[0] == tt.classify(x)


@pytest.mark.slow
def test_seeds_are_deterministic_and_differ() -> None:
    assert TruthTable(seed=7).clauses == TruthTable(seed=7).clauses
    assert TruthTable(seed=7).clauses != TruthTable(seed=8).clauses
    a = TruthTable(seed=7).sample(20, rng_seed=1)
    assert a == TruthTable(seed=7).sample(20, rng_seed=1)
    assert a != TruthTable(seed=7).sample(20, rng_seed=2)


@pytest.mark.slow
def test_other_sizes() -> None:
    tt = TruthTable(n_attributes=16, n_classes=6, clauses=5, literals=3, seed=2)
    assert len(tt.attributes) == 16 and len(tt.clauses) == 5
    assert all(len(w) == 3 for w, _ in tt.clauses)
    exps = tt.sample(50, rng_seed=0)
    assert all(len(e.input) == 16 for e in exps)
    for e in exps:
        assert isinstance(e.input, dict)
        got = choose([ScoredRule(w, t) for w, t in tt.hidden_rules()], e.input)
        assert got is not None and got[0] == e.label
    for bad in (
        {"n_attributes": 0},
        {"n_attributes": 99},
        {"n_classes": 1},
        {"clauses": 0},
        {"literals": 11},
    ):
        with pytest.raises(ValueError):
            TruthTable(**bad)


def test_sample_fields() -> None:
    tt = TruthTable(seed=0)
    exps = tt.sample(300, rng_seed=3)
    assert len({e.id for e in exps}) == 300
    for e in exps:
        assert e.scope == "truth-table" and isinstance(e.input, dict)
        assert e.outcome.expected == tt.classify(e.input)
        assert e.output in tt.classes
        assert e.outcome.reward == (1.0 if e.output == e.outcome.expected else 0.0)
        assert Experience.from_dict(e.to_dict()) == e  # valid under the strict parser


def test_noise_flips_about_that_share_to_another_class() -> None:
    tt = TruthTable(seed=0)
    exps = tt.sample(2000, rng_seed=4, noise=0.1)
    flipped = [e for e in exps if isinstance(e.input, dict) and e.label != tt.classify(e.input)]
    assert 0.07 <= len(flipped) / len(exps) <= 0.13
    assert all(e.label in tt.classes for e in flipped)
    with pytest.raises(ValueError):
        tt.sample(1, rng_seed=0, noise=1.5)


def test_train_test_split() -> None:
    tt = TruthTable(seed=1)
    train, test = tt.train_test(100, 200, seed=3, noise=0.2)
    assert (len(train), len(test)) == (100, 200)
    assert not {e.id for e in train} & {e.id for e in test}
    assert all(isinstance(e.input, dict) and e.label == tt.classify(e.input) for e in test)


# ---------------------------------------------------------------------------
# tickets


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_tickets_policy(seed: int) -> None:
    env = Tickets(seed=seed)
    assert {t for _, t in env.clauses} == {"ESCALATE", "REFUND"}
    exps = env.sample(400, rng_seed=1)
    counts = Counter(e.label for e in exps)
    assert set(counts) == set(TICKET_CLASSES)
    assert max(counts.values()) / len(exps) <= 0.66
    rules = [ScoredRule(w, t) for w, t in env.hidden_rules()]
    for e in exps:
        assert isinstance(e.input, str) and e.scope == "tickets"
        assert e.label == env.classify(e.input)
        got = choose(rules, e.input)
        assert got is not None and got[0] == e.label
        assert Experience.from_dict(e.to_dict()) == e


def test_tickets_deterministic_with_noise() -> None:
    env = Tickets(seed=2)
    a = env.train_test(50, 50, seed=1, noise=0.3)
    assert a == Tickets(seed=2).train_test(50, 50, seed=1, noise=0.3)
    train, test = a
    assert any(isinstance(e.input, str) and e.label != env.classify(e.input) for e in train)
    assert not {e.id for e in train} & {e.id for e in test}
    with pytest.raises(ValueError):
        Tickets(clauses=1)
