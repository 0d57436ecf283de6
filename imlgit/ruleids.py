"""Rule ids and where rule files live: what makes an id safe, the path a new rule
gets (``rules/<scope>/<id>.md``) or an old one had (``rules/<xx>/<id>.md``), the id
and scope a path gives a file that does not state them, and the ids and titles
imlgit makes for rules written without them (RULE-FORMAT.md, "Where rules live").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container
from dataclasses import dataclass

from .errors import RuleIdError

MAX_ID_LENGTH = 100
RULES_DIR = "rules"
EXPERIENCES_DIR = "experiences"  # the evidence: the experiences learning stored



@dataclass(frozen=True)
class RuleEntry:
    """A rule file as a commit holds it: the SHA of its blob, and its path (the store
    reads both; the retrieval index needs only the blob, so the path may be left out)."""

    blob: str
    path: str = ""


# \Z, not $: "$" also matches before a final newline, so "r-1\n" would pass.
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
# A hand-written rule needs only its statement: the id is the file name, the title
# the statement's first sentence, the scope the folder (or "general"), the status
# active, the figures 0 and the dates the file's commits (see ``Rule.created``).
_DEFAULT_SCOPE = "general"
_SHARD_RE = re.compile(r"[0-9a-f]{2}\Z")  # rules/<xx>/: the layout before scope folders


def validate_rule_id(rule_id: object, *, path: str | None = None, line: int | None = None) -> str:
    """Return ``rule_id`` if it is a safe file name, else raise :class:`RuleIdError`.

    Safe: lowercase letters, digits, ``.``, ``_`` and ``-``; starts with a letter or
    digit; no ``..``; at most 100 characters. So an id can never name a path outside
    ``rules/``, a hidden file, or a control character.
    """
    if not isinstance(rule_id, str):
        raise RuleIdError("a rule id must be a string", path=path, line=line, field="id")
    if not rule_id:
        raise RuleIdError("a rule id must not be empty", path=path, line=line, field="id")
    if len(rule_id) > MAX_ID_LENGTH:
        raise RuleIdError(
            f"a rule id has at most {MAX_ID_LENGTH} characters, got {len(rule_id)}",
            path=path,
            line=line,
            field="id",
        )
    if ".." in rule_id or not _ID_RE.fullmatch(rule_id) or rule_id.endswith("."):
        raise RuleIdError(
            f"unsafe rule id {rule_id!r}: use lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, without '..'",
            path=path,
            line=line,
            field="id",
        )
    return rule_id


def new_rule_path(rule_id: str, scope: str = _DEFAULT_SCOPE) -> str:
    """Where imlgit writes a new rule: ``rules/<scope>/<id>.md``, a folder a person
    reading the repository understands. A rule already in the repository keeps the
    path it has (:attr:`Rule.path`); people may put rules anywhere under ``rules/``.
    """
    validate_rule_id(rule_id)
    if not _SCOPE_RE.fullmatch(scope):
        scope = _DEFAULT_SCOPE
    return f"{RULES_DIR}/{scope}/{rule_id}.md"


def shard_path(rule_id: str) -> str:
    """Where imlgit wrote rules before scope folders: ``rules/<xx>/<id>.md``, ``xx``
    the first two hex digits of the SHA-1 of the id. Such files keep being read and
    written where they are."""
    validate_rule_id(rule_id)
    shard = hashlib.sha1(rule_id.encode("utf-8")).hexdigest()[:2]
    return f"{RULES_DIR}/{shard}/{rule_id}.md"


def rule_id_from_path(path: str) -> str | None:
    """The rule id a path under ``rules/`` names (its file name), or None for any
    other path."""
    if not path.startswith(RULES_DIR + "/") or not path.endswith(".md"):
        return None
    return path.rsplit("/", 1)[-1][: -len(".md")]


def scope_from_path(path: str | None) -> str:
    """The scope a rule file without a ``scope`` field has: its first folder under
    ``rules/`` when that is a scope name (not an old ``rules/<xx>/`` shard), else
    ``general``."""
    parts = (path or "").split("/")
    if len(parts) > 2 and parts[0] == RULES_DIR:
        folder = parts[1]
        if _SCOPE_RE.fullmatch(folder) and not _SHARD_RE.fullmatch(folder):
            return folder
    return _DEFAULT_SCOPE


def title_from_statement(statement: str) -> str:
    """A title for a rule written without one: the statement's first sentence, cut at
    a word to at most 80 characters."""
    first = re.split(r"(?<=[.!?])\s", statement.strip(), maxsplit=1)[0]
    first = " ".join(first.split()).rstrip(".!?")
    if len(first) > 80:
        first = first[:80].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return first or "rule"


def slugify(text: str, *, prefix: str = "r-", max_length: int = 60) -> str:
    """A safe rule id made from a title: ``"Glimmer & tansy!"`` -> ``r-glimmer-tansy``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = slug[: max_length - len(prefix)].rstrip("-")
    return prefix + (slug or "rule")


def learned_rule_id(scope: str, statement: str, taken: Container[str]) -> str:
    """The id of a rule the learner adds: ``r-`` and 8 hex digits of the SHA-1 of its
    scope and first statement (more digits when those are taken). It names none of
    the rule's conditions, so it stays true when the rule is narrowed or widened
    (the title follows the form); the same rule learned in two clones gets the same
    id, different rules different ones, with no counter to share."""
    digest = hashlib.sha1(f"{scope}\n{statement}".encode()).hexdigest()
    for n in range(8, len(digest) + 1, 2):
        rid = f"r-{digest[:n]}"
        if rid not in taken:
            return rid
    return unique_rule_id(f"r-{digest}", taken)


def unique_rule_id(title: str, taken: Container[str]) -> str:
    """:func:`slugify` of ``title``, with ``-2``, ``-3``, ... when an id is taken."""
    base = slugify(title, max_length=60)
    rid, n = base, 2
    while rid in taken:
        rid = f"{base}-{n}"
        n += 1
    return rid
