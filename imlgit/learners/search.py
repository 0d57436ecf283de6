"""The candidate search of the covering learner (:mod:`imlgit.learners.covering`):
rules grown over bit masks of the training experiences, bit i for experience i.

:class:`_Grower` holds the features and labels as masks and searches them: a beam
search scored by FOIL gain minus the bits to name the conditions (``search``),
a ``mentions`` condition widened to list synonyms (``widen``), and a rule
narrowed until it excludes what it must not cover (``narrow``). What to search
for, and what to keep of what it finds, is decided in covering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..conditions import MAX_ALTERNATIVES, Condition, alternatives
from .features import Feature
from .synonyms import Related

_Z = 1.5  # the Wilson bound that judges "precise enough"
_LISTED_MARGIN = 1.5


def _popcount(x: int) -> int:
    return x.bit_count()


def _said(rule: Iterable[Feature]) -> set[tuple[str | None, str]]:
    """The (field, phrase) pairs a rule's ``mentions`` conditions list."""
    return {
        (f.cond.field, p) for f in rule if f.cond.op == "mentions" for p in alternatives(f.cond)
    }


def _upper(p: int, n: int, z: float) -> float:
    """The Wilson upper bound of a precision ``p / (p + n)``."""
    total = p + n
    if total == 0:
        return 1.0
    phat = p / total
    centre = phat + z * z / (2 * total)
    spread = z * math.sqrt(phat * (1 - phat) / total + z * z / (4 * total * total))
    return (centre + spread) / (1 + z * z / total)


class _Grower:
    """Rule search over bit masks: bit i of a mask is training experience i."""

    def __init__(
        self,
        features: list[Feature],
        labels: list[str | None],
        *,
        failed: Sequence[str | None] = (),
        max_conditions: int,
        min_coverage: int,
        min_precision: float,
        beam_width: int,
        related: Related | None = None,
    ) -> None:
        self.features = features
        self.mentions: dict[str | None, list[Feature]] = {}
        for f in features:
            if f.cond.op == "mentions":
                self.mentions.setdefault(f.cond.field, []).append(f)
        # per text, the words an embedder places nearest each of its words (the most
        # often said first): cheaper to name as synonyms
        self.near: dict[str | None, dict[str, tuple[str, ...]]] = {}
        if related is not None:
            for path, pool in self.mentions.items():
                ranked = sorted(pool, key=lambda f: (-_popcount(f.mask), str(f.cond.value)))
                words = [str(f.cond.value) for f in ranked]
                if len(words) > 1:
                    self.near[path] = related(words)
        self.labels = labels
        self.n = len(labels)
        self.all = (1 << self.n) - 1
        self.class_mask: dict[str, int] = {}
        self.labelled = 0
        for i, y in enumerate(labels):
            if y is not None:
                self.class_mask[y] = self.class_mask.get(y, 0) | (1 << i)
                self.labelled |= 1 << i
        # a reward-only failure: evidence against the action that failed, for no other
        self.fail_mask: dict[str, int] = {}
        for i, a in enumerate(failed):
            if a is not None:
                self.fail_mask[a] = self.fail_mask.get(a, 0) | (1 << i)
        self.max_conditions = max_conditions
        self.min_coverage = min_coverage
        self.min_precision = min_precision
        self.beam_width = beam_width
        n_feats = max(len(features), 2)
        # bits to name k conditions out of n_feats features
        self.cost = [math.log2(max(1, math.comb(n_feats, k))) for k in range(max_conditions + 1)]

    def against(self, cls: str) -> int:
        """The experiences where answering ``cls`` is wrong."""
        return (self.labelled & ~self.class_mask.get(cls, 0)) | self.fail_mask.get(cls, 0)

    def judged(self, cls: str) -> int:
        """The experiences that can tell whether answering ``cls`` is right."""
        return self.labelled | self.fail_mask.get(cls, 0)

    def precise(self, p: int, n: int) -> bool:
        """Whether ``p`` right of ``p + n`` is consistent with ``min_precision``."""
        return _upper(p, n, _Z) >= self.min_precision

    def mask_of(self, rule: tuple[Feature, ...]) -> int:
        cov = self.all
        for f in rule:
            cov &= f.mask
        return cov

    def search(
        self, pos: int, neg: int, pos_all: int, prior: int | None = None
    ) -> tuple[tuple[Feature, ...], int] | None:
        """Beam search for the best rule for the positives ``pos`` against ``neg``.

        Score: FOIL gain from the empty rule minus the bits to name the conditions.
        The best-scoring rule with a positive score, at least ``min_coverage``
        positives and a precision (counting every experience of the class,
        ``pos_all``) consistent with ``min_precision`` wins; ties go to fewer
        conditions, more positives, then the candidate found first.
        """
        p0, n0 = _popcount(pos), _popcount(neg if prior is None else prior)
        if p0 == 0:
            return None
        # the gain is measured from the class's share among all that argue against it
        # (``prior``), also when some of those are left out of ``neg``
        root = math.log2(p0 / (p0 + n0))
        beam: list[tuple[tuple[Feature, ...], int]] = [((), self.all)]
        seen: set[int] = {self.all}
        best: tuple[float, int, int, int] | None = None
        best_rule: tuple[tuple[Feature, ...], int] | None = None
        best_listed: tuple[float, int, int, int] | None = None
        listed_rule: tuple[tuple[Feature, ...], int] | None = None
        order = 0
        for depth in range(1, self.max_conditions + 1):
            children: list[tuple[float, int, int, tuple[Feature, ...], int, int]] = []
            for rule, cov in beam:
                if not cov & neg:
                    continue  # pure already: narrowing cannot help
                used = {f.key for f in rule}
                said = _said(rule)
                for f in self.features:
                    if f.key in used:
                        continue
                    c2 = cov & f.mask
                    if c2 in seen:
                        continue
                    p2 = _popcount(c2 & pos)
                    if p2 < self.min_coverage:
                        continue
                    if said and f.cond.op == "mentions" and _said((f,)) & said:
                        continue  # a phrase the rule already lists
                    seen.add(c2)
                    n2 = _popcount(c2 & neg)
                    gain = p2 * (math.log2(p2 / (p2 + n2)) - root)
                    order += 1
                    children.append((gain, p2, -order, rule + (f,), c2, cov))
            children.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
            # a word's synonyms: the best children ending in "mentions" try listing more
            # phrases (the internal disjunction "mentions a | b | c")
            widened = []
            for gain, _p2, _o, rule, _c2, parent in [
                c for c in children if c[3][-1].cond.op == "mentions"
            ][: self.beam_width]:
                grown = self.widen(rule[-1], parent, pos, neg, root, gain, _said(rule[:-1]))
                if grown is not None:
                    f, c2, g2 = grown
                    if c2 not in seen:
                        seen.add(c2)
                        order += 1
                        p2 = _popcount(c2 & pos)
                        widened.append((g2, p2, -order, rule[:-1] + (f,), c2, parent))
            if widened:
                children += widened
                children.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
            for gain, p2, neg_order, rule, c2, _parent in children:
                bits = sum(f.bits for f in rule)
                score = gain - self.cost[depth] - bits
                n2 = _popcount(c2 & neg)
                right = _popcount(c2 & pos_all)
                # listed synonyms must not buy coverage with errors: such a rule is
                # held to its point precision, not the bound
                if bits and right < self.min_precision * (right + n2):
                    continue
                if score > 0 and self.precise(right, n2):
                    key = (score, -depth, p2, neg_order)
                    if bits:
                        if best_listed is None or key > best_listed:
                            best_listed, listed_rule = key, (rule, c2)
                    elif best is None or key > best:
                        best, best_rule = key, (rule, c2)
            beam = [(c[3], c[4]) for c in children[: self.beam_width]]
            if not beam:
                break
        # a rule that lists synonyms wins only when clearly better than the best rule
        # without (a prior for the simpler hypothesis: two words that both indicate a
        # class are not always one concept)
        if best_listed is not None and (best is None or best_listed[0] > _LISTED_MARGIN * best[0]):
            return listed_rule
        return best_rule

    def widen(
        self,
        f: Feature,
        parent: int,
        pos: int,
        neg: int,
        root: float,
        gain: float,
        said: set[tuple[str | None, str]],
    ) -> tuple[Feature, int, float] | None:
        """``f`` ("mentions" a phrase) listing more phrases of the same text, greedily,
        while each pays for itself: its FOIL gain grows by more than the bits to name
        it among the phrases it could have been."""
        pool = self.mentions.get(f.cond.field, [])
        if len(pool) < 2:
            return None
        bits = math.log2(len(pool))
        chosen = [f]
        mask = f.mask
        best_gain = gain
        spent = 0.0
        # the words the embedder places nearest the first word: each is named among them
        suggested = set(self.near.get(f.cond.field, {}).get(str(f.cond.value), ()))
        near_bits = math.log2(max(2, len(suggested)))
        while len(chosen) < MAX_ALTERNATIVES:
            pick: tuple[float, Feature, float] | None = None
            for g in pool:
                extra = g.mask & parent & pos & ~mask
                if _popcount(extra) < self.min_coverage or g in chosen or _said((g,)) & said:
                    continue
                c2 = parent & (mask | g.mask)
                p2, n2 = _popcount(c2 & pos), _popcount(c2 & neg)
                g2 = p2 * (math.log2(p2 / (p2 + n2)) - root)
                cost = min(bits, near_bits) if str(g.cond.value) in suggested else bits
                if g2 - best_gain > cost and (pick is None or g2 > pick[0]):
                    pick = (g2, g, cost)
            if pick is None:
                break
            best_gain, added, cost = pick
            spent += cost
            chosen.append(added)
            mask |= added.mask
        if len(chosen) == 1:
            return None
        value = " | ".join(str(c.cond.value) for c in chosen)
        cond = Condition(f.cond.field, "mentions", value)
        grown = Feature(cond, mask, f"m:{f.cond.field}:{value}", bits=spent)
        return grown, parent & mask, best_gain

    def narrow(
        self, pos: int, neg: int, start: tuple[Feature, ...]
    ) -> tuple[tuple[Feature, ...], int]:
        """Add conditions to ``start`` (largest FOIL gain first) while they exclude ``neg``."""
        rule = list(start)
        cov = self.mask_of(start)
        p, n = _popcount(cov & pos), _popcount(cov & neg)
        while len(rule) < self.max_conditions and n > 0 and p > 0:
            used = {f.key for f in rule}
            said = _said(rule)
            base = math.log2(p / (p + n))
            best: tuple[float, int, int] | None = None
            best_f: Feature | None = None
            for idx, f in enumerate(self.features):
                if f.key in used or said and _said((f,)) & said:
                    continue
                c2 = cov & f.mask
                p2, n2 = _popcount(c2 & pos), _popcount(c2 & neg)
                if p2 < self.min_coverage or n2 == n:
                    continue
                key = (p2 * (math.log2(p2 / (p2 + n2)) - base), p2, -idx)
                if best is None or key > best:
                    best, best_f = key, f
            if best is None or best_f is None or best[0] <= 0:
                break
            rule.append(best_f)
            cov &= best_f.mask
            p, n = _popcount(cov & pos), _popcount(cov & neg)
        return tuple(rule), cov
