"""The sandbox and the real gateway cannot be confused (issue 8, problem 1).

Production settings never start the emulator, and its hand controls (control API, simulator
pages), which mark any order paid, answer beyond loopback only with BAYAR_SANDBOX_TOKEN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bayar.app import create_app
from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY, ConfigError, Settings
from bayar.sandbox.access import is_loopback
from bayar.sandbox.app import Sandbox, standalone_app

LIVE_SERVER_KEY = "Mid-server-LIVE-KEY-never-shown"
TOKEN = "sandbox-token-of-the-test"
CONTROL = "/sandbox/_control/faults"


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path / "var",
        bayar_sandbox_state_file=Path(":memory:"),
        **values,
    )


PRODUCTION = {
    "production flag": {"midtrans_is_production": True},
    "live server key": {"midtrans_server_key": LIVE_SERVER_KEY},
    "live client key": {"midtrans_client_key": "Mid-client-LIVE"},
    "production flag with live keys": {
        "midtrans_is_production": True,
        "midtrans_server_key": LIVE_SERVER_KEY,
        "midtrans_client_key": "Mid-client-LIVE",
    },
}


@pytest.mark.parametrize("values", PRODUCTION.values(), ids=PRODUCTION.keys())
def test_production_settings_never_start_the_sandbox(
    tmp_path: Path, values: dict[str, Any]
) -> None:
    settings = _settings(tmp_path, bayar_sandbox=True, **values)

    with pytest.raises(ConfigError) as refused:
        create_app(settings)

    message = str(refused.value)
    assert "sandbox cannot run with" in message
    assert "BAYAR_SANDBOX=false" in message
    assert "\n" not in message
    assert LIVE_SERVER_KEY not in message


@pytest.mark.parametrize("values", PRODUCTION.values(), ids=PRODUCTION.keys())
def test_the_emulator_alone_refuses_production_settings_too(
    tmp_path: Path, values: dict[str, Any]
) -> None:
    # `bayar sandbox` beside a real-mode bayar: BAYAR_SANDBOX=false does not make live keys safe.
    settings = _settings(tmp_path, bayar_sandbox=False, **values)

    with pytest.raises(ConfigError):
        Sandbox(settings)
    with pytest.raises(ConfigError):
        standalone_app(settings)


def test_sandbox_keys_and_real_mode_with_live_keys_still_start(tmp_path: Path) -> None:
    create_app(
        _settings(
            tmp_path,
            bayar_sandbox=True,
            midtrans_server_key=DEMO_SERVER_KEY,
            midtrans_client_key=DEMO_CLIENT_KEY,
        )
    )
    create_app(
        _settings(
            tmp_path,
            bayar_sandbox=False,
            midtrans_is_production=True,
            midtrans_server_key=LIVE_SERVER_KEY,
            midtrans_client_key="Mid-client-LIVE",
        )
    )


async def test_without_the_sandbox_there_is_no_control_api(tmp_path: Path) -> None:
    app = create_app(
        _settings(
            tmp_path,
            bayar_sandbox=False,
            midtrans_server_key=DEMO_SERVER_KEY,
            midtrans_client_key=DEMO_CLIENT_KEY,
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bayar.test"
    ) as client:
        for path in (CONTROL, "/sandbox/_control/midtrans/BYR-1/pay", "/sandbox/"):
            answer = await client.request("POST" if path.endswith("pay") else "GET", path)
            assert answer.status_code == 404, (path, answer.text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("192.168.1.20", False),
        ("pay.example.com", False),
    ],
)
def test_loopback_is_127_x_and_localhost_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# `async for client in open_sandbox(host, **settings)`: a client of the sandbox as `host` sees it.
OpenSandbox = Callable[..., AsyncIterator[httpx.AsyncClient]]


@pytest.fixture
def open_sandbox(tmp_path: Path) -> OpenSandbox:
    async def start(host: str, **values: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = standalone_app(_settings(tmp_path, **values), host=host)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
            ) as client,
        ):
            yield client

    return start


async def test_on_loopback_the_controls_are_open(open_sandbox: OpenSandbox) -> None:
    async for client in open_sandbox("127.0.0.1"):
        assert (await client.get(CONTROL)).status_code == 200
        assert (await client.get("/sandbox/")).status_code == 200


async def test_on_loopback_behind_a_reverse_proxy_the_controls_need_the_token(
    open_sandbox: OpenSandbox,
) -> None:
    async for client in open_sandbox("127.0.0.1", bayar_sandbox_token=TOKEN):
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            proxied = {header: "203.0.113.9"}
            refused = await client.post("/sandbox/_control/reset", headers=proxied)
            assert refused.status_code == 401, (header, refused.text)
            allowed = await client.post(
                "/sandbox/_control/reset",
                headers={**proxied, "Authorization": f"Bearer {TOKEN}"},
            )
            assert allowed.status_code == 200, (header, allowed.text)


async def test_beyond_loopback_without_a_token_the_controls_answer_403(
    open_sandbox: OpenSandbox,
) -> None:
    async for client in open_sandbox("0.0.0.0"):  # noqa: S104
        for method, path in [
            ("GET", CONTROL),
            ("POST", "/sandbox/_control/midtrans/BYR-1/pay"),
            ("POST", "/sandbox/_control/reset"),
            ("GET", "/sandbox/"),
            ("GET", "/sandbox/qris"),
        ]:
            answer = await client.request(method, path, headers={"Authorization": "Bearer x"})
            assert answer.status_code == 403, (path, answer.text)
            assert "BAYAR_SANDBOX_TOKEN" in answer.json()["error"]
        # The emulated gateway is the gateway: it authenticates as Midtrans does.
        status = await client.get("/sandbox/midtrans/v2/BYR-1/status", auth=(DEMO_SERVER_KEY, ""))
        assert status.status_code == 200
        assert status.json()["status_code"] == "404"


async def test_beyond_loopback_the_token_opens_the_controls(open_sandbox: OpenSandbox) -> None:
    async for client in open_sandbox("0.0.0.0", bayar_sandbox_token=TOKEN):  # noqa: S104
        refused = await client.post("/sandbox/_control/reset")
        wrong = await client.post(
            "/sandbox/_control/reset", headers={"Authorization": "Bearer wrong"}
        )
        assert (refused.status_code, wrong.status_code) == (401, 401)
        assert TOKEN not in refused.text

        bearer = await client.post(
            "/sandbox/_control/reset", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert bearer.status_code == 200, bearer.text
        assert bearer.json() == {"reset": True}

        # A page opened with ?token= sets a cookie; the page's own links then work without it.
        page = await client.get("/sandbox/", params={"token": TOKEN})
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert TOKEN not in cookie
        assert (await client.get("/sandbox/qris")).status_code == 200
        assert (await client.get(CONTROL)).status_code == 200

        client.cookies.clear()
        assert (await client.get("/sandbox/qris")).status_code == 401
