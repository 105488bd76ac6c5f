"""Who the client is: `X-Forwarded-For` is believed only from BAYAR_TRUSTED_PROXIES (issue 8,
problem 12). Against `bayar serve` itself, as a process: uvicorn's own proxy handling trusted any
local peer, so rotating the header bypassed the login throttle (and spoofing the admin's address
locked them out)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bayar_admin_testkit import PASSWORD, csrf_of
from livesupport import ServeProcess, clean_env, free_port

from bayar.config import ConfigError, Settings
from bayar.headers import trusted_proxies
from bayar.storage.migrate import upgrade


def serve(tmp_path: Path, **env: str) -> Iterator[ServeProcess]:
    database = f"sqlite:///{tmp_path / 'bayar.sqlite3'}"
    upgrade(Settings(_env_file=None, database_url=database).database())  # type: ignore[call-arg]
    server = ServeProcess(
        free_port(),
        tmp_path / "serve",
        clean_env(
            DATABASE_URL=database,
            BAYAR_VAR_DIR=str(tmp_path / "var"),
            BAYAR_ADMIN_PASSWORD=PASSWORD,
            # `bayar serve` embeds no sandbox: it names the fleet's gateway (these tests log in
            # to the admin and never reach it; nothing listens there).
            MIDTRANS_CORE_BASE_URL=f"http://127.0.0.1:{free_port()}/sandbox/midtrans",
            **env,
        ),
    )
    try:
        yield server
    finally:
        server.stop()


def log_in(server: ServeProcess, password: str, forwarded_for: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    with httpx.Client(base_url=server.url, timeout=20, headers=headers) as client:
        token = csrf_of(client.get("/admin/login").text)
        answer = client.post("/admin/login", data={"password": password, "csrf_token": token})
        return answer.status_code


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[ServeProcess]:
    yield from serve(tmp_path)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[ServeProcess]:
    yield from serve(tmp_path, BAYAR_TRUSTED_PROXIES="10.9.0.0/16, 127.0.0.1")


def test_a_forwarded_for_from_a_peer_not_trusted_is_ignored(direct: ServeProcess) -> None:
    wrong = [log_in(direct, "guess", f"203.0.113.{n}") for n in range(5)]
    assert wrong == [401] * 5
    # A sixth address in the header changes nothing: the client is the peer, and it is locked.
    assert log_in(direct, PASSWORD, "198.51.100.77") == 429


def test_a_trusted_proxy_says_who_the_client_is(proxied: ServeProcess) -> None:
    wrong = [log_in(proxied, "guess", "203.0.113.9") for _ in range(5)]
    assert wrong == [401] * 5
    assert log_in(proxied, PASSWORD, "203.0.113.9") == 429
    # Another client behind the same proxy (the admin) is not locked out by them.
    assert log_in(proxied, PASSWORD, "198.51.100.7") == 303


def test_a_bad_trusted_proxies_setting_stops_the_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bayar", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(BAYAR_TRUSTED_PROXIES="127.0.0.1, proxy.local"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert (
        "BAYAR_TRUSTED_PROXIES: 'proxy.local' is not an IP address or CIDR network" in done.stderr
    )


@pytest.mark.parametrize(
    ("text", "networks"),
    [
        ("", []),
        (" , ", []),
        ("127.0.0.1", ["127.0.0.1/32"]),
        ("10.0.0.0/8, ::1", ["10.0.0.0/8", "::1/128"]),
        ("192.168.1.7/24", ["192.168.1.0/24"]),
    ],
)
def test_trusted_proxies_are_addresses_and_networks(text: str, networks: list[str]) -> None:
    assert trusted_proxies(text) == networks


@pytest.mark.parametrize("text", ["*", "localhost", "10.0.0.0/33", "127.0.0.1 10.0.0.1"])
def test_anything_else_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="BAYAR_TRUSTED_PROXIES"):
        trusted_proxies(text)
