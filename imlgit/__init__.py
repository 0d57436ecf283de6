"""imlgit: In-Memory Learning with a git repository as the memory.

The stable Python API (docs/PYTHON-API.md)::

    import imlgit

    mem = imlgit.Memory.open("memory")
    mem.record({"scope": "shipping", "input": "a 40 kg parcel to Oslo", "output": "air",
                "outcome": {"expected": "sea"}})
    mem.learn()                     # into a proposal a person approves (imlgit approve NAME)
    mem.recall("heavy parcel abroad", k=3)
    mem.ask("a 40 kg parcel to Oslo", scope="shipping")
    mem.propose("Parcels over 30 kg go by sea.", "Air freight refuses them.", scope="shipping")

Every name of ``__all__`` is imported on first use, so ``import imlgit`` stays
cheap (no numpy, torch or git work until something needs it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        ConfigError,
        ConflictError,
        EmbedderError,
        ExperienceError,
        ExperienceNotFound,
        ImlgitError,
        IndexError_,
        LearnError,
        LLMError,
        LLMOutputError,
        MessageError,
        NotAMemoryRepo,
        PrivacyError,
        PullRefused,
        PushRejected,
        RationaleRequired,
        RemoteError,
        ReviewError,
        RevisionNotFound,
        RuleError,
        RuleIdError,
        RuleNotFound,
        SelfApprovalError,
        SigningError,
        StoreError,
        SyncConflict,
        ToolInputError,
        UnapprovedChange,
        VerificationError,
    )
    from .experience import Experience, Outcome, load_jsonl
    from .infer import Answer
    from .memory import Ask, Learned, Memory, Recalled
    from .rules import Rule

__all__ = [
    "__version__",
    # the API
    "Memory",
    "Ask",
    "Recalled",
    "Answer",
    "Learned",
    "Experience",
    "Outcome",
    "load_jsonl",
    "Rule",
    # errors
    "ImlgitError",
    "ConfigError",
    "RuleError",
    "RuleIdError",
    "ExperienceError",
    "StoreError",
    "NotAMemoryRepo",
    "RevisionNotFound",
    "RuleNotFound",
    "ExperienceNotFound",
    "RationaleRequired",
    "ConflictError",
    "RemoteError",
    "PushRejected",
    "PullRefused",
    "SyncConflict",
    "MessageError",
    "ToolInputError",
    "IndexError_",
    "EmbedderError",
    "LLMError",
    "LLMOutputError",
    "LearnError",
    "VerificationError",
    "ReviewError",
    "SelfApprovalError",
    "SigningError",
    "UnapprovedChange",
    "PrivacyError",
]

# name -> the module that defines it
_WHERE = {
    "Memory": "memory",
    "Ask": "memory",
    "Recalled": "memory",
    "Learned": "memory",
    "Answer": "infer",
    "Experience": "experience",
    "Outcome": "experience",
    "load_jsonl": "experience",
    "Rule": "rules",
    **{
        name: "errors"
        for name in __all__
        if name.endswith(("Error", "Error_", "Repo", "Found", "Required", "Change", "Rejected",
                          "Refused", "Conflict"))
        and name != "__version__"
    },
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imlgit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once resolved, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
