"""Synonyms for the no-model learner: the embedder suggests, the evidence decides.

``ClusterEmbedder`` is a test double: it places words of the same listed group
together and every other word far away. The real path (MiniLM) is marked slow.
"""

from __future__ import annotations

import random
import zlib

import numpy as np
import pytest

from imlgit.errors import ConfigError
from imlgit.experience import Experience
from imlgit.learners.covering import accuracy, induce_rules
from imlgit.learners.synonyms import EmbeddedRelated

DAMAGE = ("cracked", "shattered", "dented", "smashed", "snapped", "busted")
FILLER = ("hello", "thanks", "order", "yesterday", "team", "please", "box", "kind",
          "regards", "again", "today", "parcel", "reply", "soon", "week", "sent")  # fmt: skip
# many more words in the texts, so that naming one among all of them is dear
VOCABULARY = FILLER + tuple(a + b for a in ("bra", "cel", "dov", "fim", "gor", "hul", "jas",
                            "kep", "lom", "nur") for b in ("ta", "ven", "sip", "mol", "dar",
                            "ke", "rin", "qua", "zo", "pel"))  # fmt: skip


class ClusterEmbedder:
    """A fake embedder (test double): the words of a group share a direction."""

    identity = "fake:clusters"
    dim = 32

    def __init__(self, groups: list[tuple[str, ...]]) -> None:
        self.groups = groups
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            g = next((k for k, grp in enumerate(self.groups) if t in grp), None)
            rng = np.random.default_rng(zlib.crc32(t.encode()))
            out[i] = rng.normal(size=self.dim) * 0.1
            if g is not None:
                out[i, g] += 1.0
            else:
                out[i] += rng.normal(size=self.dim)
        return out


def test_nearest_words_come_from_the_embedder_and_are_cached() -> None:
    emb = ClusterEmbedder([DAMAGE])
    loads: list[int] = []

    def load() -> ClusterEmbedder:
        loads.append(1)
        return emb

    related = EmbeddedRelated(load, size=3)
    assert related(["cracked"]) == {} and not loads, "one word: nothing to compare, no load"
    near = related([*DAMAGE, *VOCABULARY])
    assert set(near["cracked"]) <= set(DAMAGE) and len(near["cracked"]) == 3
    assert "cracked" not in near["cracked"]
    related([*DAMAGE, *VOCABULARY])
    assert len(loads) == 1 and len(emb.calls) == 1, "vectors are cached by word"
    with pytest.raises(ConfigError):
        EmbeddedRelated(load, size=0)


def _messages(n: int, seed: int) -> list[Experience]:
    """REPAIR when any damage word is said (each word rare), else INFO."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(VOCABULARY, 6)
        damaged = rng.random() < 0.4
        if damaged:
            words.insert(rng.randrange(len(words)), rng.choice(DAMAGE))
        out.append(Experience.from_dict({
            "id": f"m{seed}-{i}", "scope": "s", "input": " ".join(words),
            "outcome": {"expected": "REPAIR" if damaged else "INFO"},
        }))  # fmt: skip
    return out


def test_suggested_synonyms_are_listed_where_each_word_is_too_rare_to_pay_alone() -> None:
    train, test = _messages(60, 1), _messages(400, 2)
    related = EmbeddedRelated(lambda: ClusterEmbedder([DAMAGE]))
    plain = induce_rules(train)
    helped = induce_rules(train, related=related)

    def listed(rules: list) -> set[str]:  # type: ignore[type-arg]
        out: set[str] = set()
        for r in rules:
            for c in r.when:
                if c.op == "mentions":
                    out |= {w.strip() for w in str(c.value).split("|")}
        return out

    # 60 messages: each damage word is said a handful of times, too few to pay
    # log2(all words) bits each; named among the embedder's suggestions they pay
    assert not listed(plain) & set(DAMAGE)
    assert len(listed(helped) & set(DAMAGE)) >= 4
    assert accuracy(helped, test) >= 0.9 > 0.7 > accuracy(plain, test)
    # suggestions that are not synonyms buy nothing: the evidence still decides
    noise = EmbeddedRelated(lambda: ClusterEmbedder([("cracked", "hello", "thanks", "team")]))
    for r in induce_rules(train, related=noise):
        if r.then == "REPAIR":
            assert not {"hello", "thanks", "team"} & listed([r])


@pytest.mark.slow
def test_minilm_suggests_the_synonyms_of_damage() -> None:
    from imlgit.embed import SentenceTransformerEmbedder

    near = EmbeddedRelated(SentenceTransformerEmbedder, size=8)(
        ["cracked", "shattered", "smashed", "broken", "dented", "refund", "money", "invoice",
         "hello", "thanks", "kenya", "router", "payment", "reimbursed"]
    )  # fmt: skip
    assert len(set(near["cracked"][:4]) & {"shattered", "smashed", "broken", "dented"}) >= 3
    assert {"money", "payment", "reimbursed"} & set(near["refund"][:3])


class BrokenEmbedder:
    """A fake embedder (test double) that fails as a misconfigured one would."""

    identity = "fake:broken"
    dim = 4

    def __init__(self, how: str) -> None:
        self.how = how

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.how == "raise":
            raise RuntimeError("no model here")
        if self.how == "short":
            return np.zeros((max(0, len(texts) - 1), self.dim))
        return np.full((len(texts), self.dim), np.nan)


@pytest.mark.parametrize("how", ["raise", "short", "nan"])
def test_an_embedder_that_fails_leaves_learning_without_suggestions(how: str) -> None:
    train = _messages(90, 1)
    related = EmbeddedRelated(lambda: BrokenEmbedder(how))
    rules = induce_rules(train, related=related)
    assert related.unavailable, "says why there are no suggestions"
    assert [(r.when, r.then) for r in rules] == [(r.when, r.then) for r in induce_rules(train)]


def test_ties_go_to_the_word_given_first_and_answers_are_reused() -> None:
    emb = ClusterEmbedder([("a1", "a2", "a3")])
    related = EmbeddedRelated(lambda: emb, size=1)
    words = ["a1", "a2", "a3", *VOCABULARY[:5]]
    first = related(words)
    assert related(words) is first and len(emb.calls) == 1
    assert first["a1"][0] in ("a2", "a3")
