"""Notifications: signed as documented, retried by Midtrans' rules, faults on demand, expiry, restarts."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from livesupport import LiveServer

from bayar.config import DEMO_SERVER_KEY as SERVER_KEY
from bayar.config import Settings
from bayar.sandbox.app import standalone_app

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under --import-mode=importlib
    from tests.sandbox.conftest import Receiver

REFERENCE = Path(__file__).parents[1] / "fixtures" / "midtrans"
AUTH = (SERVER_KEY, "")


def _signature(order_id: str, status_code: str, gross_amount: str, key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{key}".encode()).hexdigest()


def _charge(
    api_base: str,
    payment_type: str = "qris",
    amount: int = 7000,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "payment_type": payment_type,
        "transaction_details": {"order_id": f"n-{uuid.uuid4().hex[:12]}", "gross_amount": amount},
        **extra,
    }
    answer = httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH, headers=headers or {})
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _control(sandbox_url: str, path: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(f"{sandbox_url}/_control/{path}", json=body or None)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _bodies(received: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in received]


def _log(sandbox_url: str, order_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{sandbox_url}/_control/midtrans/{order_id}/notifications")
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()
    return result


def _wait_log(
    sandbox_url: str,
    order_id: str,
    predicate: Callable[[list[dict[str, Any]]], object],
    timeout: float = 15.0,  # a liveness bound: a loaded CI machine has stalled deliveries past 5 s
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        log = _log(sandbox_url, order_id)
        if predicate(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_signature_formula_matches_the_reference_vectors() -> None:
    from bayar.sandbox.wire import signature

    vectors = json.loads((REFERENCE / "signature_test_vectors_computed.json").read_text())
    cases = (
        vectors if isinstance(vectors, list) else vectors.get("vectors", vectors.get("cases", []))
    )
    assert cases
    for case in cases:
        expected = case.get("signature_key") or case.get("expected")
        assert (
            signature(
                case["order_id"], case["status_code"], case["gross_amount"], case["server_key"]
            )
            == expected
        )


def test_pending_and_settlement_notifications_are_signed_and_shaped(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base, "bank_transfer", 150000, bank_transfer={"bank": "bca"})
    _control(sandbox_url, f"midtrans/{charge['order_id']}/pay")
    pending, settled = _bodies(receiver.wait_for(2))
    for body in (pending, settled):
        assert body["signature_key"] == _signature(
            body["order_id"], body["status_code"], body["gross_amount"], SERVER_KEY
        )
        assert body["gross_amount"] == "150000.00"
        assert body["status_message"] == "midtrans payment notification"
        assert body["va_numbers"] == charge["va_numbers"]
        assert None not in body.values()
    assert (pending["transaction_status"], pending["status_code"]) == ("pending", "201")
    assert (settled["transaction_status"], settled["status_code"]) == ("settlement", "200")
    assert "settlement_time" in settled
    assert "settlement_time" not in pending
    assert settled["payment_amounts"][0]["amount"] == "150000.00"
    headers = receiver.received[0].headers
    assert headers["user-agent"] == "Veritrans"
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("action", ["deny", "cancel", "expire"])
def test_closing_notifications_carry_status_code_202(
    api_base: str, sandbox_url: str, receiver: Receiver, action: str
) -> None:
    charge = _charge(api_base)
    _control(sandbox_url, f"midtrans/{charge['order_id']}/{action}")
    last = _bodies(receiver.wait_for(2))[-1]
    assert last["transaction_status"] == action
    assert last["status_code"] == "202"


def test_refund_is_notified_twice_the_second_with_bank_confirmation(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base, "gopay", 20000)
    _control(sandbox_url, f"midtrans/{charge['order_id']}/pay")
    httpx.post(
        f"{api_base}/v2/{charge['order_id']}/refund", json={"amount": 5000}, auth=AUTH
    ).raise_for_status()
    bodies = _bodies(receiver.wait_for(4))
    assert [b["transaction_status"] for b in bodies] == [
        "pending",
        "settlement",
        "partial_refund",
        "partial_refund",
    ]
    assert "bank_confirmed_at" not in bodies[2]["refunds"][0]
    assert "bank_confirmed_at" in bodies[3]["refunds"][0]
    assert bodies[3]["refund_amount"] == "5000.00"


def test_override_and_append_notification_headers(api_base: str, receiver: Receiver) -> None:
    _charge(api_base, headers={"X-Override-Notification": f"{receiver.url}/a, {receiver.url}/b"})
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/a", "/b"]
    receiver.reset()
    _charge(api_base, headers={"X-Append-Notification": f"{receiver.url}/c"})
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/c", "/hook"]


def test_dashboard_notification_url_can_be_changed(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    httpx.put(
        f"{sandbox_url}/_control/config", json={"notification_url": f"{receiver.url}/new"}
    ).raise_for_status()
    _charge(api_base)
    assert [r.path for r in receiver.wait_for(1)] == ["/new"]


def _attempts(sandbox_url: str, order_id: str, count: int) -> list[dict[str, Any]]:
    log = _wait_log(sandbox_url, order_id, lambda log: log and len(log[0]["attempts"]) >= count)
    return list(log[0]["attempts"])


@pytest.mark.parametrize(
    ("code", "retries"), [(500, 1), (503, 4), (400, 2), (404, 2), (502, 5), (301, 0)]
)
def test_retries_follow_the_rules_per_response_code(
    api_base: str, sandbox_url: str, receiver: Receiver, code: int, retries: int
) -> None:
    receiver.script.extend([code] * 10)
    # Sandbox time all but stopped: only the test moves it, so a loaded machine's slow second
    # cannot bring a retry forward.
    _control(sandbox_url, "clock", scale=0.001)
    charge = _charge(api_base, "bank_transfer", bank_transfer={"bank": "bni"})  # open for 24 hours
    order_id = charge["order_id"]
    _attempts(sandbox_url, order_id, 1)
    for minutes in (2, 10, 30, 90, 210)[:retries]:
        before = len(_log(sandbox_url, order_id)[0]["attempts"])
        _control(sandbox_url, "clock", advance=minutes * 60 - 1)
        time.sleep(0.15)
        assert len(_log(sandbox_url, order_id)[0]["attempts"]) == before, "retried before its time"
        _control(sandbox_url, "clock", advance=1)
        _attempts(sandbox_url, order_id, before + 1)
    _control(sandbox_url, "clock", advance=4 * 3600)
    [delivery] = _wait_log(sandbox_url, order_id, lambda log: log and log[0]["state"] == "failed")
    assert len(delivery["attempts"]) == retries + 1
    assert delivery["state"] == "failed"
    assert all(a["outcome"] == str(code) for a in delivery["attempts"])


def test_a_retry_that_succeeds_ends_the_delivery(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    receiver.script.append(500)
    charge = _charge(api_base)
    _attempts(sandbox_url, charge["order_id"], 1)
    _control(sandbox_url, "clock", advance=120)
    log = _wait_log(sandbox_url, charge["order_id"], lambda log: log[0]["state"] == "delivered")
    assert [a["outcome"] for a in log[0]["attempts"]] == ["500", "200"]


def test_retries_run_on_the_scaled_clock(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    _control(sandbox_url, "clock", scale=1200)  # 2 minutes pass in 0.1 s
    receiver.script.append(503)
    charge = _charge(api_base)
    log = _wait_log(
        sandbox_url,
        charge["order_id"],
        lambda log: log and log[0]["state"] == "delivered",
        timeout=5,
    )
    assert [a["outcome"] for a in log[0]["attempts"]] == ["503", "200"]


def test_unreachable_url_is_retried_five_times(api_base: str, sandbox_url: str) -> None:
    httpx.put(
        f"{sandbox_url}/_control/config", json={"notification_url": "http://127.0.0.1:9/closed"}
    ).raise_for_status()
    _control(sandbox_url, "clock", scale=100000)  # the whole schedule (342 minutes) in 0.2 s
    charge = _charge(api_base)
    log = _wait_log(
        sandbox_url, charge["order_id"], lambda log: log and log[0]["state"] == "failed"
    )
    assert [a["outcome"] for a in log[0]["attempts"]] == ["connection error"] * 6


def test_307_is_followed_with_post(api_base: str, sandbox_url: str, receiver: Receiver) -> None:
    receiver.script.append(307)
    charge = _charge(api_base)
    log = _wait_log(
        sandbox_url, charge["order_id"], lambda log: log and log[0]["state"] == "delivered"
    )
    assert [a["outcome"] for a in log[0]["attempts"]] == ["200"]
    got = receiver.wait_for(2)
    assert len(got) == 2
    assert got[0].body == got[1].body


# -- faults --------------------------------------------------------------------------------------


def test_fault_duplicate_delivers_the_notification_twice(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base)
    receiver.wait_for(1)
    _control(sandbox_url, "faults", kind="duplicate", count=1)
    _control(sandbox_url, f"midtrans/{charge['order_id']}/pay")
    bodies = _bodies(receiver.wait_for(3))
    assert [b["transaction_status"] for b in bodies] == ["pending", "settlement", "settlement"]
    assert bodies[1] == bodies[2]
    _control(sandbox_url, f"midtrans/{_charge(api_base)['order_id']}/pay")
    assert len(receiver.wait_for(5, timeout=0.5)) == 5, "the fault applies to one notification only"


def test_fault_out_of_order_sends_the_stale_pending_after_settlement(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base)
    receiver.wait_for(1)
    _control(sandbox_url, "faults", kind="out_of_order")
    _control(sandbox_url, f"midtrans/{charge['order_id']}/pay")
    bodies = _bodies(receiver.wait_for(3))
    assert [b["transaction_status"] for b in bodies] == ["pending", "settlement", "pending"]
    assert bodies[0] == bodies[2]


def test_fault_drop_sends_nothing_and_logs_it(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    _control(sandbox_url, "faults", kind="drop", count=1)
    charge = _charge(api_base)
    assert receiver.wait_for(1, timeout=0.5) == []
    [delivery] = _log(sandbox_url, charge["order_id"])
    assert delivery["state"] == "dropped"


def test_fault_delay_holds_the_notification(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    _control(sandbox_url, "faults", kind="delay", seconds=60)
    _charge(api_base)
    assert receiver.wait_for(1, timeout=0.5) == []
    _control(sandbox_url, "clock", advance=60)
    assert len(receiver.wait_for(1)) == 1


def test_fault_api_error_answers_5xx_for_the_next_calls_only(
    api_base: str, sandbox_url: str
) -> None:
    _control(sandbox_url, "faults", kind="api_error", status=503, count=2)
    body = {
        "payment_type": "qris",
        "transaction_details": {"order_id": "fault-1", "gross_amount": 1000},
    }
    for _ in range(2):
        answer = httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH)
        assert answer.status_code == 503
        assert answer.json()["status_code"] == "503"
    assert httpx.get(f"{api_base}/v2/fault-1/status", auth=AUTH).json()["status_code"] == "404"
    assert httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH).json()["status_code"] == "201"


def test_fault_api_hang_times_the_client_out_but_the_call_takes_effect(
    api_base: str, sandbox_url: str
) -> None:
    _control(sandbox_url, "faults", kind="api_hang", seconds=1.0)
    body: dict[str, Any] = {
        "payment_type": "qris",
        "transaction_details": {"order_id": f"hang-{uuid.uuid4().hex[:8]}", "gross_amount": 1000},
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH, timeout=0.3)
    time.sleep(1.0)
    status = httpx.get(
        f"{api_base}/v2/{body['transaction_details']['order_id']}/status", auth=AUTH
    ).json()
    assert status["transaction_status"] == "pending"


def test_bad_fault_is_400(sandbox_url: str) -> None:
    assert (
        httpx.post(f"{sandbox_url}/_control/faults", json={"kind": "gremlins"}).status_code == 400
    )
    assert (
        httpx.post(
            f"{sandbox_url}/_control/faults", json={"kind": "api_error", "status": 200}
        ).status_code
        == 400
    )


# -- expiry and restarts -------------------------------------------------------------------------


def test_qris_expires_on_its_own_after_15_minutes(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base)
    receiver.wait_for(1)
    _control(sandbox_url, "clock", advance=14 * 60)
    time.sleep(0.1)
    assert (
        httpx.get(f"{api_base}/v2/{charge['order_id']}/status", auth=AUTH).json()[
            "transaction_status"
        ]
        == "pending"
    )
    _control(sandbox_url, "clock", advance=60)
    bodies = _bodies(receiver.wait_for(2))
    assert bodies[-1]["transaction_status"] == "expire"
    assert (
        httpx.get(f"{api_base}/v2/{charge['order_id']}/status", auth=AUTH).json()["status_code"]
        == "407"
    )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, bayar_var_dir=tmp_path)  # type: ignore[call-arg]
    with LiveServer(standalone_app(settings)) as server:
        api = f"{server.url}/sandbox/midtrans"
        charge = _charge(api)
    with LiveServer(standalone_app(settings)) as server:
        api = f"{server.url}/sandbox/midtrans"
        status = httpx.get(f"{api}/v2/{charge['transaction_id']}/status", auth=AUTH).json()
        assert status["transaction_status"] == "pending"
        httpx.post(
            f"{server.url}/sandbox/_control/midtrans/{charge['order_id']}/pay"
        ).raise_for_status()
        assert (
            httpx.get(f"{api}/v2/{charge['order_id']}/status", auth=AUTH).json()[
                "transaction_status"
            ]
            == "settlement"
        )
