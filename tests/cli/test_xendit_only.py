"""A merchant who has only Xendit: `BAYAR_SANDBOX=false`, `BAYAR_GATEWAY=xendit`, its secret key
and callback token, and no Midtrans key. Every command starts; a default gateway that is not
configured is one line naming the missing setting, never a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayar.cli import cli
from bayar.config import ConfigError, Settings

SECRET_KEY = "xnd_development_never_printed"
TOKEN = "callback-token-never-printed"
UNREACHABLE_DB = "postgresql://bayar@127.0.0.1:1/bayar"  # nothing listens on port 1


@pytest.fixture
def env(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI tests' clean environment (conftest.py), as a Xendit-only merchant sets it."""
    monkeypatch.setenv("BAYAR_SANDBOX", "false")
    monkeypatch.setenv("BAYAR_GATEWAY", "xendit")
    monkeypatch.setenv("XENDIT_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("XENDIT_CALLBACK_TOKEN", TOKEN)
    return env


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert SECRET_KEY not in output
    assert TOKEN not in output
    return lines[0]


def test_xendit_alone_is_a_configuration_that_runs(env: Path) -> None:
    settings = Settings()
    settings.check()

    assert settings.gateways() == ("xendit",)
    assert not settings.midtrans_configured()
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.output


@pytest.mark.parametrize("command", [["serve"], ["worker"]], ids=" ".join)
def test_serve_and_worker_get_past_the_gateway_settings(
    env: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """They stop at the database (unreachable here), so the settings were accepted."""
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_DB)

    result = CliRunner().invoke(cli, command)

    assert result.exit_code == 2, result.output
    assert _one_line(result.output).startswith("bayar: DATABASE_URL: cannot use the database")


def test_the_default_gateway_must_be_configured(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAYAR_GATEWAY")  # midtrans, whose keys are not set

    result = CliRunner().invoke(cli, ["db", "upgrade"])

    assert result.exit_code == 2, result.output
    assert _one_line(result.output) == (
        "bayar: MIDTRANS_SERVER_KEY is required when BAYAR_SANDBOX=false and"
        " BAYAR_GATEWAY=midtrans (the default); Xendit is configured: set BAYAR_GATEWAY=xendit"
        " to use it alone"
    )
    assert not (env / "var" / "bayar.sqlite3").exists()


@pytest.mark.parametrize(
    ("missing", "line"),
    [
        (
            "XENDIT_SECRET_KEY",
            "bayar: XENDIT_SECRET_KEY is required when BAYAR_SANDBOX=false and"
            " BAYAR_GATEWAY=xendit (with XENDIT_CALLBACK_TOKEN)",
        ),
        (
            "XENDIT_CALLBACK_TOKEN",
            "bayar: XENDIT_CALLBACK_TOKEN is required when BAYAR_SANDBOX=false",
        ),
    ],
)
def test_a_missing_xendit_setting_is_named(
    env: Path, monkeypatch: pytest.MonkeyPatch, missing: str, line: str
) -> None:
    monkeypatch.delenv(missing)

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 2, result.output
    assert _one_line(result.output) == line


def test_both_gateways_may_be_configured_with_either_as_the_default(env: Path) -> None:
    both = Settings(
        midtrans_server_key="Mid-server-real",  # type: ignore[arg-type]
        midtrans_client_key="Mid-client-real",
    )
    both.check()
    assert both.gateways() == ("xendit", "midtrans")
    midtrans_first = both.model_copy(update={"bayar_gateway": "midtrans"})
    midtrans_first.check()
    assert midtrans_first.gateways() == ("midtrans", "xendit")
    half = Settings(midtrans_server_key="Mid-server-real")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^MIDTRANS_CLIENT_KEY is required"):
        half.check()


def test_the_sandbox_configures_both_gateways_with_its_demo_keys(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAYAR_SANDBOX", "true")
    monkeypatch.delenv("XENDIT_SECRET_KEY")
    monkeypatch.delenv("XENDIT_CALLBACK_TOKEN")

    settings = Settings()
    settings.check()

    assert settings.gateways() == ("xendit", "midtrans")
