"""Hostile kiosk frames and machine ids (issue 8, problem 9): the socket stays up and answers
ERROR `invalid`; nothing reaches the database, nothing logs a traceback, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bayar.storage.models import Order

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    from tests.vending.conftest import ConnectKiosk, HttpFor, LiveApp, StartApp

OPEN = 15.0  # seconds a handshake may take on a loaded machine (conftest's WAIT)
DEEP = 1500  # deeper than Python's recursion limit, within the frame size


def frame(event: str, values: object) -> str:
    return json.dumps({"event": event, "values": values})


HOSTILE = [
    pytest.param('{"event": "PING", "values": ' + "[" * DEEP + "]" * DEEP + "}", id="deep-array"),
    pytest.param(
        '{"event": "PING", "values": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}", id="deep-object"
    ),
    pytest.param(frame("ORDER", {"id": "co\x00la"}), id="nul-product"),
    pytest.param(frame("CANCEL", {"order_id": "BYR-\x00"}), id="nul-order"),
    pytest.param(frame("PI\x00NG", {}), id="nul-event"),
    pytest.param(frame("ORDER", {"id": "x" * 1000}), id="long-product"),
    pytest.param(frame("DISPENSE_RESULT", {"order_id": "o" * 600, "ok": False}), id="long-order"),
    pytest.param(frame("PING", {"pad": "p" * 400, "more": ["q" * 400] * 40}), id="huge-frame"),
]


async def kiosk_orders(app: LiveApp) -> int:
    async def count() -> int:
        async with app.context.db.session() as session:
            found = await session.execute(select(func.count()).select_from(Order))
            return int(found.scalar_one())

    counted: int = await app.run(count())
    return counted


@pytest.mark.parametrize("raw", HOSTILE)
async def test_a_hostile_text_frame_is_an_error_and_the_socket_stays(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    caplog: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    app = start_app(**db_settings)
    k = await kiosk(app)
    await k.expect("STATE")
    with caplog.at_level(logging.INFO):
        await k.send_raw(raw)
        error = await k.expect("ERROR")
        assert error["code"] == "invalid", error
        assert await k.ask("PING", answer="PONG") == {}
    assert not k.closed.is_set()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert await kiosk_orders(app) == 0
    # Still a working kiosk.
    assert (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]


async def test_a_binary_frame_is_an_error_and_the_socket_stays(
    app: LiveApp, kiosk: ConnectKiosk, caplog: pytest.LogCaptureFixture
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    with caplog.at_level(logging.INFO):
        await k.send_bytes(b'{"event": "PING", "values": {}}')
        error = await k.expect("ERROR")
        assert error == {"code": "invalid", "message": "frames are JSON text, not binary"}
        assert await k.ask("PING", answer="PONG") == {}
    assert not k.closed.is_set()
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_machine_id_with_nul_or_too_long_never_reaches_the_database(
    db_settings: dict[str, Any], start_app: StartApp, http_for: HttpFor
) -> None:
    """A NUL is refused by the input guard before any route (422, WebSocket close 1008); an id
    longer than any machine's is an unknown machine (404, close 4404)."""
    app = start_app(**db_settings)
    http = await http_for(app)
    assert (await http.get("/kiosk/demo%001")).status_code == 422
    too_long = "m" * 65
    assert (await http.get(f"/kiosk/{too_long}")).status_code == 404
    with pytest.raises(InvalidStatus):  # closed before the handshake is accepted
        await connect(f"{app.ws_base}/ws/kiosk/demo%001?token={app.demo_token}", open_timeout=OPEN)
    async with connect(
        f"{app.ws_base}/ws/kiosk/{too_long}?token={app.demo_token}", open_timeout=OPEN
    ) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4404
