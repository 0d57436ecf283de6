"""A learner that needs no model: sequential covering over the features of inputs.

From experiences whose outcome it can read it induces checkable rules (``when``
conditions and a ``then``) in the style of CN2 and RIPPER:

* features (:mod:`imlgit.learners.features`): ``path = value`` (and ``!=``
  for a path of a few values) and numeric thresholds on every path of an input's
  view (nested objects, arrays, attributes and quantities written in text), and
  for text ``contains`` a word, a two-word phrase or a negated word in any of its
  forms, or ``lacks`` a word;
* evidence: an expected answer labels an experience; a reward for the action
  taken labels it with that action when it worked, and when it failed counts
  against that action only (the paper's setting: nothing says what would have
  worked);
* **class rules** (``then`` the answer, or the action that works): for each
  class, rarest first, a beam search looks for the conjunction (at most
  ``max_conditions``) that tells the class's experiences not yet covered from
  every experience where that answer is wrong. A candidate's score is its FOIL
  gain minus the bits needed to name its conditions (``log2 C(F, k)`` for k of F
  features), a minimum-description-length test: a rule must pay for itself, so
  label noise does not carve many tiny rules. The best candidate that is
  precise enough (the Wilson upper bound of its precision, z = 1.5, reaches
  ``min_precision``) is kept, the experiences it covers are set aside, and the
  search repeats until it finds nothing or fewer than ``min_coverage`` remain;
* synonyms: a candidate ending in ``mentions`` a word tries listing more words of
  the same text (``mentions "cracked | smashed | broken"``), greedily, each paying
  ``log2`` of the words it was chosen among (all the text's words, or the few an
  embedder places nearest the first word listed, :mod:`imlgit.learners.synonyms`);
  a rule that lists synonyms is held to its point precision, so synonyms never buy
  coverage with errors, and wins only when its score is at least 1.5 times the
  best rule's without synonyms (two words that both indicate a class are not
  always one concept: on the tickets benchmark, always preferring the listed rule
  cost 13 points);
* experiences that rules of other classes with more conditions already get right
  are not held against a class (checked inference gives those rules precedence);
  once every class has rules, each class is learned again against the others'
  rules and kept where more training experiences come out right;
* no rule is proposed that, among the rules proposed with it, decides fewer than
  ``min_coverage`` training experiences or gets less than :data:`KEEP_PRECISION`
  of them right (what learning would refuse), the worst dropped first;
* a default rule (no conditions: the commonest class among experiences no rule
  matches) closes the set when it is precise enough: ``default_precision`` scaled
  by the share the class rules get right (under label noise no rule gets
  everything right, and a default held to clean figures would leave the commonest
  class unanswered); when it is not, the commonest class gets rules of its own like
  any other, and a default still answers what they leave where it gets at least
  half of it right (:data:`FALLBACK_PRECISION`);
* **outcome rules** (``then`` ``works`` or ``fails``, with ``output = action``)
  from reward-only experiences: for each action taken often enough, the same
  search tells the contexts where it worked from those where it failed.

Inference applies rules with :func:`imlgit.conditions.choose` (most conditions,
then precision, then support), not in the order they were learned. Rules grown
against all other classes mostly do not depend on an order; for the rest, the
training experiences are replayed under ``choose``: a rule that wins experiences
that a lower-ranked matching rule of the right class would have got right is split
into narrower rules that exclude them (or dropped), when that makes at least
``min_coverage`` more training experiences come out right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..conditions import (
    FAILS,
    WORKS,
    Condition,
    Input,
    choose,
    is_outcome_rule,
    matches,
    parse_then,
)
from ..errors import ConfigError, RuleError
from ..experience import Experience
from ..inputs import OUTPUT_FIELD, View
from ..verify import CLASS, OUTCOME, judge
from .features import Feature, features
from .search import _Grower, _popcount
from .synonyms import Related

_SPLIT_LIMIT = 4
_REPLAY_ROUNDS = 20
MAX_ACTIONS = 20
"""Outcome rules are learned for at most this many actions (the most often taken)."""
KEEP_PRECISION = 0.75
"""A class rule is proposed only when it gets this share of what it decides right
among the rules proposed with it (the default of learning's ``[learn]
min_precision``, which then counts over the memory's rules too)."""
FALLBACK_PRECISION = 0.5
"""The share a default rule needs once the commonest class has rules of its own (at
least half: it answers only what they leave, where the alternative is no answer;
learning's ``[learn] default_precision`` by default)."""


@dataclass
class InducedRule:
    """A learned checkable rule with the training experiences that back it."""

    when: tuple[Condition, ...]
    then: str
    covered: list[str]
    correct: list[str]
    rationale: str

    @property
    def precision(self) -> float:
        return len(self.correct) / len(self.covered) if self.covered else 0.0

    @property
    def support(self) -> int:
        return len(self.correct)

    @property
    def wrong(self) -> list[str]:
        right = set(self.correct)
        return [i for i in self.covered if i not in right]


Learned = list[tuple[tuple[Feature, ...], str]]


def _usable_label(label: str | None) -> bool:
    if label is None:
        return False
    try:
        parse_then(label)
    except RuleError:
        return False
    return True


def _failed_action(exp: Experience) -> str | None:
    """The action a reward-only experience says did not work, or None."""
    if exp.reward_only and exp.right is False and _usable_label(exp.output):
        return exp.output
    return None


def induce_rules(
    experiences: Iterable[Experience],
    *,
    max_conditions: int = 4,
    min_coverage: int = 2,
    min_precision: float = 0.9,
    text_lacks: bool = True,
    max_thresholds: int = 32,
    beam_width: int = 6,
    default: bool = True,
    default_precision: float = 0.75,
    outcomes: bool = True,
    related: Related | None = None,
) -> list[InducedRule]:
    """Induce checkable rules from the experiences whose outcome the learner can read.

    Returns the class rules in the order learned (class by class, rarest first),
    then, with ``default``, the default rule when it gets at least
    ``default_precision`` of what it decides right (else the commonest class gets
    rules too), then, with ``outcomes``, the outcome rules of reward-only
    experiences. Apply class rules with :func:`predict`. Deterministic: ties go to
    the feature first in sorted order. ``related`` (:mod:`imlgit.learners.synonyms`)
    suggests synonyms: a suggested word costs less to list in a ``mentions``
    condition, and still has to pay for itself in the evidence.
    """
    if max_conditions < 1 or min_coverage < 1 or beam_width < 1:
        raise ConfigError("max_conditions, min_coverage and beam_width must be at least 1")
    if not 0.0 < min_precision <= 1.0:
        raise ConfigError("min_precision must be in (0, 1]")
    exps = list(experiences)
    how = _How(max_conditions, min_coverage, min_precision, text_lacks, max_thresholds,
               beam_width, default_precision, related)  # fmt: skip
    out = _class_rules(exps, how, default)
    if outcomes:
        out += _outcome_rules(exps, how)
    return out


@dataclass(frozen=True)
class _How:
    """The search settings induce_rules was given."""

    max_conditions: int
    min_coverage: int
    min_precision: float
    text_lacks: bool
    max_thresholds: int
    beam_width: int
    default_precision: float
    related: Related | None = None

    def grower(
        self,
        feats: list[Feature],
        labels: list[str | None],
        *,
        failed: Sequence[str | None] = (),
        max_conditions: int | None = None,
    ) -> _Grower:
        return _Grower(
            feats,
            labels,
            failed=failed,
            max_conditions=max_conditions or self.max_conditions,
            min_coverage=self.min_coverage,
            min_precision=self.min_precision,
            beam_width=self.beam_width,
            related=self.related,
        )

    def features(self, views: Sequence[View], labels: Sequence[str | None]) -> list[Feature]:
        return features(views, labels, min_count=self.min_coverage,
                        max_thresholds=self.max_thresholds, text_lacks=self.text_lacks)  # fmt: skip


def _class_rules(exps: list[Experience], how: _How, default: bool) -> list[InducedRule]:
    data = [e for e in exps if _usable_label(e.label) or _failed_action(e) is not None]
    labels = [e.label if _usable_label(e.label) else None for e in data]
    if not any(y is not None for y in labels):
        return []
    failed = [_failed_action(e) if y is None else None for e, y in zip(data, labels, strict=True)]
    grower = how.grower(how.features([e.view for e in data], labels), labels, failed=failed)
    counts = Counter(y for y in labels if y is not None)
    classes = sorted(counts, key=lambda c: (counts[c], c))
    learned: Learned = []
    chosen = classes[:-1] if default else classes
    for cls in chosen:
        _cover(grower, cls, learned)
    learned = _precise(grower, _relearn(grower, _replay(grower, learned), chosen))
    rules = _finish(data, learned, CLASS)
    if not default:
        return rules
    # the default needs default_precision as clean evidence would give it: scaled by
    # the share the class rules get right (under noise, no rule gets everything right)
    closing = _default(data, rules, how.default_precision * _decided_share(grower, learned))
    if closing is None:
        _cover(grower, classes[-1], learned)
        learned = _precise(grower, _relearn(grower, _replay(grower, learned), classes))
        rules = _finish(data, learned, CLASS)
        # the commonest class has its rules now; a default still answers what they
        # leave, where it gets at least half right (the alternative is no answer)
        closing = _default(data, rules, min(how.default_precision, FALLBACK_PRECISION))
    return rules + ([closing] if closing is not None else [])


def _relearn(grower: _Grower, learned: Learned, classes: Sequence[str]) -> Learned:
    """Each class's rules learned again, now that every other class has rules that
    take precedence where they are more specific; kept where more training
    experiences come out right."""
    score = _training_accuracy(grower, learned)
    if score >= _popcount(grower.labelled):
        return learned  # every training experience is right already
    for cls in classes:
        others = [(r, c) for r, c in learned if c != cls]
        trial = list(others)
        _cover(grower, cls, trial)
        trial = _replay(grower, trial)
        new_score = _training_accuracy(grower, trial)
        if new_score > score:
            learned, score = trial, new_score
    return learned


def _decided(grower: _Grower, learned: Learned) -> list[tuple[int, int]]:
    """For each rule, the training experiences it decides under the choose order
    that can tell, and those it gets right: (decided, right)."""
    won = [0] * len(learned)
    for i, w in enumerate(_winners(grower, learned, [grower.mask_of(r) for r, _ in learned])):
        if w is not None:
            won[w] |= 1 << i
    return [
        (_popcount(m & grower.judged(c)), _popcount(m & grower.class_mask.get(c, 0)))
        for m, (_, c) in zip(won, learned, strict=True)
    ]


def _decided_share(grower: _Grower, learned: Learned) -> float:
    """The share of what the rules decide that they get right (1 without rules)."""
    figures = _decided(grower, learned)
    decided = sum(d for d, _ in figures)
    return sum(r for _, r in figures) / decided if decided else 1.0


def _precise(grower: _Grower, learned: Learned) -> Learned:
    """The rules without those that, under the choose order, decide fewer than
    ``min_coverage`` training experiences or get less than :data:`KEEP_PRECISION` of
    what they decide right (what learning would refuse to commit), the worst first,
    until every rule left holds."""
    learned = list(learned)
    while learned:
        failing: list[tuple[float, int, int]] = []  # (share, decided, -index)
        for k, (decided, right) in enumerate(_decided(grower, learned)):
            share = right / decided if decided else 0.0
            if decided < grower.min_coverage or share < KEEP_PRECISION:
                failing.append((share, decided, -k))
        if not failing:
            break
        _, _, minus_k = min(failing)  # the lowest share, then the fewest decided, the last
        del learned[-minus_k]
    return learned


def _cover(grower: _Grower, cls: str, learned: Learned) -> None:
    """Sequential covering of one class: rules until its experiences are covered.

    Experiences that rules already learned for other classes get right, with more
    than one condition, are not held against this class: checked inference gives
    those rules precedence over a rule with fewer conditions (and the replay
    repairs the rest)."""
    pos_all = grower.class_mask.get(cls, 0)
    explained = 0
    for rule, other in learned:
        if other != cls and len(rule) > 1:
            explained |= grower.mask_of(rule) & grower.class_mask.get(other, 0)
    prior = grower.against(cls)
    neg = prior & ~explained
    remaining = pos_all
    while _popcount(remaining) >= grower.min_coverage:
        found = grower.search(remaining, neg, pos_all, prior)
        if found is None:
            break
        rule, cov = found
        learned.append((rule, cls))
        remaining &= ~cov


def _outcome_rules(exps: list[Experience], how: _How) -> list[InducedRule]:
    """For each action taken often enough in reward-only experiences: the contexts
    where it works and where it fails, as rules with ``output = action``."""
    by_action: dict[str, list[Experience]] = {}
    for e in exps:
        if e.reward_only and e.output is not None and _usable_label(e.output):
            by_action.setdefault(e.output, []).append(e)
    enough = max(2 * how.min_coverage, 4)
    actions = sorted((a for a in by_action if len(by_action[a]) >= enough),
                     key=lambda a: (-len(by_action[a]), a))[:MAX_ACTIONS]  # fmt: skip
    out: list[InducedRule] = []
    for action in actions:
        data = by_action[action]
        labels: list[str | None] = [WORKS if e.right else FAILS for e in data]
        if len(set(labels)) < 2:
            verdict = labels[0]
            assert verdict is not None
            out.append(_action_default(data, action, verdict))
            continue
        feats = how.features([e.view for e in data], labels)
        grower = how.grower(feats, labels, max_conditions=max(1, how.max_conditions - 1))
        counts = Counter(y for y in labels if y is not None)
        classes = sorted(counts, key=lambda c: (counts[c], c))
        learned: Learned = []
        for cls in classes:
            _cover(grower, cls, learned)
        learned = _replay(grower, learned)
        on = Condition(OUTPUT_FIELD, "=", action)
        rules = [
            InducedRule((on, *r.when), r.then, r.covered, r.correct, r.rationale)
            for r in _finish(data, learned, OUTCOME, action=action)
        ]
        uncovered = [e for e in data if choose(rules, e.acted) is None]
        if uncovered:
            verdicts = Counter(WORKS if e.right else FAILS for e in uncovered)
            verdict, right = max(sorted(verdicts.items()), key=lambda kv: kv[1])
            if right / len(uncovered) >= how.default_precision:
                rules.append(_action_default(data, action, verdict, uncovered))
        out.extend(rules)
    return out


def _action_default(
    data: list[Experience], action: str, verdict: str, uncovered: list[Experience] | None = None
) -> InducedRule:
    decided = uncovered if uncovered is not None else data
    right = [e.id for e in decided if judge(e, verdict, OUTCOME)]
    where = (
        f"the {len(decided)} times no narrower rule matches" if uncovered is not None
        else f"all {len(decided)} times it was taken"
    )  # fmt: skip
    return InducedRule(
        when=(Condition(OUTPUT_FIELD, "=", action),),
        then=verdict,
        covered=[e.id for e in decided],
        correct=right,
        rationale=(
            f"{action} {verdict} in {len(right)} of {where} (the reward says so)."
        ),
    )


def _winners(grower: _Grower, learned: Learned, masks: list[int]) -> list[int | None]:
    """For each training experience, the index of the rule :func:`choose` picks."""
    keys = []
    for (rule, cls), cov in zip(learned, masks, strict=True):
        covered = _popcount(cov & grower.judged(cls))
        correct = _popcount(cov & grower.class_mask.get(cls, 0))
        keys.append((len(rule), correct / covered if covered else 0.0, correct))
    winners: list[int | None] = []
    for i in range(grower.n):
        bit = 1 << i
        best: int | None = None
        for k, cov in enumerate(masks):
            if cov & bit and (best is None or keys[k] > keys[best]):
                best = k
        winners.append(best)
    return winners


def _training_accuracy(grower: _Grower, learned: Learned) -> int:
    """How many training experiences the rules, and a default, get right under choose."""
    winners = _winners(grower, learned, [grower.mask_of(r) for r, _ in learned])
    pairs = list(zip(grower.labels, winners, strict=True))
    rest = Counter(y for y, w in pairs if w is None and y is not None)
    by_rules = sum(1 for y, w in pairs if w is not None and learned[w][1] == y)
    # a rule that wins where its action failed counts against it
    failed = sum(
        1 for i, w in enumerate(winners)
        if w is not None and grower.fail_mask.get(learned[w][1], 0) >> i & 1
    )  # fmt: skip
    return by_rules - failed + (max(rest.values()) if rest else 0)


def _split(grower: _Grower, rule: tuple[Feature, ...], cls: str, stolen: int) -> Learned:
    """Narrower rules that together keep what ``rule`` gets right, without ``stolen``."""
    remaining = grower.mask_of(rule) & grower.class_mask.get(cls, 0)
    out: Learned = []
    while len(out) < _SPLIT_LIMIT and _popcount(remaining) >= grower.min_coverage:
        grown, cov = grower.narrow(remaining, stolen, rule)
        if len(grown) == len(rule) or _popcount(cov & remaining) < grower.min_coverage:
            break
        out.append((grown, cls))
        remaining &= ~cov
    return out


def _replay(grower: _Grower, learned: Learned) -> Learned:
    """Replay training under :func:`choose`; repair rules that win where they should not.

    A rule steals an experience when it wins it under the choose order and gets it
    wrong, while a lower-ranked matching rule has the right class. The rule that
    steals most is split into narrower rules that exclude what it steals, or else
    dropped; a change is kept only if at least ``min_coverage`` more training
    experiences come out right.
    """
    settled: set[tuple[tuple[Feature, ...], str]] = set()
    score = _training_accuracy(grower, learned)
    for _ in range(_REPLAY_ROUNDS):
        masks = [grower.mask_of(r) for r, _ in learned]
        winners = _winners(grower, learned, masks)
        stolen = [0] * len(learned)
        for i, (y, w) in enumerate(zip(grower.labels, winners, strict=True)):
            if w is None or y is None or learned[w][1] == y:
                continue
            bit = 1 << i
            if any(cls == y and masks[k] & bit for k, (_, cls) in enumerate(learned)):
                stolen[w] |= bit
        candidates = [k for k in range(len(learned)) if stolen[k] and learned[k] not in settled]
        if not candidates:
            break
        k = min(candidates, key=lambda j: (-_popcount(stolen[j]), j))
        rule, cls = learned[k]
        options: list[Learned] = []
        split = _split(grower, rule, cls, stolen[k])
        if split:
            options.append(learned[:k] + split + learned[k + 1 :])
        options.append(learned[:k] + learned[k + 1 :])
        for option in options:
            new_score = _training_accuracy(grower, option)
            if new_score >= score + grower.min_coverage:
                learned, score = option, new_score
                break
        else:
            settled.add((rule, cls))
    return learned


def _figures(covered: int, correct: int) -> str:
    noun = "experience" if covered == 1 else "experiences"
    return f"covers {covered} {noun} and gets {correct} right"


def _coverage(
    when: Sequence[Condition], then: str, data: Sequence[Experience], kind: str
) -> tuple[list[str], list[str]]:
    """The experiences a rule decides alone (it matches and they can tell), and those
    it gets right."""
    covered: list[str] = []
    correct: list[str] = []
    for e in data:
        if not matches(when, e.view):
            continue
        ok = judge(e, then, kind)
        if ok is None:
            continue
        covered.append(e.id)
        if ok:
            correct.append(e.id)
    return covered, correct


def _finish(
    data: list[Experience], learned: Learned, kind: str, action: str | None = None
) -> list[InducedRule]:
    out: list[InducedRule] = []
    for rule, cls in learned:
        when = tuple(f.cond for f in rule)
        covered, correct = _coverage(when, cls, data, kind)
        precision = len(correct) / len(covered) if covered else 0.0
        what = f"where {action} was taken" if action else "so far"
        out.append(
            InducedRule(
                when=when,
                then=cls,
                covered=covered,
                correct=correct,
                rationale=(
                    f"{_figures(len(covered), len(correct))} (precision {precision:.2f}) "
                    f"of the experiences {what}; learned for {cls}."
                ),
            )
        )
    return out


def _default(
    data: list[Experience], rules: list[InducedRule], default_precision: float
) -> InducedRule | None:
    """The default rule over the experiences no rule matches, or None when it would
    get less than ``default_precision`` of them right."""
    uncovered = [e for e in data if choose(rules, e.view) is None]
    pool = uncovered or data
    candidates = sorted({e.label for e in pool if e.label is not None and _usable_label(e.label)})
    best: tuple[int, int, str] | None = None
    for cls in candidates:
        verdicts = [judge(e, cls) for e in pool]
        right = sum(1 for v in verdicts if v)
        decided = sum(1 for v in verdicts if v is not None)
        if best is None or right > best[0]:
            best = (right, decided, cls)
    if best is None or not best[1] or best[0] / best[1] < default_precision:
        return None
    right, decided, cls = best
    covered, correct = _coverage((), cls, data, CLASS)
    if uncovered:
        why = (
            f"it decides the {len(uncovered)} experiences no other rule matches "
            f"and gets {right} of the {decided} that can tell right"
        )
    else:
        why = "every experience matched another rule, so it takes the commonest class"
    return InducedRule(
        when=(),
        then=cls,
        covered=covered,
        correct=correct,
        rationale=f"default rule: {_figures(len(covered), len(correct))}; {why}.",
    )


def predict(rules: Sequence[InducedRule], input: Input) -> tuple[str, int] | None:
    """The class the rules give ``input`` and the deciding rule's index (see ``choose``)."""
    return choose([r for r in rules if not _is_outcome(r)], input)


def _is_outcome(rule: InducedRule) -> bool:
    return is_outcome_rule(rule.when, rule.then)


def accuracy(rules: Sequence[InducedRule], experiences: Iterable[Experience]) -> float:
    """Share of labelled experiences the class rules answer correctly (no answer is wrong)."""
    right = total = 0
    for e in experiences:
        if e.label is None:
            continue
        total += 1
        got = predict(rules, e.input)
        right += got is not None and got[0] == e.label
    return right / total if total else 0.0
