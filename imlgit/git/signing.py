"""Approvals signed with a person's SSH key, through git's own signing settings.

``[review] require_signed_approvals = true`` in imlgit.toml on main makes
``imlgit approve`` sign its merge commit the way ``git commit -S`` does with
``gpg.format = ssh``: ``user.signingkey`` names the key (a private key file, or a
public one whose private half an ssh-agent holds), ``gpg.ssh.program`` the
ssh-keygen to run; the signature goes in the commit's ``gpgsig`` header, so
``git log --show-signature`` and ``git verify-commit`` read it too.

An approval counts only when its signature verifies against the allowed-signers
file committed on main before it (git's ``gpg.ssh.allowedSignersFile`` format:
``PRINCIPALS [OPTIONS] KEYTYPE KEY``) for the approver's own address, at the
approval's time (so a key's ``valid-before`` is judged when it signed). A key
listed for someone else, an unknown key, a broken signature or none at all does
not count.

OpenPGP and X.509 signatures are not accepted here: the allowed-signers file,
the one list of keys a review of main can see, holds SSH keys only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SigningError

__all__ = ["SigningError", "SigningSetup", "signing_setup", "sign", "split_signature",
           "verify", "Verified"]

MAX_SIGNATURE = 64 * 1024  # an SSH signature is under 1 KB; anything larger is not one
MAX_ALLOWED_SIGNERS = 1_000_000
_TIMEOUT = 30.0  # seconds for one ssh-keygen (a passphrase prompt waits for a person)
_SSH_ARMOR = b"-----BEGIN SSH SIGNATURE-----"


@dataclass(frozen=True)
class SigningSetup:
    """git's signing settings as this repository sees them."""

    format: str  # gpg.format (git's default: openpgp)
    key: str | None  # user.signingkey, ~ expanded
    program: str  # gpg.ssh.program (default ssh-keygen)
    default_key_command: str | None


def _get(config: Any, section: tuple[bytes, ...], name: bytes) -> str | None:
    try:
        value = config.get(section, name)
    except KeyError:
        return None
    return value.decode("utf-8", errors="replace") if value else None


def signing_setup(config: Any) -> SigningSetup:
    """Read ``gpg.format``, ``user.signingkey``, ``gpg.ssh.program`` and
    ``gpg.ssh.defaultKeyCommand`` from a dulwich config (a repository's stack:
    its own config, the user's, the system's)."""
    key = _get(config, (b"user",), b"signingkey")
    if key and key.startswith("~"):
        key = os.path.expanduser(key)
    return SigningSetup(
        format=(_get(config, (b"gpg",), b"format") or "openpgp").lower(),
        key=key,
        program=_get(config, (b"gpg", b"ssh"), b"program") or "ssh-keygen",
        default_key_command=_get(config, (b"gpg", b"ssh"), b"defaultKeyCommand"),
    )


def sign(payload: bytes, setup: SigningSetup) -> bytes:
    """An SSH signature of ``payload`` in git's namespace, by dulwich's ssh-keygen
    signer; :class:`SigningError` saying what to set when it cannot sign."""
    from dulwich.signature import SSHCliSignatureVendor

    if setup.format != "ssh":
        raise SigningError(
            f"approvals here must be signed with an SSH key (gpg.format is {setup.format!r}): "
            "git config gpg.format ssh; git config user.signingkey ~/.ssh/id_ed25519 "
            "(imlgit verifies against the allowed-signers file on main, which lists SSH keys)"
        )
    if not setup.key and not setup.default_key_command:
        raise SigningError(
            "approvals here must be signed, and git has no signing key: "
            "git config user.signingkey ~/.ssh/id_ed25519"
        )
    if setup.key and setup.key.startswith(("key::", "ssh-", "ecdsa-", "sk-")):
        raise SigningError(
            "user.signingkey is a literal key; imlgit signs with a key file: "
            "git config user.signingkey ~/.ssh/id_ed25519 (or the .pub file, with ssh-agent)"
        )
    if setup.key and not Path(setup.key).is_file():
        raise SigningError(f"user.signingkey {setup.key}: no such key file")
    if shutil.which(setup.program) is None:
        raise SigningError(f"{setup.program} (gpg.ssh.program) is not installed; it signs")
    vendor = SSHCliSignatureVendor(
        ssh_command=setup.program, default_key_command=setup.default_key_command
    )
    try:
        signature = vendor.sign(payload, keyid=setup.key)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", errors="replace").strip().splitlines()
        raise SigningError(
            f"{setup.program} could not sign the approval: {detail[-1] if detail else exc}"
        ) from None
    except (OSError, ValueError) as exc:
        raise SigningError(f"{setup.program} could not sign the approval: {exc}") from None
    if not signature.startswith(_SSH_ARMOR):
        raise SigningError(f"{setup.program} wrote no SSH signature")
    return signature


def split_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """(what was signed, the signature) of a raw commit, as git reads them: the
    ``gpgsig`` and ``gpgsig-sha256`` headers (with their continuation lines) left
    out of the payload, every other header kept (so a header added afterwards,
    whatever its name, breaks the signature)."""
    head, sep, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    signature: list[bytes] = []
    current: str | None = None
    for line in head.split(b"\n"):
        if line.startswith(b" ") and current is not None:
            if current == "gpgsig":
                signature.append(line[1:])
            if current != "keep":
                continue
        else:
            name = line.split(b" ", 1)[0]
            current = {b"gpgsig": "gpgsig", b"gpgsig-sha256": "other"}.get(name, "keep")
            if current == "gpgsig":
                signature.append(line[len(b"gpgsig ") :])
                continue
            if current == "other":
                continue
        kept.append(line)
    payload = b"\n".join(kept) + sep + body
    return payload, (b"\n".join(signature) + b"\n") if signature else None


@dataclass(frozen=True)
class Verified:
    """What checking one signature found: ``ok``, and what to say either way."""

    ok: bool
    detail: str


def verify(
    payload: bytes,
    signature: bytes | None,
    allowed_signers: bytes | None,
    principal: str,
    when: int,
    *,
    program: str = "ssh-keygen",
    where: str = "allowed_signers",
) -> Verified:
    """Whether ``signature`` over ``payload`` is by a key ``allowed_signers`` lists
    for ``principal`` (an address), valid at time ``when``. Never raises."""
    if not signature:
        return Verified(False, "not signed")
    if len(signature) > MAX_SIGNATURE or not signature.lstrip().startswith(_SSH_ARMOR):
        return Verified(False, "not an SSH signature (only SSH keys are accepted here)")
    if allowed_signers is None:
        return Verified(False, f"main has no {where} to check its signature against")
    if len(allowed_signers) > MAX_ALLOWED_SIGNERS:
        return Verified(False, f"{where} is over {MAX_ALLOWED_SIGNERS} bytes")
    if not principal or any(c.isspace() or c in ",*?!" for c in principal):
        return Verified(False, f"the approver's address {principal!r} cannot be a signer")
    if shutil.which(program) is None:
        return Verified(False, f"{program} is not installed, so the signature was not checked")
    stamp = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(max(0, when)))
    with tempfile.TemporaryDirectory(prefix="imlgit-verify-") as tmp:
        allowed = os.path.join(tmp, "allowed_signers")
        sig = os.path.join(tmp, "approval.sig")
        Path(allowed).write_bytes(allowed_signers)
        Path(sig).write_bytes(signature)
        args = [program, "-Y", "verify", "-f", allowed, "-I", principal, "-n", "git",
                "-s", sig, f"-Overify-time={stamp}"]  # fmt: skip
        try:
            done = subprocess.run(
                args, input=payload, capture_output=True, timeout=_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Verified(False, f"{program} could not check the signature: {exc}")
    said = (done.stdout + done.stderr).decode("utf-8", errors="replace").strip().splitlines()
    if done.returncode == 0:
        good = next((line for line in said if line.startswith("Good")), f"signed by {principal}")
        return Verified(True, good)
    return Verified(
        False,
        f"not signed by a key {where} on main lists for {principal}"
        + (f" ({said[-1][:200]})" if said else ""),
    )
