"""``imlgit bench``: a click group with a subcommand per benchmark, over the plain
functions of imlgit.bench (which import no click)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from imlgit.bench.options import BenchOptions
from imlgit.bench.scale import ScaleOptions
from imlgit.bench.shapes_run import ShapesOptions
from imlgit.cli import cli

BENCH = Path(__file__).resolve().parent.parent / "imlgit" / "bench"


def test_bench_lists_its_benchmarks_and_each_has_click_help() -> None:
    top = CliRunner().invoke(cli, ["bench", "--help"])
    assert top.exit_code == 0, top.output
    for name in ("truth-table", "tickets", "shapes", "scale"):
        assert f"  {name} " in top.output
    shapes = CliRunner().invoke(cli, ["bench", "shapes", "--help"], prog_name="imlgit")
    assert shapes.exit_code == 0
    assert shapes.output.startswith("Usage: imlgit bench shapes [OPTIONS]")
    for option in ("--envs", "--seeds", "--train", "--test", "--batch", "--conditions",
                   "--momentum", "--k", "--embedder", "--out"):  # fmt: skip
        assert f"  {option} " in shapes.output
    assert f"[default: {ShapesOptions().train}]" in shapes.output
    table = CliRunner().invoke(cli, ["bench", "truth-table", "-h"])
    assert table.exit_code == 0
    assert "--noise-levels" in table.output and "--act-with-model" in table.output
    assert f"held-out experiences  [default: {BenchOptions().test}]" in table.output
    scale = CliRunner().invoke(cli, ["bench", "scale", "--help"])
    assert f"[default: {','.join(map(str, ScaleOptions().sizes))}]" in scale.output


def test_bench_runs_through_the_cli_and_refuses_bad_values(tmp_path: Path) -> None:
    args = ["bench", "shapes", "--envs", "support-text", "--seeds", "0", "--train", "20",
            "--test", "10", "--batch", "20", "--conditions", "majority,hidden-rules",
            "--out", str(tmp_path)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "| support-text | is the answer right |" in res.stdout
    assert f"wrote json: {tmp_path / 'shapes.json'}" in res.stderr
    bad = CliRunner().invoke(cli, ["bench", "truth-table", "--noise", "1.5", "--out", "x"])
    assert bad.exit_code == 2 and "0 <= noise < 1" in bad.stderr
    unknown = CliRunner().invoke(cli, ["bench", "nope"])
    assert unknown.exit_code == 2 and "No such command 'nope'" in unknown.stderr


def test_python_m_imlgit_bench_is_the_same_group() -> None:
    out = subprocess.run([sys.executable, "-m", "imlgit.bench", "tickets", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.startswith("Usage: python -m imlgit.bench tickets [OPTIONS]")
    assert "--sweep-conditions" in out.stdout


def test_the_first_command_is_click_too() -> None:
    out = subprocess.run([sys.executable, "-m", "imlgit.bench.truthtable_bench", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.startswith("Usage: python -m imlgit.bench.truthtable_bench [OPTIONS]")
    assert "comma-separated shares of flipped outcomes" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "imlgit.bench.truthtable_bench", "--seeds", ""],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "at least one seed" in bad.stderr


def test_the_cli_starts_without_numpy() -> None:
    """The benchmarks' options are made when ``imlgit bench`` is asked for them."""
    code = "import sys, imlgit.cli; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_imlgit_bench_imports_no_click_and_no_argparse() -> None:
    for path in BENCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )  # fmt: skip
            for name in names:
                assert name.split(".")[0] not in ("click", "argparse"), f"{path.name}: {name}"
