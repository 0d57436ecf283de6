"""Summaries, Markdown tables and learning-curve plots of benchmark runs."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .harness import CONDITIONS, DESCRIPTIONS, MODEL_CONDITIONS, RunResult

# one color and marker per condition, the same in every panel and every run
_COLORS = (
    "#7f7f7f", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#1f77b4", "#bcbd22", "#000000",
)  # fmt: skip
_MARKERS = ("o", "s", "^", "v", "D", "x", "P", "*", "<", ">", "h")

__all__ = ["summarize", "mean_spread", "main_table", "curve_table", "sweep_table", "plot_curves"]


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _sd(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def mean_spread(values: Sequence[float], *, percent: bool = True, seeds: bool = False) -> str:
    """``mean ± population sd`` (of the seeds), as a percentage; one value alone."""
    if not values:
        return "-"
    scale = 100.0 if percent else 1.0
    unit = "%" if percent else ""
    if len(values) == 1:
        return f"{values[0] * scale:.1f}{unit}"
    text = f"{_mean(values) * scale:.1f}{unit} ± {_sd(values) * scale:.1f}"
    if seeds:
        text += " (" + ", ".join(f"{v * scale:.1f}" for v in values) + ")"
    return text


def summarize(runs: Sequence[RunResult]) -> dict[str, dict[str, Any]]:
    """Per condition (in order of first appearance): mean and spread over seeds."""
    out: dict[str, dict[str, Any]] = {}
    for cond in dict.fromkeys(r.condition for r in runs):
        rs = [r for r in runs if r.condition == cond and r.iterations]
        if not rs:
            continue
        finals = [r.final for r in rs]
        ops: Counter[str] = Counter()
        for r in rs:
            ops.update(r.operations())
        checked = [r.iterations[-1].checked_accuracy for r in rs]
        ask = [r.iterations[-1].ask_accuracy for r in rs]
        out[cond] = {
            "seeds": [r.seed for r in rs],
            "final_accuracy": finals,
            "mean": _mean(finals),
            "sd": _sd(finals),
            "first_accuracy": _mean([r.iterations[0].accuracy for r in rs]),
            "act_accuracy_last": _mean([r.iterations[-1].act_accuracy or 0.0 for r in rs]),
            "checked_accuracy": [c for c in checked if c is not None] or None,
            "ask_accuracy": [a for a in ask if a is not None] or None,
            "tested": rs[0].iterations[-1].tested,
            "rules": _mean([r.iterations[-1].rules for r in rs]),
            "operations": {k: v / len(rs) for k, v in sorted(ops.items())},
            "oscillations": _mean([r.oscillations for r in rs]),
            "prompt_tokens": _mean([sum(i.prompt_tokens for i in r.iterations) for r in rs]),
            "completion_tokens": _mean(
                [sum(i.completion_tokens for i in r.iterations) for r in rs]
            ),
            "failed": _mean([sum(i.failed for i in r.iterations) for r in rs]),
            "seconds": _mean([r.seconds for r in rs]),
        }
    return out


def _ops_text(ops: dict[str, float]) -> str:
    if not ops:
        return "-"
    return ", ".join(f"{_num(v)} {k}" for k, v in ops.items())


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _tokens_text(s: dict[str, Any]) -> str:
    p, c = s["prompt_tokens"], s["completion_tokens"]
    return "-" if not p and not c else f"{p:,.0f} + {c:,.0f}"


def main_table(runs: Sequence[RunResult]) -> str:
    """The main results: one row per condition, mean ± spread over seeds."""
    lines = [
        "| condition | memory | learner | answered by | seeds | held-out accuracy "
        "(mean ± sd) | after the first batch | rules | operations (per run) | "
        "oscillations | tokens (prompt + completion) | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cond, s in summarize(runs).items():
        memory, learner, how = DESCRIPTIONS.get(cond, ("?", "?", "?"))
        acc = mean_spread(s["final_accuracy"], seeds=len(s["seeds"]) > 1)
        if cond in MODEL_CONDITIONS:
            how += f" (first {s['tested']} held-out)"
            extra = []
            if s["checked_accuracy"]:
                extra.append(f"checked {mean_spread(s['checked_accuracy'])}")
            if s["ask_accuracy"]:
                extra.append(f"as ask {mean_spread(s['ask_accuracy'])}")
            if s["failed"]:
                extra.append(f"{_num(s['failed'])} failed calls a run")
            if extra:
                acc += " [" + "; ".join(extra) + "]"
        lines.append(
            f"| {cond} | {memory} | {learner} | {how} | {len(s['seeds'])} | {acc} | "
            f"{s['first_accuracy'] * 100:.1f}% | {s['rules']:.1f} | {_ops_text(s['operations'])} | "
            f"{_num(s['oscillations'])} | {_tokens_text(s)} | {s['seconds']:.1f} |"
        )
    return "\n".join(lines)


def curve_table(runs: Sequence[RunResult]) -> str:
    """Held-out accuracy after each batch, mean over seeds, one column per condition."""
    conds = list(dict.fromkeys(r.condition for r in runs if r.iterations))
    if not conds:
        return ""
    longest = max((r for r in runs), key=lambda r: len(r.iterations))
    lines = [
        "| experiences | " + " | ".join(conds) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for i, it in enumerate(longest.iterations):
        cells = []
        for c in conds:
            accs = [
                r.iterations[i].accuracy for r in runs if r.condition == c and len(r.iterations) > i
            ]
            cells.append(f"{_mean(accs) * 100:.1f}%" if accs else "-")
        lines.append(f"| {it.seen} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(columns: Sequence[tuple[str, Sequence[RunResult]]]) -> str:
    """Final accuracy per condition (rows) and setting (columns), mean ± sd over seeds,
    and the oscillations per run where there were any."""
    conds = list(dict.fromkeys(r.condition for _, runs in columns for r in runs))
    lines = [
        "| condition | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for c in conds:
        cells = []
        for _, runs in columns:
            rs = [r for r in runs if r.condition == c and r.iterations]
            cell = mean_spread([r.final for r in rs])
            osc = _mean([r.oscillations for r in rs])
            cells.append(cell + (f" ({_num(osc)} osc.)" if osc else ""))
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(
    panels: Sequence[tuple[str, Sequence[RunResult]]], path: Path, *, suptitle: str = ""
) -> bool:
    """Learning curves (mean over seeds, band: min to max), one panel per entry.
    False, and nothing written, when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    n = max(1, len(panels))
    width = 5.2 * n if n > 1 else 7.5
    fig, axes = plt.subplots(1, n, figsize=(width, 4.4), squeeze=False, sharey=True)
    for ax, (title, runs) in zip(axes[0], panels, strict=False):
        for cond in dict.fromkeys(r.condition for r in runs if r.iterations):
            rs = [r for r in runs if r.condition == cond and r.iterations]
            length = min(len(r.iterations) for r in rs)
            xs = [rs[0].iterations[i].seen for i in range(length)]
            per = [[r.iterations[i].accuracy * 100 for r in rs] for i in range(length)]
            ys = [_mean(v) for v in per]
            at = CONDITIONS.index(cond) if cond in CONDITIONS else len(CONDITIONS)
            color = _COLORS[at % len(_COLORS)]
            ax.plot(
                xs,
                ys,
                "--" if cond in MODEL_CONDITIONS else "-",
                color=color,
                marker=_MARKERS[at % len(_MARKERS)],
                markersize=4,
                linewidth=1.4,
                label=cond,
            )
            if len(rs) > 1:
                ax.fill_between(
                    xs,
                    [min(v) for v in per],
                    [max(v) for v in per],
                    color=color,
                    alpha=0.12,
                    linewidth=0,
                )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("experiences learned from")
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7)
    axes[0][0].set_ylabel("held-out accuracy (%)")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
