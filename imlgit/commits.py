"""Commit messages: a subject, a rationale a reviewer can judge, and git trailers.

::

    revise: narrow r-glimmer-tansy to exclude marrow

    Batch 7 held three experiences with glimmer=yes, tansy=no and marrow=yes ...

    Imlgit-Op: revise
    Imlgit-Rules: r-glimmer-tansy
    Imlgit-Batch: b-0007

The trailer block is the last paragraph, every line ``Key: value`` (or the
continuation of one), the format ``git interpret-trailers --parse`` reads; it is
read by :mod:`imlgit.git.trailers` (dulwich's parser, set right where it differs
from git).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError, MessageError, RationaleRequired
from .git.trailers import split_trailers

__all__ = [
    "Identity",
    "CommitMessage",
    "OPS",
    "LEARNER",
    "POLICY",
    "MAX_EVIDENCE_IN_TRAILER",
    "parse_identity",
    "plain_rationale",
    "evidence_trailer",
    "evidence_ids",
    "with_notes",
]

# The operations a memory commit can record (the subject's prefix and Imlgit-Op).
OPS = (
    "init",
    "add",
    "induce",
    "edit",
    "revise",
    "merge",
    "retire",
    "restore",
    "prune",
    "rollback",
    "approve",
    "reject",
    "experiences",
    "recount",
    "forget",
)
MAX_SUBJECT = 200
MAX_RATIONALE = 20_000
MAX_EVIDENCE_IN_TRAILER = 64  # ids an Imlgit-Evidence trailer names; the rest are counted
_MORE = re.compile(r"\s*\(\+(\d+) more\)$")
_TRAILER_KEY = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}\Z")  # \Z: "$" allows a final "\n"
# git's trailer parser stops at a line that starts a patch ("---" then a space or the end).
_PATCH_DIVIDER = re.compile(r"^---(\s|$)")


@dataclass(frozen=True)
class Identity:
    """A commit author or committer: ``Name <email>``."""

    name: str
    email: str

    def __post_init__(self) -> None:
        for part in (self.name, self.email):
            if not part or any(c in part for c in "<>\n\r\0"):
                raise ConfigError(f"bad identity {self.name!r} <{self.email!r}>")

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8")


# The learner's identity. It is not a person's, and it can never approve.
LEARNER = Identity("imlgit learner", "learner@imlgit.invalid")
# The approval policy's identity: it approves where the policy in force may act.
POLICY = Identity("imlgit policy", "policy@imlgit.invalid")


def parse_identity(text: str) -> Identity:
    """``"Ada <ada@example.org>"`` -> Identity."""
    m = re.match(r"^\s*([^<>]+?)\s*<([^<>]+)>\s*$", text)
    if not m:
        raise ConfigError(f"an identity looks like 'Name <email>', got {text!r}")
    return Identity(m.group(1), m.group(2))


@dataclass(frozen=True)
class CommitMessage:
    """Subject, rationale and trailers; renders to and parses from git's format."""

    subject: str
    rationale: str
    trailers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def make(
        cls,
        op: str,
        summary: str,
        rationale: str,
        *,
        rules: Sequence[str] = (),
        trailers: Iterable[tuple[str, str]] = (),
    ) -> CommitMessage:
        """The usual shape: ``op: summary``, a rationale, Imlgit-Op and Imlgit-Rules."""
        if op not in OPS:
            raise MessageError(f"unknown operation {op!r}")
        items: list[tuple[str, str]] = [("Imlgit-Op", op)]
        if rules:
            items.append(("Imlgit-Rules", " ".join(rules)))
        items.extend(trailers)
        msg = cls(f"{op}: {summary}", rationale, tuple(items))
        msg.validate()
        return msg

    def validate(self) -> None:
        subject = self.subject
        if not subject.strip() or "\n" in subject or len(subject) > MAX_SUBJECT:
            raise MessageError(f"a commit subject is one line of 1 to {MAX_SUBJECT} characters")
        if not self.rationale or not self.rationale.strip():
            raise RationaleRequired("a rationale is required: say why this change is right (--why)")
        if len(self.rationale) > MAX_RATIONALE:
            raise MessageError(f"a rationale has at most {MAX_RATIONALE} characters")
        # imlgit writes its trailers as the last paragraph, so git reads a rationale that
        # ends in "Reason: ..." as text. Only a message with no trailers of its own would
        # have its rationale read as trailers.
        if not self.trailers and split_trailers(f"{subject}\n\n{self.rationale.strip()}\n")[1]:
            raise MessageError(
                "the rationale's last paragraph looks like git trailers ('Key: value' lines); "
                "reword it"
            )
        for number, line in enumerate(self.rationale.strip().split("\n"), 1):  # as rendered
            if _PATCH_DIVIDER.match(line):
                raise MessageError(
                    f"line {number} of the rationale starts with '---': git reads the rest of "
                    "the message as a patch and would miss its trailers; reword it"
                )
        if "\0" in self.rationale or "\0" in self.subject:
            raise MessageError("a commit message may not contain a NUL character")
        try:
            (self.subject + self.rationale).encode("utf-8")
        except UnicodeEncodeError:
            raise MessageError("a commit message must be valid Unicode") from None
        for key, value in self.trailers:
            if not _TRAILER_KEY.match(key):
                raise MessageError(f"bad trailer key {key!r}")
            if any(c in value for c in "\n\r\0") or len(value) > 10_000:
                raise MessageError(f"trailer {key} must be one line")

    def trailer(self, key: str) -> str | None:
        """The last value of a trailer, or None."""
        found = None
        for k, v in self.trailers:
            if k.lower() == key.lower():
                found = v
        return found

    def render(self) -> str:
        self.validate()
        text = self.subject.strip() + "\n\n" + self.rationale.strip() + "\n"
        if self.trailers:
            text += "\n" + "".join(f"{k}: {v}\n" for k, v in self.trailers)
        return text

    @classmethod
    def parse(cls, text: str) -> CommitMessage:
        """Parse any commit message (also ones written by hand with git)."""
        body, trailers = split_trailers(text.replace("\r\n", "\n").lstrip("\n"))
        subject, _, rest = body.strip("\n").partition("\n")
        paragraphs = [p for p in rest.strip("\n").split("\n\n") if p.strip()]
        return cls(subject.strip(), "\n\n".join(p.strip("\n") for p in paragraphs), tuple(trailers))

    @property
    def op(self) -> str | None:
        return self.trailer("Imlgit-Op")

    @property
    def rules(self) -> list[str]:
        value = self.trailer("Imlgit-Rules")
        return value.split() if value else []


def plain_rationale(text: str) -> str:
    """A model's or a person's rationale made safe to commit, its words kept.

    Line endings become "\\n", NULs and other control characters (tabs aside) go,
    and a line that git would take for the start of a patch ("---") becomes
    "- - -...", so git still finds the message's trailers.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c
        for c in text
        if c in "\n\t" or (ord(c) >= 32 and ord(c) != 127)
    )
    return "\n".join(
        "- - -" + ln[3:] if _PATCH_DIVIDER.match(ln) else ln for ln in text.split("\n")
    )


def evidence_trailer(ids: Sequence[str], more: int = 0) -> str:
    """An ``Imlgit-Evidence`` value: the first ids, then ``(+N more)`` for the rest
    (and for ``more`` ids already left out)."""
    shown = list(ids[:MAX_EVIDENCE_IN_TRAILER])
    rest = len(ids) - len(shown) + more
    return " ".join(shown) + (f" (+{rest} more)" if rest else "")


def evidence_ids(value: str | None) -> tuple[list[str], int]:
    """An ``Imlgit-Evidence`` value read back: the ids it names, and how many more."""
    if not value:
        return [], 0
    m = _MORE.search(value)
    if m is None:
        return value.split(), 0
    return value[: m.start()].split(), int(m.group(1))


def with_notes(text: str, notes: Sequence[str]) -> str:
    """``text`` and then as many of ``notes`` (paragraphs) as a rationale holds; the
    number of those left out is said."""
    for i, note in enumerate(notes):
        if len(text) + len(note) + 200 > MAX_RATIONALE:
            return text + f"\n\n({len(notes) - i} more notes left out)"
        text += "\n\n" + note
    return text
