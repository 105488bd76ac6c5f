"""`bayar machine add`: a machine with its slots, whose printed kiosk token authenticates."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayar.cli import cli
from bayar.storage.db import Database
from bayar.vending.machines import authenticate


@pytest.fixture
def env(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The clean environment (conftest), served at a public address of its own."""
    monkeypatch.setenv("BAYAR_PUBLIC_URL", "https://pay.example.com")
    return env


def _seeded(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["seed"])
    assert result.exit_code == 0, result.output


def test_a_machine_is_registered_and_its_token_authenticates(env: Path) -> None:
    runner = CliRunner()
    _seeded(runner)

    result = runner.invoke(
        cli,
        [
            "machine",
            "add",
            "lobby-2",
            "--name",
            "Lobby",
            "--slot",
            "A1=cola:5:10",
            "--slot",
            "A2=lemon:0:8",
        ],
    )

    assert result.exit_code == 0, result.output
    found = re.search(r"https://pay\.example\.com/kiosk/lobby-2\?token=(\S+)", result.output)
    assert found, result.output

    async def check() -> tuple[object, object]:
        db = Database(f"sqlite:///{env / 'var' / 'bayar.sqlite3'}")
        try:
            return (
                await authenticate(db, "lobby-2", found.group(1)),
                await authenticate(db, "lobby-2", "not-the-token"),
            )
        finally:
            await db.close()

    good, bad = asyncio.run(check())
    assert good is not None
    assert bad is None


@pytest.mark.parametrize(
    ("slot", "message"),
    [
        ("A1=cola", "CODE=PRODUCT:STOCK:CAPACITY"),
        ("A1=cola:9:3", "STOCK <= CAPACITY"),
        ("A1=nope:1:3", "no product 'nope'"),
    ],
)
def test_bad_slots_are_refused_clearly(env: Path, slot: str, message: str) -> None:
    runner = CliRunner()
    _seeded(runner)

    result = runner.invoke(cli, ["machine", "add", "m", "--name", "M", "--slot", slot])

    assert result.exit_code == 2
    assert message in result.output


def test_the_same_machine_twice_is_refused(env: Path) -> None:
    runner = CliRunner()
    _seeded(runner)
    args = ["machine", "add", "m", "--name", "M", "--slot", "A1=cola:1:2"]
    assert runner.invoke(cli, args).exit_code == 0

    again = runner.invoke(cli, args)

    assert again.exit_code == 1
    assert "exists already" in again.output
