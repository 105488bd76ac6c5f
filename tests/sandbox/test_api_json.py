"""Every path under `/sandbox/midtrans` answers Midtrans-shaped JSON, emulated or not (COVERAGE.md).

The official SDK raises `JSONDecodeError`, not `MidtransAPIError`, on anything else (reference 1.4),
so an HTML 404, Starlette's plain text or an empty redirect would read as an outage.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import midtransclient
import pytest

from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

AUTH = (SERVER_KEY, "")
COVERAGE = Path(__file__).parents[2] / "src" / "bayar" / "sandbox" / "COVERAGE.md"

# Midtrans endpoints the sandbox does not emulate, unknown paths, and Midtrans' own paths with a
# trailing slash (no redirect: an SDK that does not follow it would read an empty body).
NOT_EMULATED = [
    "",
    "/",
    "/v1/bins/481111",
    "/v1/payment-links",
    "/v1/payment-links/order-1",
    "/v1/point_inquiry/481111",
    "/v4/qris/1/qr-code",
    "/iris/api/v1/payouts",
    "/v2/charge/",
    "/v2/some/unknown/deep/path",
    "/v3/charge",
    "/snap/v1/transactions/",
    "/snap/v1/unknown",
    "/snap/v2/unknown",
    "/snap/assets/nope.js",
    "/%ZZ",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _midtrans_shaped(answer: httpx.Response) -> dict[str, Any]:
    """The body of an error answer, checked to be JSON in one of Midtrans' two error shapes."""
    assert 400 <= answer.status_code < 600, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json", answer.headers
    body = answer.json()
    assert isinstance(body, dict), body
    if "error_messages" in body:  # Snap
        assert isinstance(body["error_messages"], list)
        assert body["error_messages"]
        assert all(isinstance(m, str) and m for m in body["error_messages"])
    else:  # Core API
        assert body["status_code"] == str(answer.status_code), body
        assert isinstance(body["status_message"], str)
        assert body["status_message"]
    result: dict[str, Any] = body
    return result


@pytest.mark.parametrize("method", METHODS)
def test_every_path_not_emulated_answers_midtrans_json(api_base: str, method: str) -> None:
    with httpx.Client(auth=AUTH, follow_redirects=False) as client:
        for path in NOT_EMULATED:
            answer = client.request(
                method, f"{api_base}{path}", json={} if method != "GET" else None
            )
            body = _midtrans_shaped(answer)
            assert answer.status_code in (404, 405), (method, path, body)
            if path.startswith("/snap/v1/"):
                assert "error_messages" in body, (path, body)


def test_a_wrong_method_on_an_emulated_path_is_405_json(api_base: str) -> None:
    for method, path in [
        ("GET", "/v2/charge"),
        ("PUT", "/v2/order-1/status"),
        ("GET", "/v2/order-1/refund"),
        ("POST", "/v2/token"),
        ("DELETE", "/v2/capture"),
    ]:
        answer = httpx.request(method, f"{api_base}{path}", auth=AUTH)
        assert _midtrans_shaped(answer)["status_code"] == "405", (method, path)
    snap = httpx.get(f"{api_base}/snap/v1/transactions", auth=AUTH)
    assert _midtrans_shaped(snap) == {"error_messages": ["Method Not Allowed"]}


def test_the_sdk_reads_an_api_error_not_a_decode_error(api_base: str) -> None:
    """What a developer meets when a client calls an endpoint the sandbox lacks: the SDK's own
    HTTP client (every SDK method goes through it) raises its API error, as for Midtrans."""
    http = midtransclient.CoreApi(is_production=False, server_key=SERVER_KEY).http_client
    for method, path in [("get", "/v1/bins/481111"), ("post", "/v1/payment-links")]:
        with pytest.raises(midtransclient.MidtransAPIError) as caught:
            http.request(method, SERVER_KEY, f"{api_base}{path}", {})
        assert caught.value.http_status_code == 404
        assert caught.value.api_response_dict["status_code"] == "404"


def test_browser_pages_answer_json_to_other_clients(api_base: str) -> None:
    for path in (f"/snap/v2/vtweb/{uuid.uuid4()}", f"/v2/token/rba/redirect/{uuid.uuid4()}"):
        body = _midtrans_shaped(httpx.get(f"{api_base}{path}"))
        assert body["status_code"] == "404"
        page = httpx.get(f"{api_base}{path}", headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")  # a browser gets a page


def test_the_payment_pages_json_endpoints_answer_midtrans_shaped_errors(api_base: str) -> None:
    page = f"{api_base}/snap/v2/vtweb/{uuid.uuid4()}"
    for answer in (
        httpx.get(f"{page}/status"),
        httpx.post(f"{page}/charge", json={"payment_type": "qris"}),
        httpx.post(f"{page}/3ds", json={"otp": "112233"}),
    ):
        assert _midtrans_shaped(answer)["status_code"] == "404"


def test_coverage_lists_what_is_not_emulated() -> None:
    text = COVERAGE.read_text()
    not_emulated = text.split("## Not emulated", 1)[1]
    for name in ("BIN API", "Payment Link", "Iris", "generate-qr-code-v2"):
        assert name in not_emulated, name
    assert "Midtrans-shaped JSON" in text
