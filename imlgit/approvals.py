"""Who may bring the learner's commits onto main, and how identities are compared.

Learned changes reach main only inside an approval record: a merge commit whose
message says ``Imlgit-Op: approve``, written by a person, or by the policy where
the policy in force may act (``gated`` or ``auto`` in ``imlgit.toml`` on main as
it was before the merge). The commits such a merge brings in (reachable from its
second parent, not from its first) are covered by it. A commit imlgit wrote (its
author or committer has an address at ``imlgit.invalid``) that no approval
covers is :class:`Uncovered`: :class:`imlgit.store.Store` refuses to move main
to it, and ``imlgit doctor`` and the hooks report the ones a plain ``git merge``
brought.

Identities are compared as identities, not spellings (:func:`identity_key`):
Unicode compatibility forms folded, case folded, marks, invisible characters and
whitespace removed, look-alike letters from other scripts mapped to the Latin
letter they imitate, angle brackets and trailing dots dropped, and a ``+tag`` in
the local part ignored. So ``<Learner@IMLGIT.invalid. >``, a zero-width space
or a dotless i in the address, or ``ada+x@example.org`` for ``ada@example.org``
are the same identity.

This module reads commits through the callables it is given, so it sits below
the store (which calls it before every move of main) and needs no git library.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .commits import POLICY, Identity, parse_identity
from .errors import ImlgitError, SelfApprovalError
from .rules import EXPERIENCES_DIR, rule_id_from_path

__all__ = [
    "RESERVED_DOMAIN",
    "Uncovered",
    "identity_key",
    "address_key",
    "is_imlgit",
    "is_approval",
    "approver_of",
    "check_approver",
    "uncovered",
    "person_only",
    "person_only_paths",
]

RESERVED_DOMAIN = "imlgit.invalid"  # imlgit's own identities: the learner, the policy
POLICIES_THAT_APPROVE = ("gated", "auto")
TRUST = {"manual": 0, "gated": 1, "auto": 2}  # how much each policy approves on its own

# Letters of other scripts drawn like a Latin letter (Unicode's confusables, the
# lower-case letters an address can hide behind), mapped to that letter.
_LOOKALIKES = str.maketrans({
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɪ": "i", "ʀ": "r", "ʏ": "y",
    "ο": "o", "α": "a", "ν": "v", "ι": "i", "κ": "k", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "γ": "y", "ε": "e", "η": "n", "μ": "u", "ω": "w", "ϲ": "c", "ϳ": "j",
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "һ": "h",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ѡ": "w", "ɼ": "r", "ⅼ": "l", "ӏ": "l", "ǀ": "l",
    "ᴀ": "a", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o",
    "ᴘ": "p", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ꜱ": "s", "ʟ": "l",
    "ɴ": "n", "ʜ": "h", "ɢ": "g", "ʙ": "b", "ꞯ": "q", "ɸ": "f", "∂": "d",
})  # fmt: skip
_MAX_ADDRESS = 1000  # longer text is not an address; compared as it is, cut


def _strip_invisible(text: str) -> str:
    """Without format characters (zero-width space, joiners, BOM, soft hyphen,
    direction marks), marks (accents, the dot of a dotted I), controls and spaces."""
    return "".join(
        c for c in text if unicodedata.category(c)[0] not in "MCZ" and not c.isspace()
    )


@functools.lru_cache(maxsize=4096)
def address_key(email: str) -> str:
    """An address as compared: see the module docstring. Never raises."""
    # look-alikes mapped before compatibility forms and case are folded (NFKD and
    # casefold both turn ϲ into σ), and again after (ＩＭＬ, upper-case Cyrillic)
    text = unicodedata.normalize("NFKD", email[:_MAX_ADDRESS].translate(_LOOKALIKES))
    text = text.translate(_LOOKALIKES).casefold()
    text = unicodedata.normalize("NFKD", text)  # casefold may compose again (İ -> i̇)
    text = _strip_invisible(text).translate(_LOOKALIKES)
    text = text.strip("<>").rstrip(".")
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    local = local.split("+", 1)[0] if not local.startswith("+") else local
    return f"{local}@{domain.strip('.')}"


def identity_key(who: Identity | str) -> str:
    """The compared form of an identity's address (``Name <email>`` or an Identity);
    text that is no identity is compared as an address."""
    if isinstance(who, Identity):
        return address_key(who.email)
    try:
        return address_key(parse_identity(who).email)
    except ImlgitError:
        return address_key(who)


def is_imlgit(who: Identity | str) -> bool:
    """Whether ``who`` is one of imlgit's own identities (not a person)."""
    key = identity_key(who)
    domain = key.rpartition("@")[2]
    return domain == RESERVED_DOMAIN or domain.endswith("." + RESERVED_DOMAIN)


def person_only(path: str) -> bool:
    """Whether only a person may bring a change of ``path`` onto main: anything but a
    rule file (``rules/**.md``) and the evidence (``experiences/``): the
    configuration, the README, hooks, rejection records, any other file."""
    return rule_id_from_path(path) is None and not path.startswith(EXPERIENCES_DIR + "/")


def person_only_paths(paths: Iterable[str]) -> list[str]:
    """The paths among ``paths`` only a person may approve, the configuration first."""
    found = [p for p in paths if person_only(p)]
    return sorted(found, key=lambda p: (p != "imlgit.toml", p))


class _Commit(Protocol):
    @property
    def sha(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def committer(self) -> str: ...
    @property
    def parents(self) -> tuple[str, ...]: ...
    def trailer(self, key: str) -> str | None: ...


C = TypeVar("C", bound=_Commit)


def is_approval(c: _Commit) -> bool:
    """A merge that says it is an approval (whether it may be one is for
    :func:`uncovered` to judge)."""
    return len(c.parents) >= 2 and (c.trailer("Imlgit-Op") or "").strip() == "approve"


def approver_of(c: _Commit) -> str:
    """Who approved with merge ``c``: its author."""
    return c.author


def check_approver(approver: Identity | str, commits: Iterable[_Commit], proposal: str) -> None:
    """Refuse an approval by imlgit itself, or by anyone who wrote or committed one
    of the commits it approves, compared by :func:`identity_key`."""
    if is_imlgit(approver):
        raise SelfApprovalError(
            f"{approver} is imlgit's own identity, not a person's; the learner cannot "
            "approve a change (set IMLGIT_AUTHOR or git's user.name / user.email)"
        )
    key = identity_key(approver)
    for c in commits:
        for role, who in (("wrote", c.author), ("committed", c.committer)):
            if identity_key(who) == key:
                raise SelfApprovalError(
                    f"{approver} {role} commit {c.sha[:12]} of proposal {proposal}; "
                    "someone else must approve it"
                )


@dataclass(frozen=True)
class Uncovered:
    """A commit of imlgit's on main that no valid approval brought."""

    sha: str
    author: str
    why: str

    def __str__(self) -> str:
        by = f" by {self.author}" if self.author else ""
        return f"{self.sha[:12]}{by}: {self.why}"


def uncovered(
    commits: Sequence[C],
    side: Callable[[C], Sequence[C]],
    policy_before: Callable[[C], str],
    may_approve: Callable[[C, Sequence[C]], str | None] | None = None,
    changed: Callable[[C], Sequence[str]] | None = None,
    guarded: Callable[[C], str | None] | None = None,
) -> list[Uncovered]:
    """The commits of imlgit's among ``commits`` (what a move of main brings, or
    main's whole history) that no valid approval among them covers.

    ``side(a)`` is what approval ``a`` brings (reachable from its second parent, not
    its first); ``policy_before(a)`` the review policy in force when ``a`` was made
    (the strictest of ``imlgit.toml`` at its parents and at main before the move:
    the caller decides). ``may_approve(a, side)``, when given, says why an approval
    does not count (None: it does), for the checks a team adds (signed approvals: a
    person's, and the policy's by whoever ran it). ``changed(a)``, when given, is the paths approval
    ``a`` changed on main: the policy never approves one only a person may
    (:func:`person_only`)."""
    covered: set[str] = set()
    invalid: dict[str, str] = {}
    for a in commits:
        if not is_approval(a):
            continue
        by = approver_of(a)
        brought = side(a)
        why: str | None = None
        if identity_key(by) == identity_key(POLICY):
            policy = policy_before(a)
            if policy not in POLICIES_THAT_APPROVE:
                why = f"the policy approved it while policy = {policy!r}, where only a person may"
            elif changed is not None and (theirs := person_only_paths(changed(a))):
                why = (f"the policy approved a change of {', '.join(theirs[:3])}, which only "
                       "a person may")  # fmt: skip
            if why is None and may_approve is not None:  # signed by the person who ran it
                why = may_approve(a, brought)
        elif is_imlgit(by):
            why = f"approved by {by}, imlgit's own identity, not a person"
        else:
            key = identity_key(by)
            for c in brought:
                if key in (identity_key(c.author), identity_key(c.committer)):
                    why = f"approved by {by}, who wrote or committed {c.sha[:12]} of it"
                    break
            if why is None and may_approve is not None:
                why = may_approve(a, brought)
        if why is None:
            covered.update(c.sha for c in brought)
        else:
            invalid[a.sha] = why
    out = []
    for c in commits:
        if c.sha in covered:
            continue
        if c.sha in invalid:
            out.append(Uncovered(c.sha, c.author, "an approval that does not count: "
                                 + invalid[c.sha]))  # fmt: skip
        elif (is_imlgit(c.author) or is_imlgit(c.committer)) and not is_approval(c):
            out.append(Uncovered(c.sha, c.author, "written by imlgit and brought onto main "
                                 "without an approval"))  # fmt: skip
        elif guarded is not None and not is_approval(c) and (why := guarded(c)) is not None:
            out.append(Uncovered(c.sha, c.author, why))
    return out
