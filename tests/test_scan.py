"""The secret and personal-data scanner: true positives, near misses, positions, masking.

Every fake secret is built by concatenation at run time, so this file holds no
literal that a secret scanner (this one or another) would report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid

import pytest

from imlgit.errors import ConfigError
from imlgit.scan import KINDS, Finding, scan_text

# --- fake secrets, assembled so the source never spells one out -------------

PEM = "-----BEGIN "
PEM_END = " KEY-----"
OPENAI = "sk-" + "A1b2" * 6
OPENAI_PROJ = "sk-" + "proj-" + "Xy9_" * 10 + "Qz-8" * 2
AWS = "AK" + "IA" + "Z7Q2" * 4
AWS_STS = "AS" + "IA" + "ABCD1234EFGH5678"
GH_PAT = "gh" + "p_" + "a1B2c3" * 6
GH_OAUTH = "gh" + "o_" + "Zz09yY" * 6
GH_FINE = "github" + "_pat_" + "11ABCDEFG0" + "_x9Y8w7V6u5" * 3
SLACK = "xo" + "xb-" + "123456789012-" + "1234567890123-" + "AbCdEfGh" * 3
GOOGLE = "AI" + "za" + "Sy" + "a1B2c" * 6 + "_-x"
STRIPE = "sk" + "_live_" + "a1B2" * 6
STRIPE_RK = "rk" + "_live_" + "Z9y8" * 5


def _b64(obj: dict[str, object]) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


JWT = ".".join([_b64({"alg": "HS256", "typ": "JWT"}), _b64({"sub": "1234567890"}), "s1G" * 12])
VALUE = "hunter2" + "Hunter2" + "x9"  # 16 characters, letters and digits

VISA = "4" + "1" * 15
VISA_SPACED = " ".join(["4111"] + ["1111"] * 3)
MASTERCARD_DASHED = "-".join(["5555"] * 3 + ["4444"])
MASTERCARD_2 = "2223" + "0031" + "2200" + "3222"
AMEX = "3782 " + "822463 " + "10005"
DISCOVER = "6011" + "1111" + "1111" + "1117"


def at(local: str, domain: str) -> str:
    return local + "@" + domain


# (kind, text, secret): the text holds exactly one finding, of that kind, whose
# reported text is the secret.
POSITIVES = [
    ("private-key", PEM + "RSA PRIVATE" + PEM_END, PEM + "RSA PRIVATE" + PEM_END),
    ("private-key", "```\n" + PEM + "PRIVATE" + PEM_END + "\nMIIE\n```", PEM + "PRIVATE" + PEM_END),
    ("private-key", PEM + "EC PRIVATE" + PEM_END, PEM + "EC PRIVATE" + PEM_END),
    ("private-key", PEM + "OPENSSH PRIVATE" + PEM_END, PEM + "OPENSSH PRIVATE" + PEM_END),
    ("private-key", PEM + "ENCRYPTED PRIVATE" + PEM_END, PEM + "ENCRYPTED PRIVATE" + PEM_END),
    (
        "private-key",
        PEM + "PGP PRIVATE KEY BLOCK-----",
        PEM + "PGP PRIVATE KEY BLOCK-----",
    ),
    ("api-key", f"use {OPENAI} here", OPENAI),
    ("api-key", f"key: `{OPENAI_PROJ}`", OPENAI_PROJ),
    ("api-key", f"aws {AWS}.", AWS),
    ("api-key", f"({AWS_STS})", AWS_STS),
    ("api-key", f"push with {GH_PAT}", GH_PAT),
    ("api-key", GH_OAUTH, GH_OAUTH),
    ("api-key", f"fine-grained {GH_FINE} token", GH_FINE),
    ("api-key", f"slack {SLACK}", SLACK),
    ("api-key", f"maps {GOOGLE}", GOOGLE),
    ("api-key", f"stripe {STRIPE}", STRIPE),
    ("api-key", f"restricted {STRIPE_RK}", STRIPE_RK),
    ("api-key", f"Authorization: Bearer {JWT}", JWT),
    ("api-key", f"password: {VALUE}", VALUE),
    ("api-key", f"passwd={VALUE}", VALUE),
    ("api-key", f"export API_KEY={VALUE}", VALUE),
    ("api-key", f'{{"api_key": "{VALUE}"}}', VALUE),
    ("api-key", f"client_secret = '{VALUE}'", VALUE),
    ("api-key", f"GITHUB_TOKEN: {VALUE}.", VALUE),
    ("api-key", f"apikey:{VALUE}", VALUE),
    ("api-key", f"secret_key = {VALUE}", VALUE),
    ("api-key", f"token: {OPENAI}", OPENAI),  # one finding, not two
    ("email", "write to " + at("ada", "corp.io") + " today", at("ada", "corp.io")),
    ("email", "<" + at("a.b+tag", "mail.co.uk") + ">", at("a.b+tag", "mail.co.uk")),
    (
        "email",
        "mailto:" + at("Ada.Lovelace", "Analytical.ENGINE.org"),
        at("Ada.Lovelace", "Analytical.ENGINE.org"),
    ),
    ("email", "(" + at("x_y-z", "sub.domain.travel") + ").", at("x_y-z", "sub.domain.travel")),
    ("email", at("bob", "example.co"), at("bob", "example.co")),
    ("phone", "call +1 202 555 0123 now", "+1 202 555 0123"),
    ("phone", "tel: +44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "+49 (0)30 1234567", "+49 (0)30 1234567"),
    ("phone", "fax +33.1.23.45.67.89.", "+33.1.23.45.67.89"),
    ("phone", "+14155550123", "+14155550123"),
    ("phone", "+1-202-555-0123", "+1-202-555-0123"),
    ("phone", "office (555) 123-4567", "(555) 123-4567"),
    ("phone", "office (555)123-4567", "(555)123-4567"),
    ("phone", "cell 555-123-4567.", "555-123-4567"),
    ("phone", "cell 555.123.4567", "555.123.4567"),
    ("iban", "IBAN " + "GB82 WEST " + "1234 5698 7654 32", "GB82 WEST " + "1234 5698 7654 32"),
    ("national-id", "SSN " + "078-05-" + "1120.", "078-05-" + "1120"),
    ("card-number", f"card {VISA}", VISA),
    ("card-number", f"card {VISA_SPACED}.", VISA_SPACED),
    ("card-number", MASTERCARD_DASHED, MASTERCARD_DASHED),
    ("card-number", f"mc {MASTERCARD_2}", MASTERCARD_2),
    ("card-number", f"amex {AMEX}", AMEX),
    ("card-number", f"discover: {DISCOVER}", DISCOVER),
]


@pytest.mark.parametrize(("kind", "text", "secret"), POSITIVES)
def test_true_positive(kind: str, text: str, secret: str) -> None:
    assert secret in text
    findings = scan_text(text)
    assert [f.kind for f in findings] == [kind]
    (finding,) = findings
    # points at the secret ...
    assert finding.line == text[: text.index(secret)].count("\n") + 1
    line_start = text.rfind("\n", 0, text.index(secret)) + 1
    assert finding.column == text.index(secret) - line_start + 1
    # ... and is allowlisted by exactly the secret
    assert scan_text(text, allow=[re.escape(secret)]) == []


@pytest.mark.parametrize(("kind", "text", "secret"), POSITIVES)
def test_excerpt_never_holds_the_secret(kind: str, text: str, secret: str) -> None:
    (finding,) = scan_text(text)
    assert finding.excerpt.endswith("…")
    kept = finding.excerpt[:-1]
    assert len(kept) <= 4
    assert len(kept) <= len(secret) // 3
    assert secret.startswith(kept)
    assert secret not in finding.excerpt
    assert secret not in str(finding)


NEAR_MISSES = [
    # private-key
    PEM + "PUBLIC" + PEM_END,
    PEM + "CERTIFICATE-----",
    "BEGIN PRIVATE KEY",
    "keep the private key out of the rules",
    # api-key
    "sk-learn",
    "we use sk-learn and scikit-learn",
    "a risk-free change",
    "risk-assessment-for-every-deployment-step",
    "sk-learn-compatible-estimators-everywhere",
    "AKIA in prose",
    "the AKIA prefix marks an access key id",
    "AK" + "IA" + "IOSFODNN7" + "EXAMPLE",  # AWS's documented placeholder
    "gh" + "p_short",
    "sk" + "_test_" + "a1B2" * 6,  # Stripe test mode
    "eyJhbGciOiJIUzI1NiJ9",  # one base64 segment is not a JWT
    "password: <redacted>",
    "token = ${TOKEN}",
    "password is required",
    "the password must be rotated every 90 days",
    "password: hunter2",
    "token: ********",
    "secret: {{ secrets.DB_PASSWORD }}",
    "password: changemechangeme",
    "max_tokens: 4096",
    "tokenizer: bert-base-uncased-v2",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "commit 3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f607 fixed it",
    "123e4567-e89b-12d3-a456-426614174000",
    "id 12345678-1234-1234-1234-123456789012",
    # email
    "user@localhost",
    "ping @mention in the channel",
    "a@b",
    "@dataclass",
    "@dataclass(frozen=True)\nclass Rule:",
    "name@2x.png",
    "icon@3x.jpg and logo@1.5x.svg",
    "pip install imlgit@1.2.3",
    at("ada", "example.com"),
    at("ada", "EXAMPLE.ORG"),
    at("ada", "example.net"),
    at("ada", "mail.example.com"),
    at("learner", "imlgit.invalid"),
    at("ci", "runner.test"),
    at("ada", "corp.example"),
    at("dev", "box.localhost"),
    "git clone " + at("git", "github.com") + ":owner/repo.git",
    "x @ y.com",
    # phone
    "2024-01-15",
    "on 2024-01-15 at 10:20:30",
    "version 1.2.3",
    "created: 2026-11-27T08:00:00Z",
    "2024-01-15T10:20:30.123456+01:00",
    "UTC+05:30",
    "12/14 matching experiences",
    "support: 12",
    "between 10-20 runs",
    "IP 192.168.100.200 and 10.0.0.1",
    "epoch 1700000000",
    "3 files changed, +1234 -56",
    "+1 2",
    "a 3-3-4 run glued on: 1.555.123.4567.8",
    "sku 555-123-4567-89",
    "order A555-123-4567",
    "deadbeef5551234567cafe",
    # card-number
    "4" + "1" * 14 + "2",  # 16 digits failing Luhn
    "1700000000000",  # a timestamp in milliseconds
    "ts 1700000000000000000",
    "x" + VISA,  # glued to a word
    VISA + "1234567",  # inside a longer digit run
    "deadbeef" + VISA + "cafe",  # inside a hex string
    "0000 0000 0000 0000",
    "pi is 3.141592653589793238",
    "total 123456789012",
    "9" * 16,
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_miss_passes(text: str) -> None:
    assert scan_text(text) == []


def test_kinds() -> None:
    assert KINDS == ("private-key", "api-key", "email", "phone", "card-number", "iban",
                     "national-id")  # fmt: skip
    assert {kind for kind, _, _ in POSITIVES} == set(KINDS)


def test_line_and_column_on_a_multiline_text() -> None:
    text = (
        "---\n"  # line 1
        "id: r-keys\n"  # line 2
        "---\n"  # line 3
        f"Use {OPENAI} for the demo.\n"  # line 4, column 5
        "\n"
        f"  password = {VALUE}\n"  # line 6, column 14 (the value)
        "Ask " + at("ada", "corp.io") + " or call (555) 123-4567.\n"  # line 7, columns 5 and 25
        f"é {VISA}"  # line 8, column 3: columns count characters, not bytes
    )
    found = [(f.kind, f.line, f.column) for f in scan_text(text)]
    assert found == [
        ("api-key", 4, 5),
        ("api-key", 6, 14),
        ("email", 7, 5),
        ("phone", 7, 25),
        ("card-number", 8, 3),
    ]


def test_findings_in_order_of_position() -> None:
    parts = [VISA, at("ada", "corp.io"), OPENAI, "555-123-4567", PEM + "PRIVATE" + PEM_END, AWS]
    text = "\n".join(f"item {p} end" for p in parts)
    findings = scan_text(text)
    assert [f.line for f in findings] == list(range(1, len(parts) + 1))
    assert [f.kind for f in findings] == [
        "card-number",
        "email",
        "api-key",
        "phone",
        "private-key",
        "api-key",
    ]


def test_several_on_one_line_in_order() -> None:
    text = f"{AWS} {at('bob', 'corp.io')} {AWS_STS}"
    assert [(f.kind, f.column) for f in scan_text(text)] == [
        ("api-key", 1),
        ("email", 22),
        ("api-key", 34),
    ]


def test_path_and_str() -> None:
    (finding,) = scan_text("x\n  " + at("ada", "corp.io"), path="rules/ab/r-x.md")
    assert finding == Finding("email", 2, 3, "ada…", "rules/ab/r-x.md")
    assert str(finding) == "rules/ab/r-x.md:2:3: email (ada…)"
    (bare,) = scan_text(at("ada", "corp.io"))
    assert bare.path == ""
    assert str(bare) == "1:1: email (ada…)"


def test_finding_is_frozen() -> None:
    finding = Finding("email", 1, 1, "ada…")
    with pytest.raises(AttributeError):
        finding.line = 2  # type: ignore[misc]


def test_allowlist_suppresses_exactly_the_allowed_match() -> None:
    ours = at("support", "imlgit.dev")
    theirs = at("ada", "corp.io")
    text = f"mail {ours} or {theirs}; key {OPENAI}"
    assert [f.kind for f in scan_text(text)] == ["email", "email", "api-key"]

    kept = scan_text(text, allow=[re.escape(ours)])
    assert [(f.kind, f.column) for f in kept] == [("email", 28), ("api-key", 45)]

    # a pattern, not only a literal
    kept = scan_text(text, allow=[r"[a-z]+@imlgit\.dev", r"sk-(?:A1b2)+"])
    assert [(f.kind, f.column) for f in kept] == [("email", 28)]


def test_allowlist_needs_a_full_match() -> None:
    text = "mail " + at("ada", "corp.io")
    assert len(scan_text(text, allow=["ada"])) == 1  # only part of the match
    assert len(scan_text(text, allow=[r"mail ada@corp\.io"])) == 1  # more than the match
    assert scan_text(text, allow=[r"ada@corp\.io"]) == []


def test_allowlist_of_an_assignment_is_its_value() -> None:
    text = f"password: {VALUE}\ntoken: {VALUE}"
    assert scan_text(text, allow=[re.escape(VALUE)]) == []
    assert len(scan_text(text, allow=[re.escape("password: " + VALUE)])) == 2


def test_allowlist_of_one_kind_leaves_the_others() -> None:
    text = f"{VISA} 555-123-4567"
    kept = scan_text(text, allow=[r"\d{16}"])
    assert [f.kind for f in kept] == ["phone"]


@pytest.mark.parametrize("bad", ["(unclosed", "[a-", "*star", "a{2,1}"])
def test_invalid_allow_pattern_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(bad))):
        scan_text("nothing here", allow=[r"ok\d+", bad])


def test_invalid_allow_pattern_raises_even_without_findings() -> None:
    with pytest.raises(ConfigError, match=r"\[scan\] allow: invalid pattern"):
        scan_text("", allow=["("])


def test_empty_text() -> None:
    assert scan_text("") == []


WORDS = (
    "when glimmer is yes and tansy is no the class is VESPER marrow support "
    "contradictions matching experiences were exception also had rule scope "
    "retired active evidence verified learner approval policy commit revision"
).split()


def rule_like_prose(size: int) -> str:
    """Ordinary rule files: front matter, prose, numbers, dates, ids and hashes."""
    parts: list[str] = []
    total = 0
    n = 0
    while total < size:
        n += 1
        words = " ".join(WORDS[(n * 7 + i * 13) % len(WORDS)] for i in range(80))
        part = (
            "---\n"
            f"id: r-glimmer-{n}\n"
            f"title: Glimmer rule {n} is VESPER\n"
            "scope: truth-table\n"
            "status: active\n"
            f"support: {n % 50}\n"
            f"contradictions: {n % 3}\n"
            f"when: {{glimmer: yes, tansy: no, width: {n % 97}}}\n"
            "then: VESPER\n"
            "tags: [colour, shape]\n"
            "created: 2026-11-27T08:00:00Z\n"
            f"updated: 2026-11-27T09:{n % 60:02d}:{(n * 7) % 60:02d}Z\n"
            f"sources: [tt-{n:04d}, tt-{n + 7:04d}, run:{n % 13}]\n"
            "---\n"
            f"{words}.\n\n"
            "## Evidence\n"
            f"{n % 20} of {n % 20 + 1} matching experiences (12/14 last week, range 10-20) "
            f"agreed; see commit {hashlib.sha1(str(n).encode()).hexdigest()} and run "
            f"{uuid.UUID(bytes=hashlib.md5(str(n).encode()).digest())}.\n"
            f"Tested with imlgit 1.2.{n % 9} on 2026-01-{n % 28 + 1:02d} at 10:{n % 60:02d}, "
            f"host 10.0.{n % 256}.{n % 200 + 1}, latency {n % 1000} ms, "
            f"epoch {1_700_000_000 + n}, total {n * 1234567}.\n"
            "Reviewed by ada@example.org for learner@imlgit.invalid; "
            "the password is required and token = ${TOKEN}; @dataclass and @mention.\n"
        )
        parts.append(part)
        total += len(part)
    return "".join(parts)


def test_a_megabyte_of_rule_like_prose_has_no_findings() -> None:
    text = rule_like_prose(1_000_000)
    assert len(text) >= 1_000_000
    assert scan_text(text) == []
