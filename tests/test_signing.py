"""Signed approvals (``[review] require_signed_approvals``): approve signs with the
person's SSH key through git's signing settings, and whatever trusts an approval
(the guard of main, doctor, pull, review stats, ``check --move``) verifies it
against the allowed-signers file on main. Keys are made by ssh-keygen here; git
itself (``git log --show-signature``) must agree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PERSON, Clock, forge_ci, run_git
from test_approvals import OTHER, proposal

from imlgit import review as rv
from imlgit import sync
from imlgit.commits import CommitMessage, Identity
from imlgit.errors import SigningError, UnapprovedChange
from imlgit.git import signing
from imlgit.store import Store

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None or shutil.which("git") is None,
    reason="needs ssh-keygen and git",
)

EVE = Identity("Eve Outsider", "eve@example.net")


def keypair(where: Path, name: str) -> tuple[Path, str]:
    """A new ed25519 key without a passphrase: (private key file, public key line)."""
    key = where / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True)  # fmt: skip
    return key, (where / f"{name}.pub").read_text().strip()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    d = tmp_path / "keys"
    d.mkdir()
    return {who: keypair(d, who) for who in ("ada", "bo", "eve")}


def allowed(*lines: tuple[str, str]) -> bytes:
    return "".join(f'{who} namespaces="git" {pub}\n' for who, pub in lines).encode()


def require_signing(store: Store, signers: bytes, *, extra: str = "") -> None:
    """As a person on main: approvals must be signed; ``signers`` may sign."""
    text = (store.read_file("imlgit.toml", "main") or b"").decode()
    text = text.replace("[review]\n", f"[review]\nrequire_signed_approvals = true\n{extra}", 1)
    assert "require_signed_approvals = true" in text
    msg = CommitMessage.make("edit", "signed approvals", "The team signs its approvals.")
    store.commit({"imlgit.toml": text.encode(), "allowed_signers": signers}, msg,
                 author=PERSON, branch="main")  # fmt: skip


def sign_with(store: Store, key: Path | None, fmt: str = "ssh") -> None:
    """git's signing settings in the memory's own config, as `git config` writes them."""
    run_git(store.gitdir, "config", "--file", "config", "gpg.format", fmt)
    if key is not None:
        run_git(store.gitdir, "config", "--file", "config", "user.signingkey", str(key))


@pytest.fixture
def store(tmp_path: Path, keys: dict[str, tuple[Path, str]]) -> Store:
    s = Store.init(tmp_path / "mem", author=PERSON, clock=Clock())
    s.checkout_worktree()
    require_signing(s, allowed(("ada@example.org", keys["ada"][1]),
                               ("bo@example.org", keys["bo"][1])))  # fmt: skip
    return s


def show_signature(store: Store, rev: str) -> str:
    signers = store.gitdir / "signers-for-git"
    signers.write_bytes(store.read_file("allowed_signers", "main") or b"")
    out = subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "--show-signature",
         "-1", rev], cwd=store.gitdir, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout + out.stderr


def test_an_approval_signed_with_an_allowed_key_counts(store: Store, keys) -> None:
    sign_with(store, keys["ada"][0])
    p = proposal(store)
    done = rv.approve(store, "p1", approver=PERSON)
    assert done.merged and store.head() == done.sha
    assert done.signature and "Good" in done.signature and "ada@example.org" in done.signature
    c = store.objects.commit(done.sha)
    assert c.gpgsig and c.gpgsig.startswith(b"-----BEGIN SSH SIGNATURE-----")
    assert store.guard.uncovered(done.sha) == []  # the whole history, as doctor reads it
    # git reads the same signature and agrees
    shown = show_signature(store, done.sha)
    assert 'Good "git" signature for ada@example.org' in shown, shown
    assert p.head in {c.sha for c in store.log("main")}


@pytest.mark.parametrize("signer", ["eve", "bo"])
def test_an_unknown_key_or_someone_elses_is_refused(store: Store, keys, signer: str) -> None:
    """Eve's key is not listed at all; Bo's is listed, for Bo, not for Ada."""
    sign_with(store, keys[signer][0])
    p = proposal(store)
    main = store.head()
    with pytest.raises(UnapprovedChange, match="not signed by a key allowed_signers on main "
                                               "lists for ada@example.org"):  # fmt: skip
        rv.approve(store, "p1", approver=PERSON)
    assert store.head() == main and store.head(p.branch) == p.head


def test_bo_signs_his_own_approval(store: Store, keys) -> None:
    sign_with(store, keys["bo"][0])
    proposal(store)
    done = rv.approve(store, "p1", approver=OTHER)
    assert done.signature and "bo@example.org" in done.signature
    assert 'Good "git" signature for bo@example.org' in show_signature(store, done.sha)


def test_an_unsigned_approval_is_refused_and_reported(store: Store, keys) -> None:
    p = proposal(store)
    main = store.head()
    msg = CommitMessage.make("approve", "proposal p1", "Looks fine.",
                             trailers=[("Imlgit-Proposal", "p1")])  # fmt: skip
    with pytest.raises(UnapprovedChange, match="requires signed approvals, and this one is "
                                               "not signed"):  # fmt: skip
        store.merge(p.branch, msg, author=PERSON, fast_forward=False)
    assert store.head() == main
    # the same merge made by git itself, no hook: doctor and check --move find it
    hooks = store.gitdir / "hooks"
    shutil.rmtree(hooks)
    run_git(store.path, "merge", "--no-ff", "-q", "-m", msg.render(), p.branch)
    head = store.head()
    assert head != main
    found = store.guard.uncovered(head)
    assert found and "not signed" in found[0].why
    assert "No signature" in show_signature(store, head) or "gpgsig" not in show_signature(
        store, head)
    st = rv.stats(store, rv.Gate())
    assert st.void == 1 and st.approved == 0
    assert st.rows[0]["decided"] == "approved, does not count"


def test_no_key_or_another_format_says_what_to_set(store: Store, keys) -> None:
    p = proposal(store)
    main = store.head()
    sign_with(store, None)
    with pytest.raises(SigningError, match="user.signingkey"):
        rv.approve(store, "p1", approver=PERSON)
    sign_with(store, keys["ada"][0], fmt="openpgp")
    with pytest.raises(SigningError, match="gpg.format ssh"):
        rv.approve(store, "p1", approver=PERSON)
    assert store.head() == main and store.head(p.branch) == p.head


def test_a_key_past_its_valid_before_date_is_refused(tmp_path: Path, keys) -> None:
    s = Store.init(tmp_path / "exp", author=PERSON, clock=Clock())
    s.checkout_worktree()
    pub = keys["ada"][1]
    require_signing(s, f'ada@example.org namespaces="git",valid-before="20260101" {pub}\n'
                    .encode())  # fmt: skip
    sign_with(s, keys["ada"][0])
    proposal(s)
    with pytest.raises(UnapprovedChange, match="not signed by a key"):
        rv.approve(s, "p1", approver=PERSON)


def test_the_allowed_signers_file_on_main_before_the_approval_is_the_one_read(
    store: Store, keys
) -> None:
    """A proposal that adds Eve to allowed_signers cannot be approved with Eve's key:
    the list is main's before the approval."""
    sign_with(store, keys["eve"][0])
    proposal(store)
    mine = allowed(("ada@example.org", keys["eve"][1]))
    store.commit({"allowed_signers": mine},
                 CommitMessage.make("edit", "signers", "Trust me."),
                 author=EVE, branch="proposals/p1")  # fmt: skip
    with pytest.raises(UnapprovedChange, match="not signed by a key"):
        rv.approve(store, "p1", approver=PERSON)


def test_without_the_setting_approvals_need_no_signature(tmp_path: Path) -> None:
    s = Store.init(tmp_path / "plain", author=PERSON, clock=Clock())
    s.checkout_worktree()
    proposal(s)
    done = rv.approve(s, "p1", approver=PERSON)
    assert done.signature is None and s.objects.commit(done.sha).gpgsig is None
    assert s.guard.uncovered(done.sha) == []


def test_pull_refuses_an_unsigned_approval(tmp_path: Path, store: Store, keys) -> None:
    mine = sync.clone(str(store.path), tmp_path / "clone")
    p = proposal(store)
    shutil.rmtree(store.gitdir / "hooks")
    msg = CommitMessage.make("approve", "proposal p1", "Looks fine.",
                             trailers=[("Imlgit-Proposal", "p1")])  # fmt: skip
    run_git(store.path, "merge", "--no-ff", "-q", "-m", msg.render(), p.branch)
    before = mine.head()
    with pytest.raises(UnapprovedChange, match="not signed"):
        sync.pull(mine, author=OTHER)
    assert mine.head() == before


def test_verify_is_bounded_and_never_raises(keys) -> None:
    ok = signing.verify(b"x", None, b"", "ada@example.org", 0)
    assert not ok.ok and ok.detail == "not signed"
    assert not signing.verify(b"x", b"A" * 100_000, b"", "a@b", 0).ok
    sig = b"-----BEGIN SSH SIGNATURE-----\nnot base64\n-----END SSH SIGNATURE-----\n"
    bad = signing.verify(b"x", sig, allowed(("a@example.org", keys["ada"][1])), "a@example.org", 0)
    assert not bad.ok
    assert "cannot be a signer" in signing.verify(b"x", sig, b"", "*@example.org", 0).detail


@pytest.mark.slow
def test_turning_signing_off_takes_a_signed_commit(store: Store, keys) -> None:
    """Else one unsigned commit in a person's name would undo the setting."""
    text = (store.read_file("imlgit.toml", "main") or b"").decode()
    off = text.replace("require_signed_approvals = true", "require_signed_approvals = false")
    main = store.head()
    msg = CommitMessage.make("edit", "no more signatures", "Signing is slow.")
    with pytest.raises(UnapprovedChange, match="changes imlgit.toml while main requires signed"):
        store.commit({"imlgit.toml": off.encode()}, msg, author=PERSON, branch="main")
    with pytest.raises(UnapprovedChange, match="changes allowed_signers while"):
        store.commit({"allowed_signers": allowed(("ada@example.org", keys["eve"][1]))}, msg,
                     author=PERSON, branch="main")  # fmt: skip
    assert store.head() == main
    # with git and its hooks: unsigned refused, signed by Ada's allowed key accepted
    (store.path / "imlgit.toml").write_text(off)
    run_git(store.path, "add", "imlgit.toml")
    refused = subprocess.run(["git", "commit", "-q", "-m", "no more signatures"],
                             cwd=store.path, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode != 0 and "not signed" in refused.stderr, refused.stderr
    assert store.head() == main
    sign_with(store, keys["ada"][0])
    run_git(store.path, "commit", "-q", "-S", "-m", "no more signatures")
    assert store.head() != main and store.guard.uncovered(store.head()) == []
    assert 'Good "git" signature for ada@example.org' in show_signature(store, "main")


@pytest.mark.slow
def test_the_forge_check_verifies_mains_approvals(tmp_path: Path, store: Store, keys) -> None:
    sign_with(store, keys["ada"][0])
    proposal(store, "p1")
    rv.approve(store, "p1", approver=PERSON)
    proposal(store, "p2", seed=2)
    assert forge_ci(tmp_path, store.path, "main").returncode == 0
    ok = forge_ci(tmp_path, store.path, "proposals/p2", "proposals/p2")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # an unsigned approval reaches main where no hook runs: both checks fail, naming it
    shutil.rmtree(store.gitdir / "hooks")
    msg = CommitMessage.make("approve", "proposal p2", "Looks fine.",
                             trailers=[("Imlgit-Proposal", "p2")])  # fmt: skip
    run_git(store.path, "merge", "--no-ff", "-q", "-m", msg.render(), "proposals/p2")
    proposal(store, "p3", seed=3)
    on_main = forge_ci(tmp_path, store.path, "main")
    assert on_main.returncode == 1 and "not signed" in on_main.stderr, on_main.stderr
    on_pr = forge_ci(tmp_path, store.path, "proposals/p3", "proposals/p3")
    assert on_pr.returncode == 1 and "not signed" in on_pr.stderr


# ------------------------------------------------------------- forged, by structure


def _raw_commit(store: Store, tree: bytes, parents: list[str], who: Identity, msg: str,
                when: int = 1_795_100_000) -> str:  # fmt: skip
    """A commit written with no guard (as plain git would), on tree id ``tree``."""
    from dulwich.objects import Commit

    c = Commit()
    c.tree = tree
    c.parents = [p.encode() for p in parents]
    c.author = c.committer = who.to_bytes()
    c.author_time = c.commit_time = when
    c.author_timezone = c.commit_timezone = 0
    c.message = msg.encode()
    store.repo.object_store.add_object(c)
    return c.id.decode()


APPROVE = CommitMessage.make("approve", "proposal p1", "Fine.",
                             trailers=[("Imlgit-Proposal", "p1")]).render()  # fmt: skip


def test_an_approval_on_an_older_laxer_main_is_refused(store: Store, keys) -> None:
    """Its first parent is main from before signing was required."""
    p = proposal(store)
    main = store.head()
    lax = store.log("main")[1].sha  # before require_signing's commit
    assert not store.guard.signing_required_at(lax)
    forged = _raw_commit(store, store.objects.commit(p.head).tree, [lax, p.head], OTHER, APPROVE)
    for found in (store.guard.uncovered(forged, main), store.guard.uncovered(forged)):
        assert found and "requires signed approvals" in found[0].why, found
    with pytest.raises(UnapprovedChange):
        store.guard.check_move(main, forged)


@pytest.mark.parametrize("how", ["merge-with-older-main", "root-commit"])
def test_signing_cannot_be_turned_off_through_another_parent(store: Store, how: str) -> None:
    main = store.head()
    text = (store.read_file("imlgit.toml", "main") or b"").decode()
    off = text.replace("require_signed_approvals = true", "require_signed_approvals = false")
    from dulwich.objects import Blob

    blob = Blob.from_string(off.encode())
    store.repo.object_store.add_object(blob)
    tree = store.objects.write_tree(store.objects.commit(main).tree, {"imlgit.toml": blob.id})
    assert tree is not None
    first = store.log("main")[1].sha if how == "merge-with-older-main" else (
        _raw_commit(store, tree, [], EVE, "edit: off\n\nMine.\n"))
    merged = _raw_commit(store, tree, [first, main], EVE, "merge: off\n\nMine.\n")
    assert not store.guard.signing_required_at(merged)
    for found in (store.guard.uncovered(merged, main), store.guard.uncovered(merged)):
        assert found and "changes imlgit.toml" in found[0].why
        assert "while main requires signed approvals, and is not signed" in found[0].why


def test_a_policy_approval_must_be_signed_by_who_ran_it(tmp_path: Path, keys) -> None:
    from test_approvals import open_memory

    from imlgit.commits import POLICY
    from imlgit.config import person_identity

    store = Store.init(tmp_path / "auto", author=PERSON, clock=Clock())
    store.checkout_worktree()
    require_signing(store, allowed(("ada@example.org", keys["ada"][1])),
                    extra='policy = "auto"\n')  # fmt: skip
    sign_with(store, keys["ada"][0])
    done = open_memory(store, "auto").learn(ENV_SAMPLE(), batch=30, propose="p-auto")
    assert done.approval is not None, done  # the policy approved, signed by Ada who ran it
    info = store.commit_info(store.head())
    assert info.author == str(POLICY) and info.committer == str(person_identity())
    assert store.guard.uncovered(store.head()) == []
    # a policy approval written by anyone, unsigned: does not count
    p = proposal(store, "p2", seed=2)
    forged = _raw_commit(store, store.objects.commit(p.head).tree, [store.head(), p.head], POLICY,
                         APPROVE.replace("p1", "p2"))  # fmt: skip
    found = store.guard.uncovered(forged, store.head())
    assert found and "not signed" in found[0].why
    # without a key the policy leaves it for a person, and says why
    sign_with(store, None, fmt="openpgp")
    later = open_memory(store, "auto").learn(ENV_SAMPLE(3), batch=30, propose="p3")
    assert later.approval is None and "could not sign" in (later.decision.note or "")


def ENV_SAMPLE(seed: int = 5):  # type: ignore[no-untyped-def]
    from test_approvals import ENV

    return ENV.sample(60, seed)


def test_a_backdated_signature_is_judged_at_its_parents_time(tmp_path: Path, keys) -> None:
    s = Store.init(tmp_path / "bd", author=PERSON, clock=Clock())
    s.checkout_worktree()
    require_signing(s, f'ada@example.org namespaces="git",valid-before="20260101" '
                    f'{keys["ada"][1]}\n'.encode())  # fmt: skip
    sign_with(s, keys["ada"][0])
    proposal(s)
    s.git.clock = lambda: 1_700_000_000  # 2023, when the key was still valid
    with pytest.raises(UnapprovedChange, match="not signed by a key"):
        rv.approve(s, "p1", approver=PERSON)


def test_a_header_added_to_a_signed_approval_breaks_it(store: Store, keys) -> None:
    sign_with(store, keys["ada"][0])
    proposal(store)
    before = store.head()
    done = rv.approve(store, "p1", approver=PERSON)
    raw = store.objects.commit(done.sha).as_raw_string()
    tampered = raw.replace(b"\nencoding ", b"\ngpgsigx junk\nencoding ", 1)
    assert tampered != raw
    from dulwich.objects import ShaFile

    obj = ShaFile.from_raw_string(1, tampered)  # 1: a commit
    store.repo.object_store.add_object(obj)
    found = store.guard.uncovered(obj.id.decode(), before)
    assert found and "not signed by a key" in found[0].why


def test_main_moves_only_forward(store: Store) -> None:
    """A rewind to a main from before signing was required would make the old rules
    the floor again: refused by the guard and by `imlgit check --move` (the hooks)."""
    strict = store.head()
    lax = store.log("main")[1].sha
    with pytest.raises(UnapprovedChange, match="moves only forward"):
        store.guard.check_move(strict, lax)
    out = subprocess.run(["git", "update-ref", "refs/heads/main", lax], cwd=store.path,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0 and "moves only forward" in out.stderr
    assert store.head() == strict


@pytest.mark.slow
def test_a_signer_added_then_used_in_one_move_is_accepted(tmp_path: Path, store: Store,
                                                          keys) -> None:  # fmt: skip
    """Ada (allowed) adds Carl with a signed commit; Carl approves; a clone pulls both."""
    mine = sync.clone(str(store.path), tmp_path / "clone")
    carl_key, carl_pub = keypair(tmp_path / "keys", "carl")
    signers = (store.read_file("allowed_signers", "main") or b"") + allowed(
        ("carl@example.org", carl_pub))
    (store.path / "allowed_signers").write_bytes(signers)
    run_git(store.path, "add", "allowed_signers")
    sign_with(store, keys["ada"][0])
    run_git(store.path, "commit", "-q", "-S", "-m", "Carl reviews too")
    proposal(store)
    sign_with(store, carl_key)
    rv.approve(store, "p1", approver=Identity("Carl", "carl@example.org"))
    sign_with(mine, keys["bo"][0])
    pulled = sync.pull(mine, author=OTHER)
    assert pulled.sha == store.head() and mine.guard.uncovered(mine.head()) == []


def test_a_lax_history_merged_by_a_person_is_found_by_doctor(store: Store) -> None:
    """An unsigned approval on a main from before signing, merged into main by an
    unsigned person's merge that keeps main's settings: doctor (no move to judge
    against) finds it through the merge, which changes the settings of one parent."""
    from imlgit.commits import LEARNER

    main = store.head()
    lax = store.log("main")[1].sha
    t = store.objects.commit(lax).tree
    learned = _raw_commit(store, t, [lax], LEARNER, "revise: x\n\nLearned.\n")
    appr = _raw_commit(store, t, [lax, learned], EVE, APPROVE)
    main_tree = store.objects.commit(main).tree
    merged = _raw_commit(store, main_tree, [main, appr], EVE, "merge: x\n\nx.\n")
    found = store.guard.uncovered(merged)
    assert found and any("while main requires signed approvals" in u.why for u in found)
    assert store.guard.uncovered(merged, main)
