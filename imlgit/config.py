"""Settings, resolved once: flag > IMLGIT_* / OPENAI_* environment > imlgit.toml > defaults.

The environment is a parameter (``env``), so tests pass a dict and never touch
``os.environ``.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from .commits import LEARNER, Identity, parse_identity
from .errors import ConfigError, ImlgitError

__all__ = ["Settings", "load_settings", "person_identity", "DEFAULTS", "ENV", "PROCESS_ENV"]

# What a process imlgit owns (the CLI, the MCP server, the benchmarks) sets for itself,
# unless already set; the library never changes the host's environment.
# - idle OpenMP workers sleep rather than spin: with torch's and faiss's pools in one
#   process, or on busy cores, spinning made a query embedding ~30x slower
#   (bench/retrieval_bench.py); read once, when OpenMP loads;
# - the Hugging Face hub is never contacted (the models are local files).
PROCESS_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# section -> key -> (type, default). The template imlgit.toml documents each.
DEFAULTS: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "model": {
        "base_url": (str, None),
        "model": (str, None),
        "api_key": (str, None),
        "timeout": ((int, float), 60.0),
        "retries": (int, 2),
        "max_retries": (int, 2),
        "max_tokens": (int, None),
        "temperature": ((int, float), None),
    },
    "embedder": {
        "model": (str, "all-MiniLM-L6-v2"),
        "device": (str, "cpu"),
        "batch_size": (int, 64),
        "runtime": (str, "auto"),
    },
    "retrieval": {"k": (int, 8), "hnsw_threshold": (int, 20_000)},
    "learn": {
        "learner": (str, "auto"),
        "batch": (int, 16),
        "momentum": ((int, float), 0.25),
        "min_precision": ((int, float), 0.75),
        "default_precision": ((int, float), 0.5),
        "min_coverage": (int, 3),
        "store_experiences": (str, "full"),
    },
    "review": {
        "policy": (str, "manual"),
        "max_rules": (int, 5),
        "max_rules_per_100": (int, 10),
        "min_support": (int, 3),
        "protect_support": (int, 10),
        "eval_set": (str, None),
        "require_signed_approvals": (bool, False),
        "allowed_signers": (str, "allowed_signers"),
    },
    "scan": {"allow": (list, [])},
    "privacy": {"experiences": (str, "redact")},
    "prune": {"max_rules": (int, 0)},
}

MAX_CONFIG_CHARS = 1_000_000
MAX_CONFIG_DEPTH = 32


def _nesting(text: str) -> int:
    """An upper bound of how deep a TOML text nests arrays and inline tables (brackets
    inside strings count too, which only makes the bound safer): tomllib recurses."""
    depth = deepest = 0
    for c in text:
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
    return deepest


# Environment variables and the setting each one sets.
ENV = {
    "IMLGIT_BASE_URL": ("model", "base_url"),
    "OPENAI_BASE_URL": ("model", "base_url"),
    "IMLGIT_MODEL": ("model", "model"),
    "IMLGIT_API_KEY": ("model", "api_key"),
    "OPENAI_API_KEY": ("model", "api_key"),
    "IMLGIT_LLM_TIMEOUT": ("model", "timeout"),
    "IMLGIT_EMBEDDER": ("embedder", "model"),
    "IMLGIT_LEARNER": ("learn", "learner"),
    "IMLGIT_POLICY": ("review", "policy"),
}
_CHOICES = {
    ("embedder", "runtime"): ("auto", "numpy", "onnxruntime", "sentence-transformers"),
    ("learn", "learner"): ("auto", "model", "covering"),
    ("learn", "store_experiences"): ("full", "hashes"),
    ("review", "policy"): ("manual", "gated", "auto"),
    ("privacy", "experiences"): ("redact", "refuse", "hashes"),
}


@dataclass(frozen=True)
class Settings:
    """Every setting, each with the place it came from (for ``imlgit config``)."""

    values: dict[str, dict[str, Any]]
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    def section(self, section: str) -> dict[str, Any]:
        return dict(self.values[section])


def _coerce(section: str, key: str, value: Any, where: str) -> Any:
    kind, _ = DEFAULTS[section][key]
    if isinstance(value, str) and kind in (int, (int, float)):
        try:
            value = float(value) if kind == (int, float) else int(value)
        except ValueError:
            raise ConfigError(
                f"{where}: [{section}] {key} must be a number, got {value!r}"
            ) from None
    if isinstance(value, str) and kind is bool and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: [{section}] {key} has the wrong type ({type(value).__name__})")
    if (section, key) == ("scan", "allow"):
        for pattern in cast(list[Any], value):
            if not isinstance(pattern, str):
                raise ConfigError(f"{where}: [scan] allow: {pattern!r} is not a string")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{where}: [scan] allow: invalid pattern {pattern!r}: {exc}"
                ) from None
    choices = _CHOICES.get((section, key))
    if choices and value not in choices:
        raise ConfigError(f"{where}: [{section}] {key} must be one of {', '.join(choices)}")
    return value


def load_settings(
    toml_text: str | None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[tuple[str, str], Any] | None = None,
    where: str = "imlgit.toml",
) -> Settings:
    """Resolve settings from a memory repo's imlgit.toml text, the env and flags."""
    values = {s: {k: d for k, (_, d) in keys.items()} for s, keys in DEFAULTS.items()}
    sources = {f"{s}.{k}": "default" for s, keys in DEFAULTS.items() for k in keys}
    if toml_text:
        if len(toml_text) > MAX_CONFIG_CHARS:
            raise ConfigError(f"{where}: {len(toml_text)} characters; at most {MAX_CONFIG_CHARS}")
        depth = _nesting(toml_text)
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where}: values nested {depth} deep; at most {MAX_CONFIG_DEPTH}")
        try:
            data = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
            raise ConfigError(f"{where}: {exc}") from None
        for section, keys in data.items():
            if section not in DEFAULTS or not isinstance(keys, dict):
                raise ConfigError(f"{where}: unknown section [{section}]")
            for key, value in keys.items():
                if key not in DEFAULTS[section]:
                    raise ConfigError(f"{where}: unknown setting {key!r} in [{section}]")
                values[section][key] = _coerce(section, key, value, where)
                sources[f"{section}.{key}"] = where
    env = os.environ if env is None else env
    # Earlier names in ENV win over later ones for the same setting (IMLGIT_ first).
    for name in reversed(list(ENV)):
        if env.get(name):
            section, key = ENV[name]
            values[section][key] = _coerce(section, key, env[name], name)
            sources[f"{section}.{key}"] = name
    for (section, key), value in (flags or {}).items():
        if value is not None:
            values[section][key] = _coerce(section, key, value, "flag")
            sources[f"{section}.{key}"] = "flag"
    return Settings(values, sources)


def person_identity(env: Mapping[str, str] | None = None, repo_path: str | None = None) -> Identity:
    """The person at the keyboard: IMLGIT_AUTHOR, else git's user.name / user.email.

    Falls back to the login name at this host. Never the learner's identity.
    """
    env = os.environ if env is None else env
    ident: Identity | None = None
    if env.get("IMLGIT_AUTHOR"):
        try:
            ident = parse_identity(env["IMLGIT_AUTHOR"])
        except ImlgitError as exc:
            raise ConfigError(f"IMLGIT_AUTHOR: {exc}") from None
    if ident is None:
        from .git.repo import git_user  # git's user.name / user.email, read by the git layer

        ident = git_user(repo_path)
    if ident is None:
        user = env.get("USER") or _login()
        ident = Identity(user, f"{user}@{socket.gethostname() or 'localhost'}")
    if ident.email == LEARNER.email:
        raise ConfigError("the person's identity may not be the learner's")
    return ident


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "user"
