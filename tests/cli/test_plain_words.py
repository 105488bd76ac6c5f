"""The CLI says what is wrong in one or two lines naming the setting, before anything else (issue
11, item 9): a busy port, a database that cannot be used, an unreadable setting, a slot code given
twice; and `bayar machine add` prints the kiosk URL where bayar really runs."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from livesupport import ServeProcess, clean_env, free_port
from typer.testing import CliRunner

from bayar.cli import cli

# A `bayar sandbox` address for the fleet commands (nothing listens there: none is asked).
FLEET_SANDBOX = "http://127.0.0.1:9/sandbox/midtrans"


@pytest.fixture
def env(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The clean environment (conftest), with BAYAR_SANDBOX left to each command's default."""
    monkeypatch.delenv("BAYAR_SANDBOX")
    return env


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.mark.parametrize("command", ["up", "serve", "sandbox"])
def test_a_busy_port_is_said_first_in_one_line(
    env: Path, busy_port: int, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if command == "serve":  # one of a fleet: its gateway is the fleet's sandbox
        monkeypatch.setenv("MIDTRANS_CORE_BASE_URL", FLEET_SANDBOX)
    result = CliRunner().invoke(cli, [command, "--port", str(busy_port)])

    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        f"bayar: port {busy_port} on 127.0.0.1 is in use already (another bayar?);"
        " stop it or choose another with --port"
    ]
    assert not (env / "var" / "bayar.sqlite3").exists()  # said before anything was done


def test_an_unreadable_sandbox_switch_names_the_setting(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAYAR_SANDBOX", "nope")

    result = CliRunner().invoke(cli, ["up", "--port", str(free_port())])

    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("bayar: BAYAR_SANDBOX: ")


def test_a_var_dir_that_cannot_be_made_names_the_setting(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env / "a-file").write_text("not a directory")
    monkeypatch.setenv("BAYAR_VAR_DIR", str(env / "a-file" / "var"))

    result = CliRunner().invoke(cli, ["db", "upgrade"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"bayar: BAYAR_VAR_DIR: cannot use {env / 'a-file' / 'var'}: Not a directory"
    ]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command", [["up"], ["db", "upgrade"], ["serve"], ["worker"], ["seed"]], ids=" ".join
)
def test_a_missing_postgres_database_is_one_line_naming_database_url(
    env: Path, monkeypatch: pytest.MonkeyPatch, postgres_server_url: str, command: list[str]
) -> None:
    server = re.sub(r"/[^/]*$", "", postgres_server_url.replace("postgresql://", "", 1))
    server = server.split("@")[-1]
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://bayar:hunter2-secret@{server}/bayar_plain_no_such_db"
    )

    port = ["--port", str(free_port())] if command in (["up"], ["serve"]) else []
    if command in (["serve"], ["worker"]):  # one of a fleet: its gateway is the fleet's sandbox
        monkeypatch.setenv("MIDTRANS_CORE_BASE_URL", FLEET_SANDBOX)

    result = CliRunner().invoke(cli, command + port)

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("bayar: DATABASE_URL: cannot use the database: ")
    assert "bayar_plain_no_such_db" in lines[0]
    assert "hunter2-secret" not in result.output
    assert "Traceback" not in result.output


def test_a_slot_code_given_twice_says_so(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["seed"]).exit_code == 0
    args = ["machine", "add", "m", "--name", "M", "--slot", "A1=cola:1:2", "--slot", "A1=lemon:1:2"]

    result = runner.invoke(cli, args)

    assert result.exit_code == 2
    assert "slot code A1 is given twice" in result.output
    assert "exists already" not in result.output


def test_machine_add_prints_the_kiosk_url_where_bayar_serves(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["seed"]).exit_code == 0
    port = free_port()
    server = ServeProcess(
        port,
        env,
        clean_env(BAYAR_VAR_DIR=str(env / "var"), MIDTRANS_CORE_BASE_URL=FLEET_SANDBOX),
    )
    server.stop()

    result = runner.invoke(cli, ["machine", "add", "m", "--name", "M", "--slot", "A1=cola:1:2"])

    assert result.exit_code == 0, result.output
    assert re.search(rf"http://127\.0\.0\.1:{port}/kiosk/m\?token=\S+", result.output), (
        result.output
    )


def test_machine_add_without_a_known_address_prints_the_path_and_says_why(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["seed"]).exit_code == 0

    result = runner.invoke(cli, ["machine", "add", "m", "--name", "M", "--slot", "A1=cola:1:2"])

    assert result.exit_code == 0, result.output
    assert ":8000" not in result.output
    assert re.search(r"^  /kiosk/m\?token=\S+$", result.output, re.M), result.output
    assert "BAYAR_PUBLIC_URL" in result.output
