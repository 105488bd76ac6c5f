"""`make up` installs only what running needs; the dev tools come with `make test`, `make lint`,
`make venv` (what CI runs). Checked with `make -n` on a copy of the Makefile (issue 11, item 8)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def planned(target: str, workdir: Path) -> str:
    """The commands `make TARGET` would run in a fresh clone (no .venv yet), without running them."""
    for name in ("Makefile", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copy(ROOT / name, workdir / name)
    done = subprocess.run(
        ["make", "-n", target],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(workdir)},
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_up_installs_only_what_running_needs(tmp_path: Path) -> None:
    up = planned("up", tmp_path)

    assert "pip install -e ." in up
    assert "[dev]" not in up
    assert "bayar up" in up
    assert "npm ci" not in up


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["venv", "lint", "test", "drills"])
def test_the_development_targets_install_the_dev_tools(tmp_path: Path, target: str) -> None:
    assert "pip install -e '.[dev]'" in planned(target, tmp_path)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_lint_installs_and_runs_biome(tmp_path: Path) -> None:
    lint = planned("lint", tmp_path)

    assert "npm ci" in lint
    assert "biome ci" in lint


def test_the_readme_says_how_long_the_first_run_takes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]

    assert "first `make up`" in quick_start
    assert " s " in quick_start or "seconds" in quick_start
