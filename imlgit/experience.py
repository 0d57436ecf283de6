"""Experiences: what the agent saw, what it did, and what the environment answered.

One experience is one JSON object on one line of a JSONL file::

    {"id": "tt-0042", "scope": "truth-table", "input": {"glimmer": "yes"},
     "output": "LUMEN", "outcome": {"expected": "VESPER", "reward": 0.0}}

``docs/EXPERIENCES.md`` is the spec. Parsing is strict: an unknown or mistyped
field is an :class:`~imlgit.errors.ExperienceError` naming the file, the 1-based
line and the field, so evidence ids in rule rationales always resolve.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, BinaryIO

from .errors import ExperienceError, ImlgitError
from .inputs import View, view_of
from .rules import validate_rule_id

MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 32
"""How deeply a line's arrays and objects may nest (checked before decoding)."""
MAX_NUMBER_DIGITS = 64
MAX_ID_LENGTH = 128
MAX_KEY_LENGTH = 128
MAX_INPUT_VALUES = 10_000
"""Values (object members, array elements) in one input, counted through every level."""
MAX_SCOPE_LENGTH = 64
REWARD_RIGHT = 0.5
"""A reward at or above this means the agent's output was right."""

# \Z, not $ ("$" matches before a final newline): these are also used with .match.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
# NUL (refused by git tools and C strings) and lone surrogates (not encodable as
# UTF-8, so the journal or a commit would fail later): refused in every string.
_BAD_CHAR_RE = re.compile("[\x00\ud800-\udfff]")
# One JSON token at a time: a whole string (to its end if unterminated, so the scan
# stays linear), or a bracket.
_TOKEN_RE = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[{]|[\]}]', re.DOTALL)
_TOP_KEYS = ("id", "scope", "input", "output", "outcome", "rules")
MAX_CITED = 100
_OUTCOME_KEYS = ("expected", "reward", "text")

InputValue = str | int | float | bool


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_experience_id(value: object) -> bool:
    """Whether ``value`` is a safe experience id (usable as a rule source)."""
    return isinstance(value, str) and bool(ID_RE.fullmatch(value)) and ".." not in value


@dataclass(frozen=True)
class Outcome:
    """What the environment answered: at least one of the three is set."""

    expected: str | None = None
    reward: float | None = None
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.expected is not None:
            out["expected"] = self.expected
        if self.reward is not None:
            out["reward"] = self.reward
        if self.text is not None:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class Experience:
    """One experience. Build it with :meth:`from_dict` to have it validated."""

    id: str
    scope: str
    input: str | dict[str, Any]
    outcome: Outcome
    output: str | None = None
    # The rule ids the agent's answer cited (from ``imlgit ask``), so the outcome
    # can be credited to them: cited in a right answer counts for a rule, in a
    # wrong one against it.
    rules: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @classmethod
    def from_dict(
        cls, d: object, *, path: str | None = None, line: int | None = None
    ) -> Experience:
        """Validate a decoded JSON object; errors name ``path``, ``line`` and the field."""

        def err(msg: str, fld: str | None = None) -> ExperienceError:
            return ExperienceError(msg, path=path, line=line, field=fld)

        if not isinstance(d, Mapping):
            raise err(f"an experience is a JSON object, got {type(d).__name__}")
        for key in d:
            if key not in _TOP_KEYS:
                raise err(f"unknown field; an experience has {', '.join(_TOP_KEYS)}", str(key))

        scope = d.get("scope")
        if scope is None:
            raise err("a scope is required", "scope")
        if not isinstance(scope, str) or not SCOPE_RE.fullmatch(scope):
            raise err(
                f"scope must be lowercase letters, digits, '.', '_' or '-' (at most "
                f"{MAX_SCOPE_LENGTH}), starting with a letter or digit; got {scope!r}",
                "scope",
            )

        inp = _check_input(d.get("input"), err)

        output = d.get("output")
        if output is not None and not isinstance(output, str):
            raise err(f"output must be text, got {type(output).__name__}", "output")
        _check_chars(output, "output", err)

        raw = d.get("outcome")
        if raw is None:
            raise err("an outcome is required", "outcome")
        if not isinstance(raw, Mapping):
            raise err("outcome must be an object with expected, reward or text", "outcome")
        for key in raw:
            if key not in _OUTCOME_KEYS:
                raise err(
                    f"unknown field; an outcome has {', '.join(_OUTCOME_KEYS)}", f"outcome.{key}"
                )
        expected, reward, text = raw.get("expected"), raw.get("reward"), raw.get("text")
        if expected is not None and (not isinstance(expected, str) or not expected.strip()):
            raise err(f"expected must be non-empty text, got {expected!r}", "outcome.expected")
        if reward is not None:
            if not _is_finite(reward):
                raise err(f"reward must be a finite number, got {_short(reward)}", "outcome.reward")
            reward = float(reward)
        if text is not None and not isinstance(text, str):
            raise err(f"text must be text, got {type(text).__name__}", "outcome.text")
        _check_chars(expected, "outcome.expected", err)
        _check_chars(text, "outcome.text", err)
        if expected is None and reward is None and text is None:
            raise err("an outcome needs at least one of expected, reward, text", "outcome")
        outcome = Outcome(expected=expected, reward=reward, text=text)

        cited = d.get("rules") or ()
        if not isinstance(cited, (list, tuple)) or len(cited) > MAX_CITED:
            raise err(f"rules is a list of at most {MAX_CITED} rule ids", "rules")
        for rid in cited:
            try:
                validate_rule_id(rid)
            except ImlgitError:
                raise err(f"not a rule id: {rid!r}", "rules") from None
        rules = tuple(dict.fromkeys(cited))

        exp_id = d.get("id")
        if exp_id is None:
            body: dict[str, Any] = {"scope": scope, "input": inp, "outcome": outcome.to_dict()}
            if output is not None:
                body["output"] = output
            if rules:
                body["rules"] = list(rules)
            exp_id = "x-" + _sha256(_canonical(body))[:12]
        elif not valid_experience_id(exp_id):
            raise err(
                "an id is letters, digits, '.', '_', ':' or '-' (at most "
                f"{MAX_ID_LENGTH}), starting with a letter or digit, without '..'; got {exp_id!r}",
                "id",
            )
        return cls(id=exp_id, scope=scope, input=inp, outcome=outcome, output=output, rules=rules)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (``from_dict(e.to_dict()) == e``)."""
        out: dict[str, Any] = {"id": self.id, "scope": self.scope}
        out["input"] = self.input if isinstance(self.input, str) else copy.deepcopy(self.input)
        if self.output is not None:
            out["output"] = self.output
        out["outcome"] = self.outcome.to_dict()
        if self.rules:
            out["rules"] = list(self.rules)
        return out

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, compact separators, UTF-8 characters kept."""
        return _canonical(self.to_dict())

    def content_hash(self) -> str:
        """SHA-256 (hex) of :meth:`to_json`."""
        return _sha256(self.to_json())

    @property
    def label(self) -> str | None:
        """The known correct outcome, or None.

        ``outcome.expected`` when given; else the agent's ``output`` when the reward
        says it was right (reward >= 0.5); else unknown.
        """
        if self.outcome.expected is not None:
            return self.outcome.expected
        reward = self.outcome.reward
        if reward is not None and reward >= REWARD_RIGHT and self.output is not None:
            return self.output
        return None

    @functools.cached_property
    def view(self) -> View:
        """The input as conditions test it (:mod:`imlgit.inputs`)."""
        return view_of(self.input)

    @functools.cached_property
    def acted(self) -> View:
        """The input with the agent's output as the field ``output`` (outcome rules)."""
        return view_of(self.input, self.output)

    @property
    def reward_only(self) -> bool:
        """An action and its reward, without the expected answer (the paper's setting)."""
        o = self.outcome
        return o.expected is None and o.reward is not None and self.output is not None

    @property
    def right(self) -> bool | None:
        """Whether the agent's output was right: by ``expected``, else by the reward."""
        if self.outcome.expected is not None and self.output is not None:
            return self.output == self.outcome.expected
        if self.outcome.reward is not None:
            return self.outcome.reward >= REWARD_RIGHT
        return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def _is_finite(value: object) -> bool:
    """A number that is finite as a float (an int too large for a float is not)."""
    if not _is_number(value):
        return False
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:
        return False


def _check_chars(
    value: object,
    fld: str,
    err: Callable[[str, str | None], ExperienceError],
    what: str = "the text",
) -> None:
    if isinstance(value, str):
        bad = _BAD_CHAR_RE.search(value)
        if bad is not None:
            char = "NUL" if bad.group() == "\x00" else f"a lone surrogate U+{ord(bad.group()):04X}"
            raise err(f"{what} holds {char} (at character {bad.start() + 1})", fld)


def _check_input(
    value: object, err: Callable[[str, str | None], ExperienceError]
) -> str | dict[str, Any]:
    if value is None:
        raise err("an input is required", "input")
    if isinstance(value, str):
        if not value.strip():
            raise err("input text must not be empty", "input")
        _check_chars(value, "input", err)
        return value
    if not isinstance(value, Mapping):
        raise err(
            f"input is text or an object (nested objects, arrays, text, numbers, booleans), "
            f"got {type(value).__name__}",
            "input",
        )
    if not value:
        raise err("input must not be an empty object", "input")
    budget = [MAX_INPUT_VALUES]
    out = _check_value(value, "input", 0, budget, err)
    assert isinstance(out, dict)
    return out


def _check_value(
    value: object,
    fld: str,
    depth: int,
    budget: list[int],
    err: Callable[[str, str | None], ExperienceError],
) -> Any:
    """A copy of one JSON value of an input, checked: text, finite numbers, booleans,
    null, and arrays and objects of them, within MAX_DEPTH and MAX_INPUT_VALUES."""
    if depth > MAX_DEPTH:
        raise err(f"input nested deeper than {MAX_DEPTH} levels", fld)
    budget[0] -= 1
    if budget[0] < 0:
        raise err(f"an input holds at most {MAX_INPUT_VALUES} values", fld)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        _check_chars(value, fld, err)
        return value
    if _is_number(value):
        if not _is_finite(value):
            raise err(f"numbers must be finite, got {_short(value)}", fld)
        return value
    if isinstance(value, Mapping):
        obj: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip():
                raise err("an input field name must be non-empty text", f"{fld}.{key}")
            _check_chars(key, fld, err, what=f"the field name {key[:40]!r}")
            if len(key) > MAX_KEY_LENGTH:
                raise err(
                    f"a field name has at most {MAX_KEY_LENGTH} characters, got {len(key)}",
                    f"{fld}.{key[:40]}...",
                )
            obj[key] = _check_value(item, f"{fld}.{key}", depth + 1, budget, err)
        return obj
    if isinstance(value, (list, tuple)):
        return [
            _check_value(item, f"{fld}[{i}]", depth + 1, budget, err)
            for i, item in enumerate(value)
        ]
    raise err(
        f"input values are text, numbers, booleans, null, arrays or objects, "
        f"got {type(value).__name__}",
        fld,
    )


@dataclass
class LoadResult:
    """Experiences read from a file, and the lines skipped (line number, error)."""

    experiences: list[Experience] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        # int() itself refuses over 4,300 digits; no experience needs a tenth of that.
        raise ValueError(f"a number of {digits} digits (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _too_deep(text: str) -> int | None:
    """The 1-based column where nesting first exceeds MAX_DEPTH, or None.

    json.loads recurses once per level and raises RecursionError (not ValueError)
    on deep input, so depth is counted first, skipping brackets inside strings.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None  # the common case: too few brackets to be too deep
    depth = 0
    for m in _TOKEN_RE.finditer(text):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.start() + 1
        elif c in "]}":
            depth -= 1
    return None


def _line_text(raw: bytes | str, lineno: int, path: str) -> str:
    if isinstance(raw, bytes):
        if len(raw) > MAX_LINE_BYTES:
            raise ExperienceError(
                f"line longer than {MAX_LINE_BYTES} bytes", path=path, line=lineno
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExperienceError(
                f"not UTF-8 (byte {exc.start + 1})", path=path, line=lineno
            ) from None
    else:
        text = raw
        if len(text.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
            raise ExperienceError(
                f"line longer than {MAX_LINE_BYTES} bytes", path=path, line=lineno
            )
    if lineno == 1:
        text = text.removeprefix("\ufeff")
    return text.removesuffix("\r")


def decode_json_line(raw: bytes | str, *, path: str, line: int) -> Any:
    """One JSONL line decoded within imlgit's bounds, or :class:`ExperienceError` at path:line.

    Bounds: at most ``MAX_LINE_BYTES``, UTF-8, nesting at most ``MAX_DEPTH``, no key
    twice in an object, integers of at most ``MAX_NUMBER_DIGITS`` digits, no NaN or
    Infinity. A blank line is an error here (:func:`load_jsonl` skips them).
    """
    return _loads(_line_text(raw, line, path), line, path)


def _loads(text: str, lineno: int, path: str) -> Any:
    col = _too_deep(text)
    if col is not None:
        raise ExperienceError(
            f"arrays and objects nested deeper than {MAX_DEPTH} levels (column {col})",
            path=path,
            line=lineno,
        )
    try:
        obj = json.loads(
            text,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_object,
            parse_int=_bounded_int,
        )
    except _DuplicateKey as exc:
        raise ExperienceError(
            f"the key {exc.key[:100]!r} is given twice in one object",
            path=path,
            line=lineno,
            field=exc.key[:100],
        ) from None
    except ValueError as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        at = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ExperienceError(f"bad JSON: {msg}{at}", path=path, line=lineno) from None
    return obj


def _parse_line(raw: bytes | str, lineno: int, path: str) -> Experience | None:
    text = _line_text(raw, lineno, path)
    if not text.strip():
        return None
    obj = _loads(text, lineno, path)
    return Experience.from_dict(obj, path=path, line=lineno)


def _collect(lines: Iterator[tuple[int, bytes | str]], path: str, skip_invalid: bool) -> LoadResult:
    result = LoadResult()
    seen: dict[str, int] = {}
    for lineno, raw in lines:
        try:
            exp = _parse_line(raw, lineno, path)
            if exp is None:
                continue
            if exp.id in seen:
                raise ExperienceError(
                    f"duplicate id {exp.id!r} (first on line {seen[exp.id]})",
                    path=path,
                    line=lineno,
                    field="id",
                )
        except ExperienceError as exc:
            if not skip_invalid:
                raise
            result.skipped.append((lineno, str(exc)))
            continue
        seen[exp.id] = lineno
        result.experiences.append(exp)
    return result


def _file_lines(f: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Lines of a binary file; a line over the limit is yielded cut at limit + 1 bytes."""
    lineno = 0
    while True:
        chunk = f.readline(MAX_LINE_BYTES + 2)
        if not chunk:
            return
        lineno += 1
        if not chunk.endswith(b"\n") and len(chunk) > MAX_LINE_BYTES:
            while True:  # skip the rest of the long line
                rest = f.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield lineno, chunk
            continue
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        yield lineno, chunk


def load_jsonl(path: str | PathLike[str], *, skip_invalid: bool = False) -> LoadResult:
    """Read experiences from a JSONL file; blank lines are ignored.

    An invalid line (bad JSON or UTF-8, a missing, mistyped or unknown field, an id
    already used in the file, a line over 1 MiB) raises :class:`ExperienceError`,
    or with ``skip_invalid`` is recorded in ``LoadResult.skipped``; so does a file
    that cannot be read (missing, a directory), naming it.
    """
    name = str(path)
    try:
        with open(path, "rb") as f:
            return _collect(_file_lines(f), name, skip_invalid)
    except OSError as exc:  # missing, a directory, unreadable: say so, with the file
        reason = exc.strerror or type(exc).__name__
        raise ExperienceError(f"cannot read the experiences: {reason}", path=name) from None


def parse_jsonl_text(
    text: str, *, path: str = "<string>", skip_invalid: bool = False
) -> LoadResult:
    """Like :func:`load_jsonl`, from a string (lines split on ``\\n`` only)."""
    return _collect(enumerate(text.split("\n"), 1), path, skip_invalid)


def dump_jsonl(experiences: list[Experience]) -> str:
    """Experiences as JSONL text, one canonical line each."""
    return "".join(e.to_json() + "\n" for e in experiences)
