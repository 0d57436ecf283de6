"""The free-text shape: support messages written the way people write them.

A message is drawn as facts (product, the order's age in days, the price, which
concepts hold: damaged, wants a refund, angry, a plain question) and written in
English: several surface forms per concept, negated mentions of concepts that do
not hold ("it isn't broken"), filler sentences with numbers that count other
things, the age as "12 days ago", "twelve days ago", "last week", "3 weeks back"
or "a fortnight ago", the price as "$40" or "forty dollars", sentences shuffled.

The hidden policy (thresholds and a product line drawn from the seed) reads the
facts. It cannot be written as checkable rules (a concept is any of its
synonyms, and a negated mention must not count), so its ceiling is the oracle.
"""

from __future__ import annotations

import random
from typing import Any

from .shapes import Environment

__all__ = ["SUPPORT_CLASSES", "SupportText", "number_words"]

PRODUCTS = ("Vornix", "Quillmate", "Dravonet", "Tessiboard", "Plumbrae", "Kestrelle", "Zarnith")
SUPPORT_CLASSES = ("REFUND", "REPAIR", "ESCALATE", "INFO")

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """``n`` (0..999) in English words: ``forty-two``, ``one hundred and five``."""
    if not 0 <= n <= 999:
        raise ValueError("0..999")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    head = f"{_ONES[hundreds]} hundred"
    return head + (f" and {number_words(rest)}" if rest else "")


# concept -> ways of saying it holds / ways of saying it does not
_SAID: dict[str, tuple[str, ...]] = {
    "damaged": (
        "It arrived damaged.", "The casing is cracked.", "The screen came shattered.",
        "Honestly it's broken.", "The lid got dented in transit.", "One corner was smashed.",
        "The hinge snapped the first time I opened it.", "There is a big crack down the side.",
        "It showed up busted.",
    ),
    "refund": (
        "I want my money back.", "Please refund me.", "Could I get a refund?",
        "I'd like to be reimbursed.", "Send the money back to my card.",
        "I would rather have a refund.", "Can you return the payment?",
    ),
    "angry": (
        "This is outrageous!", "I am furious.", "Totally unacceptable.",
        "I'm fed up with this company.", "Absolutely livid right now.",
        "Worst service I have ever had.", "I will tell everyone about this.",
    ),
    "question": (
        "Quick question about the manual.", "How do I pair it with my phone?",
        "Is there a warranty on it?", "Where can I find the setup guide?",
        "Does it work with the old charger?", "Just wondering about the colours.",
    ),
}  # fmt: skip
_DENIED: dict[str, tuple[str, ...]] = {
    "damaged": (
        "It isn't broken or anything.", "Nothing is damaged.", "The unit is not cracked.",
        "No damage on the box.", "It's not smashed, to be clear.", "It arrived intact.",
    ),
    "refund": (
        "I don't want a refund.", "No need for a refund.", "I'm not asking for my money back.",
    ),
    "angry": ("Not angry, just asking.", "I'm not upset about it."),
}  # fmt: skip
_GREETINGS = ("", "", "Hi,", "Hello team,", "Hey,", "Good afternoon,", "Dear support,")
_SIGNOFFS = ("", "", "Thanks,", "Regards, Sam.", "Cheers.", "Thank you in advance.", "- J")
_FILLER = (
    "I have been a customer for years.", "My order number is {order}.",
    "We have {kids} kids, so it gets used a lot.", "The weather has been awful here.",
    "Sent from my phone.", "I live about {miles} miles from the depot.",
    "My neighbour has the same one.", "I read the FAQ first.", "Sorry for the long message.",
)  # fmt: skip
_BOUGHT = (
    "I bought a {p} {t}.", "My {p} was delivered {t}.", "Ordered the {p} {t}.",
    "{T}, I received my {p}.", "The {p} came {t}.", "Got my new {p} {t}.",
)  # fmt: skip
_PRICE = (
    "It cost ${a}.", "I paid {w} dollars for it.", "Paid ${a} for it.",
    "The price was {a} dollars.", "It was {w} dollars.", "That's ${a} down the drain.",
    "{a} USD, not cheap.",
)  # fmt: skip


def _age_phrase(days: int, rng: random.Random) -> str:
    """The order's age the way people say it (one of several forms for the same days)."""
    forms: list[str] = []
    if days == 1:
        forms += ["yesterday", "a day ago"]
    if days == 7:
        forms += ["last week", "a week ago"]
    if days == 14:
        forms += ["a fortnight ago", "two weeks ago"]
    if days == 30:
        forms += ["a month ago"]
    if days % 7 == 0 and days > 7:
        w = days // 7
        forms += [f"{w} weeks ago", f"{w} weeks back", f"{number_words(w)} weeks ago"]
    forms += [f"{days} days ago", f"{number_words(days)} days ago", f"{days} days back"]
    return rng.choice(forms)


class SupportText(Environment):
    """Support messages in free English under a seeded hidden policy.

    Decision list on the facts: an angry message about an order over ``amount``
    dollars is ESCALATE; a damaged one older than ``days`` (or of a product in the
    seed's fragile line, whatever its age) is REPAIR; other damaged ones, and
    those asking for a refund, are REFUND; the rest INFO.
    """

    name = "support-text"
    classes = SUPPORT_CLASSES

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        rng = random.Random(f"support-text:{seed}")
        self.days = rng.choice((14, 21, 30, 40))
        self.amount = rng.choice((60, 90, 120))
        self.line = tuple(sorted(rng.sample(PRODUCTS, 2)))

    def random_facts(self, rng: random.Random) -> dict[str, Any]:
        # multiples of a week are common, so "3 weeks back" and "a fortnight" occur often
        days = rng.choice((7, 14, 21, 28, 35, 42)) if rng.random() < 0.4 else rng.randint(1, 60)
        return {
            "product": rng.choice(PRODUCTS),
            "days": days,
            "amount": rng.randint(5, 220),
            "damaged": rng.random() < 0.45,
            "refund": rng.random() < 0.3,
            "angry": rng.random() < 0.3,
            "question": rng.random() < 0.4,
        }

    def oracle(self, facts: Any, output: str | None = None) -> str:
        if facts["angry"] and facts["amount"] > self.amount:
            return "ESCALATE"
        if facts["damaged"] and (facts["days"] > self.days or facts["product"] in self.line):
            return "REPAIR"
        if facts["damaged"] or facts["refund"]:
            return "REFUND"
        return "INFO"

    def present(self, facts: Any, rng: random.Random) -> str:
        age = _age_phrase(facts["days"], rng)
        bought = rng.choice(_BOUGHT).format(p=facts["product"], t=age, T=age[0].upper() + age[1:])
        a = facts["amount"]
        middle = [bought, rng.choice(_PRICE).format(a=a, w=number_words(a))]
        for concept in ("damaged", "refund", "angry", "question"):
            if facts[concept]:
                middle.append(rng.choice(_SAID[concept]))
            elif concept in _DENIED and rng.random() < 0.3:
                middle.append(rng.choice(_DENIED[concept]))
        for _ in range(rng.choice((0, 1, 1, 2))):
            middle.append(
                rng.choice(_FILLER).format(
                    order=rng.randint(1000, 9999), kids=rng.randint(2, 4), miles=rng.randint(2, 40)
                )
            )
        rng.shuffle(middle)
        parts = [rng.choice(_GREETINGS), *middle, rng.choice(_SIGNOFFS)]
        return " ".join(p for p in parts if p)

    def describe(self) -> str:
        return (
            "support messages in free English (synonyms, negation, filler, the order's age and "
            "price in digits or words); 4 classes by a hidden policy on concepts, the age "
            f"(> {self.days} days), the price (> ${self.amount}) and a product line "
            f"({', '.join(self.line)})"
        )
