"""Find secrets and personal data in text before it reaches the memory.

Used on every rule write, by the pre-commit hook and by the approval policy.
Standard library only (``re``).

>>> [str(f) for f in scan_text("mail ada@corp.io", path="r.md")]
['r.md:1:6: email (ada…)']

Kinds (see :data:`KINDS`):

``private-key``
    A PEM private key header (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP or bare).
``api-key``
    A well-known token shape (OpenAI, AWS access key id, GitHub, GitLab, Hugging
    Face, SendGrid, Slack, Google, Stripe live keys, JWTs), or an ``api_key`` /
    ``secret`` / ``token`` / ``password`` / ``passwd`` / ``access_key`` /
    ``account_key`` / ``private_key`` / ``shared_access_key`` /
    ``subscription_key`` assignment (``:`` or ``=``; also as the end of a longer
    name, such as ``aws_secret_access_key`` or Azure's ``AccountKey=``) whose
    value has 12+ characters mixing letters and digits (a value containing
    ``EXAMPLE``, as in AWS's documentation, passes).
``email``
    An address whose domain has a dot and a TLD of 2+ letters.  Addresses in the
    reserved domains of RFC 2606 / RFC 6761 (``example.com``, ``example.org``,
    ``example.net`` and their subdomains, and any domain under ``.example``,
    ``.invalid``, ``.test`` or ``.localhost``) are never reported: rules use
    them as placeholders, and imlgit's own learner is ``learner@imlgit.invalid``.
    Neither are ``git@host`` (an SSH remote) nor ``icon@2x.png`` (a file name).
``phone``
    ``+<country code>`` and 8–15 digits in all (single spaces, dashes or dots
    between them, at most one pair of parentheses), and North-American
    ``(555) 123-4567``, ``555-123-4567`` or ``555.123.4567``.
``card-number``
    13–19 digits, contiguous or in the usual groups of a payment card, starting
    with 2–6 (the first digit of every major network) and passing the Luhn check.
``iban``
    An International Bank Account Number: a country code, two check digits and
    11–30 letters or digits (in groups of four or not) whose ISO 7064 mod-97
    check holds.
``national-id``
    A US social security number (``123-45-6789``, the area not 000, 666 or
    9xx, the group not 00, the serial not 0000) or a UK National Insurance
    number (``QQ 12 34 56 C``, prefixes HMRC never issues excluded).

A :class:`Finding` never holds the secret: its ``excerpt`` keeps the first
characters of the match (at most 4, at most a third of it) followed by ``…``.
Lines and columns are 1-based; columns count characters (code points).  For an
assignment (``token = value``) the finding points at the value, and the value
is the text the allowlist is matched against.

Speed: every pattern is compiled once and starts with a literal or a character
class (its look-behind comes after the first character), so the regular
expression engine skips ordinary prose quickly; the candidates of all patterns
are then merged in one left-to-right pass.  (One big alternation of the same
patterns was about ten times slower: CPython's ``re`` then tries every branch
at every position.)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["KINDS", "Finding", "scan_text", "spans"]

KINDS: tuple[str, ...] = (
    "private-key", "api-key", "email", "phone", "card-number", "iban", "national-id",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One suspected secret: where it is and a masked excerpt, never the secret."""

    kind: str
    line: int
    column: int
    excerpt: str
    path: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:" if self.path else ""
        return f"{where}{self.line}:{self.column}: {self.kind} ({self.excerpt})"


def _mask(secret: str) -> str:
    """The first characters (at most 4, at most a third of it) and an ellipsis."""
    return secret[: min(4, len(secret) // 3)] + "…"


# A check takes a pattern's match and returns the span to report, or None when
# the candidate turns out to be a near miss.
_Check = Callable[[re.Match[str]], tuple[int, int] | None]


def _whole(m: re.Match[str]) -> tuple[int, int] | None:
    return m.span()


def _openai(m: re.Match[str]) -> tuple[int, int] | None:
    # Real keys are random base62, so they have digits, capitals and lower case;
    # a long hyphenated phrase ("sk-learn-compatible-estimators") does not.
    body = m.group()[3:]
    mixed = (
        any(c.isdigit() for c in body)
        and any(c.isupper() for c in body)
        and any(c.islower() for c in body)
    )
    return m.span() if mixed else None


def _aws(m: re.Match[str]) -> tuple[int, int] | None:
    # AWS's documentation uses key ids ending in EXAMPLE (AKIAIOSFODNN7EXAMPLE).
    return None if m.group().endswith("EXAMPLE") else m.span()


def _has_digit(m: re.Match[str]) -> tuple[int, int] | None:
    return m.span() if any(c.isdigit() for c in m.group()) else None


def _assignment(m: re.Match[str]) -> tuple[int, int] | None:
    # Report the value only; trailing sentence punctuation is not part of it.
    start = m.start("value")
    value = m.group("value").rstrip(".,;:!?")
    has_letter = any(c.isalpha() for c in value)
    has_digit = any(c.isdigit() for c in value)
    if len(value) < 12 or not (has_letter and has_digit) or "EXAMPLE" in value:
        return None
    return start, start + len(value)


def _mixed_case(m: re.Match[str]) -> tuple[int, int] | None:
    # a token's random part has both cases (or digits); a long word does not
    body = m.group().split("_", 1)[-1]
    kinds = (any(c.islower() for c in body) + any(c.isupper() for c in body)
             + any(c.isdigit() for c in body))  # fmt: skip
    return m.span() if kinds >= 2 else None


def _iban(m: re.Match[str]) -> tuple[int, int] | None:
    compact = m.group().replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return None
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return m.span() if int(number) % 97 == 1 else None


def _ssn(m: re.Match[str]) -> tuple[int, int] | None:
    area, group, serial = m.group().split("-")
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return m.span()


_NINO_NEVER = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def _nino(m: re.Match[str]) -> tuple[int, int] | None:
    return None if m.group()[:2].upper() in _NINO_NEVER else m.span()


_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
_RESERVED_TLDS = frozenset({"example", "invalid", "test", "localhost"})
_FILE_TLDS = frozenset("png jpg jpeg gif svg webp ico bmp tif tiff avif heic pdf".split())


def _email(m: re.Match[str]) -> tuple[int, int] | None:
    # The pattern starts at "@"; the local part is the run of address
    # characters before it (at most 64, and with a letter or digit).
    text, at = m.string, m.start()
    start = at
    while start > 0 and text[start - 1] in _EMAIL_LOCAL:
        start -= 1
    local = text[start:at]
    if len(local) > 64 or not any(c.isalnum() for c in local) or local == "git":
        return None  # git@github.com:owner/repo is an SSH remote, not a person
    domain = m.group()[1:].lower()
    tld = domain.rsplit(".", 1)[-1]
    if tld in _RESERVED_TLDS or tld in _FILE_TLDS:
        return None
    if any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS):
        return None
    return start, m.end()


_DOUBLE_SEPARATOR = re.compile(r"[ .\-]{2}")


def _phone_international(m: re.Match[str]) -> tuple[int, int] | None:
    number = m.group()
    if not 8 <= sum(c.isdigit() for c in number) <= 15:
        return None
    opening, closing = number.find("("), number.find(")")
    if number.count("(") > 1 or number.count(")") > 1 or (opening < 0) != (closing < 0):
        return None
    if opening > closing:
        return None
    if _DOUBLE_SEPARATOR.search(number.replace("(", "").replace(")", "")):
        return None
    return m.span()


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)  # any Unicode decimal digit, as \d matches
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> tuple[int, int] | None:
    digits = "".join(c for c in m.group() if c not in " -")
    return m.span() if 13 <= len(digits) <= 19 and _luhn(digits) else None


# Look-behinds written after the first character ("." is that character), so
# that every pattern starts with a literal or a class the engine searches fast.
# A card is not inside a word, a decimal, or a run of digits joined by "-" (or
# by " " for the grouped forms); nor followed by more of the same run.
_CARD_BEFORE = r"(?<![\w.].)(?<!\d-.)"
_CARD_AFTER = r"(?!\w)(?![.\-]\d)"
_GROUPED_BEFORE = r"(?<![\w.].)(?<!\d[ \-].)"
_GROUPED_AFTER = r"(?!\w)(?![ .\-]\d)"

# (kind, pattern, check).  When candidates start at the same place, the earlier
# rule wins; a candidate overlapping one already taken is dropped.
_RULES: tuple[tuple[str, str, _Check], ...] = (
    # A PEM private key header.  Public keys and certificates are not secret:
    # "-----BEGIN PUBLIC KEY-----" and "-----BEGIN CERTIFICATE-----" pass.
    (
        "private-key",
        r"-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----",
        _whole,
    ),
    # OpenAI secret keys: sk- (sk-proj-, sk-svcacct-, ...) and 20+ url-safe
    # characters.  "risk-free" is inside a word, "sk-learn" is too short, and a
    # long hyphenated phrase fails the digit-and-mixed-case check in _openai.
    ("api-key", r"sk-(?<![\w\-]sk-)[A-Za-z0-9_\-]{20,}(?![\w\-])", _openai),
    # AWS access key id: AKIA/ASIA and exactly 16 capitals or digits.  "AKIA"
    # in prose has no 16 such characters after it.
    ("api-key", r"A[KS]IA(?<![A-Za-z0-9]....)[A-Z0-9]{16}(?![A-Za-z0-9])", _aws),
    # GitHub tokens: ghp_/gho_/ghu_/ghs_/ghr_ and 36+ letters or digits.
    ("api-key", r"gh[pousr]_(?<!\w....)[A-Za-z0-9]{36,}(?!\w)", _whole),
    # GitHub fine-grained tokens: github_pat_ and 22+ letters, digits or "_".
    ("api-key", r"github_pat_(?<!\w.{11})[A-Za-z0-9_]{22,}(?!\w)", _whole),
    # GitLab tokens: glpat- (personal), glptt- (trigger), gldt- (deploy), glrt-
    # (runner), glcbt- (CI job), glimt- (incoming mail), glft- (feed), glsoat-
    # (OAuth application secret), then 20+ url-safe characters.
    ("api-key", r"gl(?<![\w\-]gl)(?:pat|ptt|dt|rt|cbt|imt|ft|soat)-[A-Za-z0-9_\-]{20,}(?![\w\-])",
     _mixed_case),  # fmt: skip
    # Hugging Face tokens: hf_ and 30+ letters or digits ("hf_hub_download" is a
    # function name: lower case and "_").
    ("api-key", r"hf_(?<!\w...)[A-Za-z0-9]{30,}(?!\w)", _mixed_case),
    # SendGrid API keys: SG. 22 url-safe characters . 43 url-safe characters.
    ("api-key", r"SG\.(?<![\w.]...)[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}(?![\w\-])", _whole),
    # Slack tokens: xoxa-/xoxb-/xoxp-/xoxo-/xoxs-/xoxr- and a digit in the rest.
    ("api-key", r"xox[abposr]-(?<![\w\-].....)[A-Za-z0-9\-]{10,}(?![\w\-])", _has_digit),
    # Google API keys: AIza and exactly 35 url-safe characters.
    ("api-key", r"AIza(?<![\w\-]....)[A-Za-z0-9_\-]{35}(?![\w\-])", _whole),
    # Stripe live secret and restricted keys (test-mode keys are harmless).
    ("api-key", r"[sr]k_live_(?<!\w.{8})[A-Za-z0-9]{16,}(?!\w)", _whole),
    # JWTs: three base64url segments, the header starting eyJ (base64 of '{"').
    (
        "api-key",
        r"eyJ(?<![\w\-]...)[A-Za-z0-9_\-]{7,}\.[A-Za-z0-9_\-]{7,}\.[A-Za-z0-9_\-]{10,}(?![\w\-])",
        _whole,
    ),
    # api_key / apikey / api-key / secret / token / password / passwd (any case,
    # possibly the end of a longer name like client_secret or GITHUB_TOKEN, and
    # possibly followed by _key) assigned with ":" or "=" a value of 12+
    # characters mixing letters and digits on the same line.  Near misses:
    # "password: <redacted>" and "token = ${TOKEN}" (the value starts with < or
    # $), "password is required" (no : or =), "password: hunter2" (short),
    # "token: ********" (no letters or digits).
    (
        "api-key",
        r"[aAsStTpP](?<![A-Za-z0-9].)"
        r"(?i:(?<=a)pi[_\-]?key|(?<=s)ecret|(?<=t)oken|(?<=p)ass(?:word|wd)"
        r"|(?<=a)cc(?:ess|ount)[_\-]?key|(?<=p)rivate[_\-]?key"
        r"|(?<=s)hared[_\-]?access[_\-]?key|(?<=s)ubscription[_\-]?key)"
        r"(?i:[_\-]?access)?(?i:[_\-]?key)?"
        r"['\"]?[ \t]*[:=][ \t]*['\"]?"
        r"(?P<value>[A-Za-z0-9_\-+/=.~!@#%^&*?]{12,})",
        _assignment,
    ),
    # Payment cards, contiguous.  Dates and counts are too short; an epoch
    # timestamp in milliseconds (1700000000000) starts with 1; digits inside a
    # longer run or a hex string are glued to it; and most runs fail Luhn.
    ("card-number", r"[2-6]" + _CARD_BEFORE + r"\d{12,18}" + _CARD_AFTER, _card),
    # Payment cards in groups of four (13 to 19 digits), one separator throughout.
    (
        "card-number",
        r"[2-6]" + _GROUPED_BEFORE + r"\d{3}(?P<sep>[ \-])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,4}"
        r"(?:(?P=sep)\d{1,3})?" + _GROUPED_AFTER,
        _card,
    ),
    # American Express (4-6-5) and Diners Club (4-6-4) groups.
    (
        "card-number",
        r"3" + _GROUPED_BEFORE + r"\d{3}(?P<sep>[ \-])\d{6}(?P=sep)\d{4,5}" + _GROUPED_AFTER,
        _card,
    ),
    # IBANs: a country code, two check digits, then 11-30 capitals or digits,
    # grouped in fours by single spaces or not; the mod-97 check in _iban.
    (
        "iban",
        r"[A-Z](?<![A-Za-z0-9].)[A-Z]\d{2}"
        r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])",
        _iban,
    ),
    # US social security numbers, 3-2-4 digits with dashes (a date is 4-2-2, a
    # phone number 3-3-4).
    ("national-id", r"[0-8](?<![\w.\-].)\d{2}-\d{2}-\d{4}(?![\w\-])(?!\.\d)", _ssn),
    # UK National Insurance numbers: two letters (not D, F, I, Q, U, V; O not
    # second), six digits in pairs or not, and A-D.
    (
        "national-id",
        r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9].)[A-CEGHJ-NPR-TW-Z](?: ?\d{2}){3} ?[A-D](?![A-Za-z0-9])",
        _nino,
    ),
    # International phone numbers: "+", a country code (not 0), then digits with
    # single spaces, dashes or dots and at most one pair of parentheses; 8 to 15
    # digits in all.  "UTC+05:30" is glued to a word and stops at ":".
    ("phone", r"\+(?<![\w+].)[1-9][\d .()\-]{6,24}\d(?!\d)", _phone_international),
    # North-American numbers: (555) 123-4567, 555-123-4567, 555.123.4567, the area
    # code starting 2-9.  Dates (2024-01-15), ISO timestamps, versions (1.2.3),
    # IP addresses, ranges (10-20) and counts (12/14) have no 3-3-4 shape, and a
    # 3-3-4 run glued to more digits, letters or dots is something else.
    (
        "phone",
        r"[(2-9](?<![\w+.\-].)(?<!\d[.\-].)"
        r"(?:(?<=\()[2-9]\d{2}\) ?\d{3}-|(?<=[2-9])\d{2}(?P<sep>[.\-])\d{3}(?P=sep))"
        r"\d{4}(?!\w)(?![.\-]\d)",
        _whole,
    ),
    # Email addresses, found at the "@" (the local part is walked back in
    # _email).  The domain needs a dot and a TLD of 2+ letters, so
    # "user@localhost", "a@b", "@mention", "@dataclass" (nothing before the @)
    # and "pkg@1.2.3" pass; reserved domains, "@2x.png" and "git@" are dropped.
    (
        "email",
        r"@(?<=[A-Za-z0-9._%+\-]@)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
        r"[A-Za-z]{2,24}(?![A-Za-z0-9\-])(?!\.[A-Za-z0-9])",
        _email,
    ),
)

_COMPILED = tuple((kind, re.compile(pattern), check) for kind, pattern, check in _RULES)
assert {kind for kind, _, _ in _RULES} == set(KINDS)


def _compile_allow(allow: Sequence[str]) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in allow:
        if not isinstance(pattern, str):
            raise ConfigError(f"[scan] allow: {pattern!r} is not a string (a regular expression)")
        try:
            compiled.append(re.compile(pattern))
        except re.error as e:
            raise ConfigError(f"[scan] allow: invalid pattern {pattern!r}: {e}") from None
    return compiled


def _candidates(text: str) -> Iterator[tuple[int, int, int, str]]:
    """(start, rule number, end, kind) of every match that passes its check."""
    for number, (kind, pattern, check) in enumerate(_COMPILED):
        pos = 0
        while (m := pattern.search(text, pos)) is not None:
            # Resuming after a rejected match too keeps the scan linear; no
            # pattern can match again inside its own rejected match (their
            # look-behinds forbid starting in the middle of a run).
            pos = m.end()
            span = check(m)
            if span is not None:
                yield span[0], number, span[1], kind


def spans(text: str, *, allow: Sequence[str] = ()) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every suspected secret in ``text``, in order of
    position, as :func:`scan_text` reports them (for redacting them in place)."""
    allowed = _compile_allow(allow)
    out: list[tuple[int, int, str]] = []
    taken = 0  # end of the last match kept (reported or allowed)
    for start, _, end, kind in sorted(_candidates(text)):
        if start < taken:
            continue  # overlaps a match already kept
        taken = end
        if any(a.fullmatch(text[start:end]) for a in allowed):
            continue
        out.append((start, end, kind))
    return out


def scan_text(text: str, *, path: str = "", allow: Sequence[str] = ()) -> list[Finding]:
    """Every suspected secret in ``text``, in order of position.

    ``allow`` holds regular expressions; a match whose reported text fully
    matches one of them (``re.fullmatch``) is not reported.  An invalid one
    raises :class:`ConfigError` naming it.
    """
    found = spans(text, allow=allow)
    if not found:
        return []
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    findings: list[Finding] = []
    for start, end, kind in found:
        line = bisect_right(line_starts, start)
        column = start - line_starts[line - 1] + 1
        findings.append(Finding(kind, line, column, _mask(text[start:end]), path))
    return findings
