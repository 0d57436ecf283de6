"""Personal data kept out of history: the scanner's new kinds, redaction before
anything is written, refusal, and what must pass. Fake secrets are assembled at run
time, so this file holds no literal a scanner would report.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import PERSON, git_available
from fakes import HashEmbedder

from imlgit import review as rv
from imlgit.config import load_settings
from imlgit.errors import ExperienceError, PrivacyError
from imlgit.experience import Experience
from imlgit.memory import Memory
from imlgit.privacy import redact_text, screen
from imlgit.scan import scan_text
from imlgit.store import Store

HF = "hf" + "_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
GITLAB = "gl" + "pat-" + "xYz12AbC34dEf56GhI78jk"
SENDGRID = ("SG" + "." + "abcdefghijklmnopqrstuv" + "."
            + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "0123456789abcdefg")
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzz1234KEY"
AZURE = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"
         + "/K1SZFPTOtr/KBHBeksoGMGw==")
IBAN = "DE89 3704 " + "0044 0532 0130 00"
IBAN_COMPACT = "GB82" + "WEST12345698765432"
SSN = "078-" + "05-1120"
NINO = "AB 12 " + "34 56 C"
CARD = "4111 1111 " + "1111 1111"
EMAIL = "ada.lovelace" + "@" + "acme-corp.com"
PHONE = "+44 20 " + "7946 0958"


@pytest.mark.parametrize(
    "text, kind",
    [(f"token {HF}", "api-key"), (GITLAB, "api-key"), (SENDGRID, "api-key"),
     (f"aws_secret_access_key = {AWS_SECRET}", "api-key"),
     (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "api-key"),
     (f"DefaultEndpointsProtocol=https;AccountName=x;AccountKey={AZURE};", "api-key"),
     (f"pay to {IBAN} today", "iban"), (IBAN_COMPACT, "iban"), (f"ssn {SSN}", "national-id"),
     (f"NI number {NINO}", "national-id")],
)  # fmt: skip
def test_the_new_kinds_are_found(text: str, kind: str) -> None:
    assert [f.kind for f in scan_text(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    ["mail support@example.com or ada@mail.example.org", "version 1.2.3.4, build 2024.11.27",
     "on 2024-01-15T10:00:00Z", "id 123e4567-e89b-12d3-a456-426614174000",
     "commit 3e974eda200858c6367da2c2366da49367bc29a5", "call hf_hub_download_and_cache_everything",
     "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "DE89 3704 0044 0532 0130 01", "ssn 000-12-3456, 666-12-3456, 912-12-3456",
     "QQ 12 34 56 C is HMRC's example", "ISBN 978-3-16-148410-0", "call 555-0100 ext 12"],
)  # fmt: skip
def test_what_must_pass_passes(text: str) -> None:
    assert scan_text(text) == []


def test_redaction_leaves_typed_placeholders() -> None:
    text, found = redact_text(f"Ticket from {EMAIL}, card {CARD}, call {PHONE}.")
    assert text == "Ticket from <email>, card <card>, call <phone>."
    assert found == Counter({"email": 1, "card-number": 1, "phone": 1})


def ticket(i: int, **extra: object) -> Experience:
    return Experience.from_dict({
        "id": f"t-{i:03d}", "scope": "support",
        "input": {"customer": {"email": EMAIL, "phone": PHONE, "note": f"card {CARD}"},
                  "order": 4111111111111111, "topic": "refund" if i % 2 else "late"},
        "outcome": {"expected": "REFUND" if i % 2 else "APOLOGY",
                    "text": f"replied to {EMAIL}"}, **extra,
    })  # fmt: skip


def test_screen_redacts_nested_values_numbers_and_outcomes() -> None:
    got = screen([ticket(1)], "redact")
    e = got.experiences[0]
    assert isinstance(e.input, dict)
    assert e.input["customer"] == {"email": "<email>", "phone": "<phone>", "note": "card <card>"}
    assert e.input["order"] == "<card>" and e.outcome.text == "replied to <email>"
    assert e.id == "t-001" and e.outcome.expected == "REFUND" and e.input["topic"] == "refund"
    assert got.summary() == "2 card-number, 2 email, 1 phone in 1 experience"


def test_screen_refuses_naming_the_experience_and_the_field() -> None:
    with pytest.raises(ExperienceError, match=r"t-001: input\.customer\.email \(email\)"):
        screen([ticket(1)], "refuse")
    assert screen([ticket(1)], "hashes").experiences == [ticket(1)]


def test_an_id_with_personal_data_is_refused_in_every_mode() -> None:
    e = Experience.from_dict({"id": "card-" + CARD.replace(" ", ""), "scope": "s", "input": "x",
                              "outcome": {"reward": 1.0}})  # fmt: skip
    for mode in ("redact", "refuse", "hashes"):
        with pytest.raises(ExperienceError, match="its id carries card-number"):
            screen([e], mode)


def open_memory(path: Path, mode: str = "redact") -> Memory:
    store = Store.open(path)
    settings = load_settings((store.read_file("imlgit.toml") or b"").decode(), env={},
                             flags={("privacy", "experiences"): mode})  # fmt: skip
    return Memory(store, settings, embedder=HashEmbedder())


def _all_objects(path: Path) -> bytes:
    """Every object git holds, as ``git cat-file --batch`` prints them."""
    listed = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
        cwd=path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return subprocess.run(["git", "cat-file", "--batch"], cwd=path, input=listed.encode(),
                          capture_output=True, check=True).stdout  # fmt: skip


@pytest.mark.skipif(not git_available(), reason="git CLI not installed")
def test_twelve_support_tickets_reach_no_git_object(tmp_path: Path) -> None:
    """The issue's case: tickets with emails, phones and a card number, learned under the
    default; no object git holds (commits, trees, blobs, on any ref) contains them,
    and the review says what was redacted."""
    Store.init(tmp_path / "m", author=PERSON)
    mem = open_memory(tmp_path / "m")
    done = mem.learn([ticket(i) for i in range(12)], batch=12, propose="tickets")
    assert done.redacted.startswith("24 card-number, 24 email, 12 phone in 12 experiences")
    objects = _all_objects(tmp_path / "m")
    for raw in (EMAIL, PHONE, CARD, "4111111111111111"):
        assert raw.encode() not in objects, raw
    r = rv.review(mem.store, "tickets", rv.Gate(), "manual")
    assert r.redacted.get("email", 0) >= 12 and r.redacted.get("card-number", 0) >= 12
    from imlgit import reviewtext

    assert "redacted before they were stored: " in reviewtext.text(r)[0]


def test_record_refuses_under_refuse_and_the_journal_is_unchanged(tmp_path: Path) -> None:
    Store.init(tmp_path / "m", author=PERSON)
    mem = open_memory(tmp_path / "m", "refuse")
    with pytest.raises(ExperienceError, match="experience t-001"):
        mem.record(ticket(1))
    assert mem.journal() == []
    kept = open_memory(tmp_path / "m").record(ticket(2))
    assert EMAIL not in json.dumps(kept.to_dict()) and mem.journal() == [kept]


def test_a_rationale_with_personal_data_is_refused(tmp_path: Path, imlgit_cli) -> None:
    store = Store.init(tmp_path / "m", author=PERSON)
    main = store.head()
    out = imlgit_cli("rule", "add", "--id", "r-x", "--title", "x", "--statement", "Always x.",
                     "--why", f"Because {EMAIL} asked.", repo=store.path)  # fmt: skip
    assert out.returncode == 1 and "--why:1:9: email" in out.stderr, out.stderr
    assert EMAIL not in out.stderr and Store.open(store.path).head() == main
    mem = open_memory(tmp_path / "m")
    mem.learn([ticket(i) for i in range(6)], batch=6, propose="p")
    with pytest.raises(PrivacyError, match="approval's rationale"):
        rv.approve(mem.store, "p", approver=rv.Identity("Bo", "bo@example.org"),
                   why=f"Checked with {PHONE}.")  # fmt: skip
    with pytest.raises(PrivacyError):
        rv.reject(mem.store, "p", person=PERSON, why=f"Mail {EMAIL} first.")
    assert rv.get_proposal(mem.store, "p").commits
