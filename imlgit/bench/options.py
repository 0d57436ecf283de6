"""What a benchmark run is asked for: :class:`BenchOptions` (seeds, iterations,
noise, difficulty, conditions, model), its defaults, and the command line's text
values parsed into them (:func:`bench_options`, :func:`scale_options`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .harness import (
    CONDITIONS,
    MODEL_CONDITIONS,
    NO_MODEL_CONDITIONS,
)
from .scale import ScaleOptions

Difficulty = tuple[int, int, int]  # clauses, literals, attributes
DEFAULT_DIFFICULTY: tuple[Difficulty, ...] = (
    (2, 1, 6),
    (3, 2, 10),
    (5, 2, 10),
    (3, 3, 10),
    (3, 2, 16),
    (5, 3, 16),
)
TICKETS_DIFFICULTY: tuple[Difficulty, ...] = ((2, 0, 0), (3, 0, 0), (4, 0, 0), (5, 0, 0))
EMBEDDED_MODEL_BATCH = 4
DEFAULT_NOISE_LEVELS = (0.0, 0.1, 0.2)
QUICK_ITERATIONS = 3
QUICK_TEST = 200
ENVIRONMENTS = ("truth-table", "tickets")
_GROUPS = {CONDITIONS: "all", NO_MODEL_CONDITIONS: "no-model", MODEL_CONDITIONS: "with-model"}


@dataclass(frozen=True)
class BenchOptions:
    """What to run. ``quick`` shrinks it for a CI smoke test (see :meth:`resolved`)."""

    env: str = "truth-table"
    seeds: tuple[int, ...] = (0, 1, 2)
    iterations: int = 10
    batch: int = 20
    test: int = 1000
    noise: float = 0.0
    noise_levels: tuple[float, ...] = DEFAULT_NOISE_LEVELS
    attributes: int = 10
    classes: int = 4
    clauses: int = 3
    literals: int = 2
    difficulty: tuple[Difficulty, ...] | None = None  # None: the environment's default
    conditions: tuple[str, ...] | None = None  # None: see the module docstring
    sweep_conditions: tuple[str, ...] | None = None
    momentum: float = 0.25
    window: int | None = None
    k: int = 8
    embedder: str | None = None  # minilm (default) | hash (default in quick mode)
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model_test: int = 20
    model_timeout: float | None = None  # seconds per model request (None: the client's)
    model_batch: int | None = None
    model_seeds: int | None = None
    act_with_model: bool = False
    quick: bool = False
    out: Path = Path("bench-results")

    def __post_init__(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"env is one of {', '.join(ENVIRONMENTS)}")
        if not self.seeds:
            raise ValueError("need at least one seed")
        if self.iterations < 1 or self.batch < 1 or self.test < 1 or self.k < 1:
            raise ValueError("iterations, batch, test and k must be at least 1")
        for level in (self.noise, *self.noise_levels):
            if not 0.0 <= level < 1.0:
                raise ValueError("noise is a share of flipped outcomes, 0 <= noise < 1")
        if self.model_test < 1:
            raise ValueError("model_test must be at least 1")

    @property
    def stem(self) -> str:
        return "truthtable" if self.env == "truth-table" else "tickets"

    def resolved(self) -> BenchOptions:
        """Quick mode applied: one seed, at most 3 iterations, at most 200 held-out and
        5 model-answered questions; unless given, noise levels 0 and 20%, two
        difficulties and the hash embedder."""
        if not self.quick:
            return self
        base = self.base_difficulty()
        harder = (5, 2, 10) if self.env == "truth-table" else (4, 0, 0)
        return replace(
            self,
            seeds=self.seeds[:1],
            iterations=min(self.iterations, QUICK_ITERATIONS),
            test=min(self.test, QUICK_TEST),
            noise_levels=(
                tuple(dict.fromkeys((self.noise, 0.2)))
                if self.noise_levels == DEFAULT_NOISE_LEVELS
                else self.noise_levels
            ),
            difficulty=(
                tuple(dict.fromkeys((base, harder))) if self.difficulty is None else self.difficulty
            ),
            embedder=self.embedder or "hash",
            model_test=min(self.model_test, 5),
        )

    def base_difficulty(self) -> Difficulty:
        if self.env == "tickets":
            return (self.clauses, 0, 0)
        return (self.clauses, self.literals, self.attributes)

    def difficulties(self) -> tuple[Difficulty, ...]:
        if self.difficulty is not None:
            return self.difficulty
        return DEFAULT_DIFFICULTY if self.env == "truth-table" else TICKETS_DIFFICULTY

    def command(self) -> str:
        """The ``imlgit bench`` command line that makes these options (no API key)."""
        default = BenchOptions(env=self.env)
        words = ["imlgit", "bench", self.env]
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if name in ("env", "api_key") or value == getattr(default, name):
                continue
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                words.append(flag)
            elif name in ("conditions", "sweep_conditions") and value in _GROUPS:
                words += [flag, _GROUPS[value]]
            elif isinstance(value, tuple) and not value:
                words += [flag, '""']
            elif name == "difficulty":
                words += [flag, format_difficulty(value)]
            elif isinstance(value, tuple):
                words += [
                    flag,
                    ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value),
                ]
            else:
                words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["api_key"] = "(set)" if self.api_key else None
        return data


def parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_floats(text: str) -> tuple[float, ...]:
    out = []
    for x in text.split(","):
        x = x.strip()
        if x:
            out.append(float(x[:-1]) / 100 if x.endswith("%") else float(x))
    return tuple(out)


def parse_difficulty(text: str) -> tuple[Difficulty, ...]:
    """``"3x2x10,5x3x16"``: clauses x literals x attributes (tickets: clauses alone)."""
    out: list[Difficulty] = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parts = [int(p) for p in item.strip().lower().split("x") if p]
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"difficulty {item!r}: CLAUSESxLITERALSxATTRIBUTES")
        parts += [0] * (3 - len(parts))
        out.append((parts[0], parts[1], parts[2]))
    return tuple(out)


def format_difficulty(values: Sequence[Difficulty]) -> str:
    return ",".join("x".join(str(p) for p in d if p) for d in values)


def parse_conditions(text: str | None) -> tuple[str, ...] | None:
    """Names, comma-separated; ``all``, ``no-model`` and ``with-model`` name groups."""
    if text is None or not text.strip():
        return None
    out: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if word == "all":
            out += CONDITIONS
        elif word == "no-model":
            out += NO_MODEL_CONDITIONS
        elif word == "with-model":
            out += MODEL_CONDITIONS
        elif word in CONDITIONS:
            out.append(word)
        elif word:
            raise ValueError(
                f"unknown condition {word!r}; known: {', '.join(CONDITIONS)} "
                "(or all, no-model, with-model)"
            )
    ordered = [c for c in CONDITIONS if c in out]
    return tuple(ordered)


def resolve_conditions(
    wanted: Sequence[str] | None, *, endpoint: bool, quick: bool = False
) -> tuple[str, ...]:
    """The conditions to run: those named, else the no-model ones, plus the model
    ones when an endpoint is configured (not in quick mode)."""
    if wanted:
        return tuple(c for c in CONDITIONS if c in wanted)
    if endpoint and not quick:
        return CONDITIONS
    return NO_MODEL_CONDITIONS


# --------------------------------------------------------------------------- command-line values


_PARSERS: dict[str, Callable[[str], Any]] = {
    "seeds": parse_ints,
    "noise_levels": parse_floats,
    "difficulty": parse_difficulty,
    "conditions": parse_conditions,
    "sweep_conditions": parse_conditions,
    "sizes": parse_ints,
}


def _values(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, str) and key in _PARSERS:
            value = _PARSERS[key](value)
        elif key == "out" and value is not None:
            value = Path(value)
        if value is not None:
            out[key] = value
    return out


def bench_options(env: str, **values: Any) -> BenchOptions:
    """BenchOptions from command-line values: seeds, noise levels, difficulty and
    conditions as comma-separated text (``""``: none); None means the default.
    ValueError names what is wrong."""
    return BenchOptions(env=env, **_values(values))


def scale_options(**values: Any) -> ScaleOptions:
    """ScaleOptions from command-line values (sizes comma-separated; None: default)."""
    return ScaleOptions(**_values(values))
