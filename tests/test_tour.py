"""The README's main job (`make demo` runs `python -m imlgit.tour`) works end to end:
learning offline, accuracy rising, a bad revision rolled back, the embedded model
answering. Slow: it starts MiniLM and the llama.cpp server, as a user's run does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_tour_runs(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "imlgit.tour", str(tmp_path / "tour")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    curve = [float(x) for x in re.findall(r"after +\d+ experiences: ([\d.]+)%", out)]
    assert len(curve) == 10 and curve[-1] >= 95.0 and curve[-1] > curve[0]
    evals = [float(x) for x in re.findall(r"^([\d.]+)% \(", out, re.M)]
    assert evals[0] < evals[1]  # after the bad edit, then after the rollback
    assert "path: checked" in out and "rollback: revert" in out
    # learning went through review: a proposal, approved by the person, not the learner
    assert "$ imlgit approve truth-table-1" in out and "approved truth-table-1" in out
    assert "approved 1 (0 by the policy)" in out
    assert (tmp_path / "tour" / "memory" / "imlgit.toml").exists()
