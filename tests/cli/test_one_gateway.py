"""Issue 12: one gateway truth per fleet. Only `bayar up` embeds a sandbox; `bayar serve` and
`bayar worker` reach the gateway through MIDTRANS_CORE_BASE_URL in sandbox mode too, and refuse
to start (one line, exit status 2) rather than guess one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bayar.app import create_app, gateway_endpoints
from bayar.cli import cli
from bayar.config import ConfigError, Settings

SANDBOX = "http://sandbox.internal:8001/sandbox/midtrans"


@pytest.mark.parametrize("command", [["serve"], ["worker"]], ids=" ".join)
def test_serve_and_worker_without_a_gateway_url_refuse_to_guess(
    env: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(cli, command)

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("bayar: MIDTRANS_CORE_BASE_URL is required in sandbox mode")
    assert "127.0.0.1:8000" not in result.output


def test_up_with_a_gateway_url_refuses_rather_than_ignore_it(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIDTRANS_CORE_BASE_URL", SANDBOX)

    result = CliRunner().invoke(cli, ["up"])

    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "bayar: bayar up embeds its own sandbox: unset MIDTRANS_CORE_BASE_URL and"
        " MIDTRANS_SNAP_BASE_URL, or run `bayar serve` to use the sandbox they name"
    ]
    assert not (env / "var" / "bayar.sqlite3").exists()


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        bayar_var_dir=tmp_path,
        bayar_sandbox=True,
        midtrans_server_key=None,
        midtrans_client_key=None,
        **values,
    )


@pytest.mark.usefixtures("env")  # Settings() would read the caller's MIDTRANS_SNAP_JS_URL
def test_a_fleet_member_in_sandbox_mode_uses_the_configured_sandbox(tmp_path: Path) -> None:
    settings = _settings(tmp_path, midtrans_core_base_url=SANDBOX)

    endpoints = gateway_endpoints(settings, embedded=False)

    assert endpoints == (SANDBOX, f"{SANDBOX}/snap/v1", f"{SANDBOX}/snap/snap.js")
    with pytest.raises(ConfigError, match="MIDTRANS_CORE_BASE_URL is required"):
        gateway_endpoints(_settings(tmp_path), embedded=False)


def test_browsers_load_snap_js_from_the_configured_address(tmp_path: Path) -> None:
    """A fleet's serve calls the sandbox at its internal address; browsers get nginx's."""
    public = "https://pay.example.com/sandbox/midtrans/snap/snap.js"
    fleet = _settings(tmp_path, midtrans_core_base_url=SANDBOX, midtrans_snap_js_url=public)
    real = fleet.model_copy(update={"bayar_sandbox": False, "midtrans_core_base_url": None})

    assert gateway_endpoints(fleet, embedded=False) == (
        SANDBOX,
        f"{SANDBOX}/snap/v1",
        public,
    )
    assert gateway_endpoints(real, embedded=False).snap_js == public
    with pytest.raises(ConfigError, match="unset MIDTRANS_SNAP_JS_URL"):
        gateway_endpoints(
            _settings(tmp_path, midtrans_snap_js_url=public), embedded=True, base_url="http://x"
        )


async def test_bayar_serve_mounts_no_sandbox_of_its_own(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        midtrans_core_base_url=SANDBOX,
        database_url=f"sqlite:///{tmp_path / 'bayar.sqlite3'}",
        redis_url=None,
    )
    app = create_app(settings, run_worker=False, seed=False, embed_sandbox=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bayar.test") as client:
        answer = await client.get("/sandbox/midtrans/v2/any/status")

    assert answer.status_code == 404
    assert SANDBOX in repr(app.state.context.payments.gateway)
    await app.state.context.db.close()
