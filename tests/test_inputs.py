"""Input shapes: what a nested object, an array, a text field, attributes and
quantities written in text become (imlgit.inputs), and that the learner's
features hold exactly where conditions do."""

from __future__ import annotations

import random
from typing import Any

import pytest

from imlgit.conditions import Condition as C
from imlgit.conditions import checkable, has_phrase, holds, matches
from imlgit.experience import Experience
from imlgit.inputs import attributes, describe, quantities, stem, view_of
from imlgit.learners.features import features

NESTED: dict[str, Any] = {
    "tool": {"name": "git", "args": {"cmd": "push", "force": True}},
    "repo": {"branch": "main", "protected": True},
    "ci": {"status": "green", "checks": ["lint", "unit"], "exit_code": 0},
    "steps": [{"name": "build", "ok": True}, {"name": "test", "ok": False}],
    "note": "the build took 12 minutes",
}


def test_nested_objects_are_dotted_paths() -> None:
    assert matches((C("tool.args.force", "=", "yes"), C("repo.branch", "=", "main")), NESTED)
    assert matches((C("ci.exit_code", "<=", 0),), NESTED)
    assert not matches((C("tool.args", "=", "push"),), NESTED)  # an object is not a value
    assert not matches((C("repo.protected", "=", "no"),), NESTED)


def test_an_array_is_its_elements_and_its_length() -> None:
    assert matches((C("ci.checks", "=", "lint"),), NESTED)
    assert matches((C("ci.checks", "=", "unit"),), NESTED)
    assert not matches((C("ci.checks", "=", "e2e"),), NESTED)
    assert matches((C("ci.checks", "!=", "e2e"),), NESTED)
    assert not matches((C("ci.checks", "!=", "lint"),), NESTED)
    assert matches((C("ci.checks.length", "=", 2), C("steps.length", ">", 1)), NESTED)
    # objects in an array: their paths under the array's, any element
    assert matches((C("steps.name", "=", "test"), C("steps.ok", "=", "no")), NESTED)
    assert matches((C("ci.checks", "contains", "unit"),), NESTED)


def test_a_string_anywhere_is_text() -> None:
    assert matches((C("note", "contains", "build"),), NESTED)
    assert matches((C("note", "lacks", "deploy"),), NESTED)
    assert matches((C("note.days", "<", 1),), NESTED)  # "12 minutes", counted in days
    assert matches((C(None, "contains", "parcel"),), "a parcel to Spain")
    assert matches((C(None, "contains", "lost"),), {"text": "parcel lost", "n": 1})


def test_the_output_is_a_field_and_an_input_key_named_output_is_kept() -> None:
    view = view_of({"output": 3, "a": 1}, "git push")
    assert view.values["output"] == {"git push"}
    assert view.values["input.output"] == {3}


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("I ordered it 12 days ago", "days", 12),
        ("twelve days ago", "days", 12),
        ("ordered twenty-five days back", "days", 25),
        ("it came last week", "days", 7),
        ("3 weeks back", "days", 21),
        ("a fortnight ago", "days", 14),
        ("a couple of months ago", "days", 60),
        ("yesterday", "days", 1),
        ("it cost $40", "dollars", 40),
        ("it cost $1,250.50", "dollars", 1250.5),
        ("40 dollars", "dollars", 40),
        ("€15 refund", "euros", 15),
        ("5kg box", "kg", 5),
        ("a 500 g jar", "kg", 0.5),
        ("30% off", "percent", 30),
        ("3 parcels", "parcel", 3),
    ],
)
def test_numbers_in_text_with_what_they_count(text: str, field: str, value: float) -> None:
    assert value in quantities(text)[field]
    assert matches((C(field, "=", value),), text)


def test_numbers_without_a_unit_are_not_quantities() -> None:
    assert quantities("order 12345, temp=41.5, ph=6.8, stirred=yes") == {}
    assert quantities("only 3, parcels") == {}


@pytest.mark.parametrize(
    "text",
    [
        "temp=41.5, ph=6.8, stirred=yes, batch=B17",
        "temp: 41.5; ph: 6.8; stirred: yes; batch: B17",
        "temp is 41.5, ph is 6.8, stirred is yes and batch is B17",
    ],
)
def test_attributes_written_as_text(text: str) -> None:
    assert attributes(text) == {"temp": 41.5, "ph": 6.8, "stirred": "yes", "batch": "B17"}
    assert matches((C("temp", ">", 40), C("stirred", "=", "yes"), C("batch", "=", "B17")), text)


def test_prose_and_urls_are_not_attributes() -> None:
    assert attributes("The machine is broken and I am upset") == {}
    assert attributes("see https://example.com/x at 12:30") == {}
    # an attribute in a text field sits under the field's path
    assert matches((C("probe.ph", "<", 7),), {"probe": "ph=6.8, stirred=yes"})


def test_word_forms_and_negation() -> None:
    assert stem("damaged") == stem("damage") == stem("damages") == stem("damaging")
    assert has_phrase("It arrived DAMAGED.", "damage")
    assert not has_phrase("It arrived damaged.", "dam")
    assert has_phrase("the vase is not fragile", "not fragile")
    assert has_phrase("the vase isn't at all fragile", "not fragile")
    assert not has_phrase("the vase is fragile", "not fragile")
    assert not has_phrase("not now, but it is fragile", "not fragile")  # another clause
    assert has_phrase("the vase is not fragile", "fragile")  # the word is there


def test_views_are_bounded() -> None:
    huge = {"xs": list(range(50_000)), "t": "word " * 100_000}
    view = view_of(huge)
    assert sum(len(v) for v in view.values.values()) <= 2001
    assert describe(huge, 200).endswith("more characters)")
    assert len(describe(huge, 200)) <= 200


def test_checkable_needs_the_tested_fields() -> None:
    assert checkable((C("repo.protected", "=", "yes"),), NESTED)
    assert not checkable((C("repo.owner", "=", "me"),), NESTED)
    assert checkable((C("days", ">", 3),), "sent 5 days ago")


def _random_input(rng: random.Random) -> Any:
    words = ["box", "boxes", "damaged", "damage", "not", "fragile", "late", "the", "to", "isn't"]
    if rng.random() < 0.3:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 9)))
    return {
        "a": rng.choice(["x", "y", 1, 2.5, True]),
        "b": {"c": rng.randint(0, 9), "tags": rng.sample(["p", "q", "r"], rng.randint(0, 3))},
        "note": " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        + rng.choice(["", ", 3 days ago", ", $12", "; k=v"]),
    }


def test_every_feature_holds_exactly_where_its_condition_does() -> None:
    rng = random.Random(7)
    inputs = [_random_input(rng) for _ in range(120)]
    views = [view_of(i) for i in inputs]
    labels = [rng.choice(["A", "B", None]) for _ in inputs]
    feats = features(views, labels, min_count=1)
    assert len(feats) > 50
    for f in feats:
        for i, view in enumerate(views):
            assert bool(f.mask >> i & 1) == holds(f.cond, view), (f.cond, inputs[i])


def test_no_feature_rests_on_function_words_alone() -> None:
    texts = ["I want to be refunded", "the box to the house", "I need to be told", "to be or not"]
    views = [view_of(t) for t in texts * 3]
    feats = features(views, ["A", "B", "A", "B"] * 3, min_count=2)
    phrases = {str(f.cond.value) for f in feats}
    for bad in ("to", "be", "the", "i", "to be", "not", "or"):
        assert bad not in phrases
    assert "refunded" in phrases or "refund" in phrases


def test_experiences_expose_their_views() -> None:
    exp = Experience.from_dict(
        {"scope": "s", "input": NESTED, "output": "git push", "outcome": {"reward": 0}}
    )
    assert exp.reward_only and exp.right is False
    assert "output" not in exp.view.values and exp.acted.values["output"] == {"git push"}


def test_mentions_lists_synonyms_said_without_a_negation() -> None:
    said = C(None, "mentions", "cracked |  smashed| broken")
    assert said.value == "cracked | smashed | broken"
    assert matches((said,), "The casing is cracked.")
    assert matches((said,), "One corner was SMASHED, sadly")
    assert not matches((said,), "The unit is not cracked.")
    assert not matches((said,), "It isn't broken or anything.")
    assert not matches((said,), "No need for a refund; nothing smashed")
    assert matches((said,), "not angry, but it is broken")  # the clause ends at 'but'
    from imlgit.conditions import parse_when, when_to_yaml_obj
    from imlgit.statements import render_statement, statement_agrees

    text = render_statement((said,), "REPAIR")
    assert text == 'When the text mentions "cracked", "smashed" or "broken", the class is REPAIR.'
    assert statement_agrees(text, (said,), "REPAIR")
    assert not statement_agrees('When the text mentions "cracked", the class is REPAIR.', (said,),
                                "REPAIR")  # fmt: skip
    assert parse_when(when_to_yaml_obj((said,))) == (said,)
    with pytest.raises(ValueError, match="at most 16"):
        C(None, "mentions", " | ".join(f"w{i}" for i in range(17)))
    with pytest.raises(ValueError, match="separated by"):
        C(None, "mentions", "a || b")


def test_the_learner_gathers_synonyms_into_one_condition() -> None:
    rng = random.Random(11)
    broken = ["cracked", "smashed", "shattered", "dented", "busted"]
    exps = []
    for i in range(240):
        damaged, old = rng.random() < 0.5, rng.random() < 0.5
        word = rng.choice(broken)
        days = rng.randint(31, 60) if old else rng.randint(1, 29)
        said = rng.choice(
            [f"it came {word}", f"the box is {word}", f"honestly it is {word}"]
            if damaged
            else [f"it came, not {word}", f"the box is not {word}", "it came fine"]
        )
        text = f"Hello. I bought it {days} days ago and {said}. {rng.choice(['Thanks', 'Bye', ''])}"
        label = "REPAIR" if damaged and old else "REFUND" if damaged else "INFO"
        exps.append(Experience.from_dict(
            {"id": f"s{i}", "scope": "s", "input": text, "outcome": {"expected": label}}
        ))  # fmt: skip
    from imlgit.learners.covering import accuracy, induce_rules

    rules = induce_rules(exps[:160])
    assert accuracy(rules, exps[160:]) >= 0.95
    listed = [c for r in rules for c in r.when if c.op == "mentions" and " | " in str(c.value)]
    assert listed, [r.when for r in rules]
    wanted = {"cracked", "smashed", "shattered"}
    assert any(set(str(c.value).split(" | ")) >= wanted for c in listed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("record 4471 -> oskel is yes, glatch is no", {"oskel": "yes", "glatch": "no"}),
        ("audit says oskel is yes, glatch: no. end of record", {"oskel": "yes", "glatch": "no"}),
        ("zindle is yes (checked by ops), oskel is no", {"zindle": "yes", "oskel": "no"}),
        ("oskel=yes, harrowby is yes -- auto-generated", {"oskel": "yes", "harrowby": "yes"}),
        ("batch=B17.", {"batch": "B17"}),
    ],
)
def test_attributes_around_other_words_and_sentence_ends(text: str, expected: dict) -> None:
    assert attributes(text) == expected


def test_an_array_has_its_length_even_past_the_values_read() -> None:
    view = view_of({"xs": [{"b": [i, str(i)]} for i in range(3000)]})
    assert view.values["xs.length"] == {3000}
    assert matches((C("xs.length", ">", 2500),), view)
