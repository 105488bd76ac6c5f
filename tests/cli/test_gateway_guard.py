"""Every command that runs bayar refuses production settings with the sandbox in one line (issue 8,
problem 1), and the start says which gateway takes the money."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bayar.cli import cli, gateway_line
from bayar.config import Settings

COMMANDS = [["up"], ["serve"], ["worker"], ["sandbox"], ["db", "upgrade"], ["seed"]]
LIVE_KEY = "Mid-server-LIVE-never-printed"
LIVE_XENDIT_KEY = "xnd_production_LIVE_never_printed"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    "setting",
    [
        ("MIDTRANS_IS_PRODUCTION", "true"),
        ("MIDTRANS_SERVER_KEY", LIVE_KEY),
        ("XENDIT_SECRET_KEY", LIVE_XENDIT_KEY),
    ],
    ids=["production flag", "live key", "live Xendit key"],
)
def test_production_settings_with_the_sandbox_refuse_to_start(
    env: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], setting: tuple[str, str]
) -> None:
    monkeypatch.setenv(*setting)

    result = CliRunner().invoke(cli, command)

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("bayar: the sandbox cannot run with ")
    assert "Traceback" not in result.output
    assert LIVE_KEY not in result.output
    assert LIVE_XENDIT_KEY not in result.output
    assert not (env / "var" / "bayar.sqlite3").exists()  # refused before touching anything


def test_an_unreadable_setting_is_one_line_too(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIDTRANS_IS_PRODUCTION", "perhaps")

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "bayar: MIDTRANS_IS_PRODUCTION: Input should be a valid boolean, unable to interpret input"
    ]


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"bayar_sandbox": True}, "gateway: bayar sandbox (offline, no real money)"),
        (
            {"bayar_sandbox": False, "midtrans_is_production": False},
            "gateway: Midtrans sandbox (no real money)",
        ),
        (
            {"bayar_sandbox": False, "midtrans_is_production": True},
            "gateway: Midtrans production (real money)",
        ),
        (
            {"bayar_sandbox": True, "bayar_gateway": "xendit"},
            "gateway: Xendit, on the bayar sandbox (no real money)",
        ),
        (
            {
                "bayar_sandbox": False,
                "bayar_gateway": "xendit",
                "xendit_secret_key": "xnd_production_abc",
            },
            "gateway: Xendit (real money)",
        ),
        (
            {
                "bayar_sandbox": False,
                "bayar_gateway": "xendit",
                "xendit_secret_key": "xnd_development_abc",
            },
            "gateway: Xendit (test mode, no real money)",
        ),
    ],
)
@pytest.mark.usefixtures("env")  # Settings() would read the caller's BAYAR_GATEWAY
def test_the_start_says_which_gateway_is_live(values: dict[str, Any], line: str) -> None:
    assert gateway_line(Settings(_env_file=None, **values)) == line  # type: ignore[call-arg]


def test_trusting_signed_bodies_is_refused_with_a_real_gateway(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Midtrans signature covers order_id, status_code and gross_amount only: with real money
    bayar confirms every change with the status API, so the sandbox-only switch refuses to start."""
    monkeypatch.setenv("BAYAR_SANDBOX", "false")
    monkeypatch.setenv("MIDTRANS_SERVER_KEY", "SB-Mid-server-real-looking")
    monkeypatch.setenv("MIDTRANS_CLIENT_KEY", "SB-Mid-client-real-looking")
    monkeypatch.setenv("BAYAR_CONFIRM_PAID", "false")

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "bayar: BAYAR_CONFIRM_PAID=false is for the sandbox only: with a real gateway bayar"
        " confirms every change a notification reports"
    ]
    assert "real-looking" not in result.output


def test_a_hold_shorter_than_the_gateways_minute_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snap's expiry counts in whole minutes: a shorter hold would let the payment page outlive
    the order."""
    monkeypatch.setenv("BAYAR_HOLD_MINUTES", "0")

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("bayar: BAYAR_HOLD_MINUTES: ")
