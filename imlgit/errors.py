"""One exception tree for imlgit.

Every error imlgit raises on purpose derives from :class:`ImlgitError`, so a
caller can catch one class, and the CLI turns it into one line and exit 1::

    ImlgitError
    ├── ConfigError                  imlgit.toml, a flag, the environment or the installation
    ├── RuleError                    a rule file or rule value is invalid (.path, .line, .field)
    │   └── RuleIdError              an id that is not a safe file name
    ├── ExperienceError              an experiences line is invalid (.path, .line, .field)
    ├── PrivacyError                 a rationale would commit a secret or personal data
    ├── MessageError                 a commit message imlgit would write is malformed
    ├── ToolInputError               an MCP tool argument refused before anything is done
    ├── StoreError                   the memory repository
    │   ├── NotAMemoryRepo           no imlgit memory at that path
    │   ├── RevisionNotFound         a revision that does not resolve (.rev)
    │   ├── RuleNotFound             no such rule at that revision (.rule_id, .rev)
    │   ├── ExperienceNotFound       no stored experience of that id (.experience_id)
    │   ├── RationaleRequired        a write without a rationale
    │   ├── RemoteError              a remote cannot be reached, or refused
    │   ├── PushRejected             the remote has commits we lack: pull first
    │   ├── PullRefused              incoming rule files do not validate (.problems)
    │   └── ConflictError            the same rule changed concurrently (.rule_ids)
    │       └── SyncConflict         a pull found rules changed on both sides (.versions)
    ├── IndexError_                  the derived retrieval index (never blocks a write)
    ├── EmbedderError                the embedding model cannot be loaded or used
    ├── LLMError                     the chat model endpoint failed
    │   └── LLMOutputError           the model's answer did not validate (.raw)
    ├── LearnError                   a learning step failed; nothing was committed
    │   └── VerificationError        a rule disagrees with its evidence (.rule_id, .figures)
    └── ReviewError                  proposals, approvals and the approval policy
        ├── SelfApprovalError        imlgit, or someone who wrote the change, approving it
        ├── SigningError             an approval that must be signed could not be
        └── UnapprovedChange         main would get imlgit's commits no approval covers
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ImlgitError(Exception):
    """Root of every error imlgit raises on purpose."""


class ConfigError(ImlgitError):
    """imlgit.toml, a flag, a parameter or an environment variable has a bad value,
    or a piece imlgit needs is not installed (the message says what to install)."""


class _Located(ImlgitError):
    """An error at a place in a file: ``path:line: field 'f': message``."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        where = ""
        if path is not None:
            where = path if line is None else f"{path}:{line}"
            where += ": "
        if field is not None:
            message = f"field '{field}': {message}"
        super().__init__(where + message)


class RuleError(_Located):
    """A rule file or a rule value is invalid.

    ``path`` is the file (or None for a value built in memory), ``line`` the
    1-based line where known, ``field`` the front-matter field where known.
    """


class RuleIdError(RuleError):
    """A rule id that is not a safe file name."""


class ExperienceError(_Located):
    """An experience (one JSONL line) is invalid (``path``, ``line``, ``field``)."""


class PrivacyError(ImlgitError):
    """Text that would be committed (a person's rationale) carries a secret or
    personal data; the message says where, never what."""


class MessageError(ImlgitError):
    """A commit message imlgit was asked to write is malformed: a subject not one
    line, a rationale too long or read by git as trailers or a patch, a bad trailer."""


class ToolInputError(ImlgitError):
    """An MCP tool argument that is refused before anything is done (a type, a
    length past the limit the tool's schema declares, a control character)."""


class StoreError(ImlgitError):
    """The memory repository could not be read or written."""


class NotAMemoryRepo(StoreError):
    """The path holds no imlgit memory repository."""

    def __init__(self, path: str, reason: str = "") -> None:
        self.path = path
        msg = f"{path}: not an imlgit memory repository"
        if reason:
            msg += f" ({reason})"
        msg += "; create one with 'imlgit init PATH'"
        super().__init__(msg)


class RevisionNotFound(StoreError):
    """A revision (sha, branch, tag, HEAD~n) that does not resolve."""

    def __init__(self, rev: str) -> None:
        self.rev = rev
        super().__init__(f"revision not found: {rev!r}")


class RuleNotFound(StoreError):
    """No rule with that id at that revision."""

    def __init__(self, rule_id: str, rev: str | None = None) -> None:
        self.rule_id = rule_id
        self.rev = rev
        at = f" at {rev}" if rev else ""
        super().__init__(f"rule not found: {rule_id!r}{at}")


class ExperienceNotFound(StoreError):
    """No stored experience with that id in this copy (``imlgit forget``)."""

    def __init__(self, message: str, experience_id: str) -> None:
        self.experience_id = experience_id
        super().__init__(message)


class RationaleRequired(StoreError):
    """Every write to memory needs a rationale (the commit message body)."""


class ConflictError(StoreError):
    """The same rule was changed by someone else since this change was prepared."""

    def __init__(self, message: str, rule_ids: list[str]) -> None:
        self.rule_ids = list(rule_ids)
        super().__init__(message)



class RemoteError(StoreError):
    """The remote could not be reached, is not configured, or refused the request."""


class PushRejected(StoreError):
    """The remote has commits a pushed branch does not: pull first, then push.

    ``branches`` names the rejected branches.
    """

    def __init__(self, message: str, branches: Sequence[str]) -> None:
        self.branches = list(branches)
        super().__init__(message)


class PullRefused(StoreError):
    """The remote's branch brings rule files ``imlgit check`` refuses; nothing was merged.

    ``problems`` holds one :class:`RuleError` per problem, each naming its file.
    """

    def __init__(self, message: str, problems: Sequence[RuleError]) -> None:
        self.problems = list(problems)
        super().__init__(message)


class SyncConflict(ConflictError):
    """A pull found rules changed both here and on the remote; nothing was merged.

    ``versions`` maps each rule id (or, for a file that is not a rule, its path)
    to ``(ours, theirs)``: the file's text on the local branch and on the remote
    branch, None where that side deleted it.
    """

    def __init__(
        self,
        message: str,
        versions: Mapping[str, tuple[str | None, str | None]],
        paths: Mapping[str, str] | None = None,
    ) -> None:
        self.versions: dict[str, tuple[str | None, str | None]] = dict(versions)
        self.paths: dict[str, str] = dict(paths or {})
        super().__init__(message, list(self.versions))

class IndexError_(ImlgitError):  # noqa: N801 - IndexError is a builtin
    """The derived retrieval index failed in a way a rebuild cannot repair."""


class EmbedderError(ImlgitError):
    """The embedding model cannot be loaded or used."""


class LLMError(ImlgitError):
    """The chat model endpoint failed (connection, timeout, server error)."""


class LLMOutputError(LLMError):
    """The model answered, but its answer did not validate; ``raw`` is the text."""

    def __init__(self, message: str, raw: str) -> None:
        self.raw = raw
        super().__init__(message)


class LearnError(ImlgitError):
    """A learning step failed; nothing from the failed batch was committed."""


class VerificationError(LearnError):
    """A checkable rule disagrees with the evidence it would be committed on."""

    def __init__(self, message: str, rule_id: str, figures: str = "") -> None:
        self.rule_id = rule_id
        self.figures = figures
        super().__init__(message)


class ReviewError(ImlgitError):
    """Proposals, approvals and the approval policy."""


class SelfApprovalError(ReviewError):
    """imlgit's own identities, and whoever wrote or committed a change, may never
    approve it."""


class SigningError(ReviewError):
    """An approval that must be signed (``[review] require_signed_approvals``)
    could not be: no key, not an SSH key, or ssh-keygen failed. Nothing was written."""


class UnapprovedChange(ReviewError):
    """Moving main would bring commits imlgit wrote that no approval record covers
    (``.commits``: what :func:`imlgit.approvals.uncovered` found)."""

    def __init__(self, message: str, commits: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.commits = commits
