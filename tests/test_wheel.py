"""A plain wheel install works, not only an editable one: the template and hooks ship."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_inits(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(dist.glob("imlgit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "imlgit/_template/imlgit.toml" in names
    assert any(n.startswith("imlgit/_template/rules/") and n.endswith(".md") for n in names)
    assert "imlgit/_hooks/pre-commit" in names and "imlgit/_hooks/commit-msg" in names
    assert "imlgit/_hooks/ci/proposal-check" in names

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    # The dependencies (dulwich, click, ...) come from this environment; imlgit itself
    # only from the wheel: the .pth line adds a path, and .pth files there are not read.
    site = subprocess.run(
        [str(py), "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(py), "-c", "import imlgit;print(imlgit.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
    res = subprocess.run(
        [str(venv / "bin" / "imlgit"), "init", str(tmp_path / "mem")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "mem" / "imlgit.toml").exists()
    assert (tmp_path / "mem" / ".git" / "hooks" / "commit-msg").exists()
    res = subprocess.run(
        [str(venv / "bin" / "imlgit"), "--repo", str(tmp_path / "mem"), "rule", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0 and "r-example-rationale" in res.stdout
