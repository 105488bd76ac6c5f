"""Issue 12: a second `bayar up` on the same var/ refuses before printing anything (it would
otherwise run a second sandbox over the same database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayar.cli import cli, hold_var_lock


@pytest.fixture
def var(env: Path) -> Path:
    """The clean environment's var/ (conftest), made."""
    (env / "var").mkdir()
    return env / "var"


def test_a_second_bayar_up_on_the_same_var_refuses_before_printing_anything(var: Path) -> None:
    first = hold_var_lock(var)  # what the running `bayar up` holds
    try:
        result = CliRunner().invoke(cli, ["up", "--port", "1"])
    finally:
        first.close()

    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"bayar: another bayar up (pid {os.getpid()}) is running on {var}/; stop it, or give"
        " this one its own folder (BAYAR_VAR_DIR)"
    ]
    assert not (var / "bayar.sqlite3").exists()  # refused before touching the database


def test_the_lock_goes_with_its_process(var: Path) -> None:
    hold_var_lock(var).close()  # a `bayar up` that ended (or was killed: the kernel lets go)
    again = hold_var_lock(var)
    try:
        assert (var / "bayar.lock").read_text().strip() == str(os.getpid())
    finally:
        again.close()
