"""A Midtrans answer that is not a success: the HTTP status and the body Midtrans would send."""

from __future__ import annotations

import uuid
from typing import Any


class MidtransError(Exception):
    def __init__(self, http_status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("status_message") or body.get("error_messages"))
        self.http_status = http_status
        self.body = body


def core_error(code: int, message: str, *, http_status: int = 200, **extra: Any) -> MidtransError:
    """Core API business errors come as HTTP 200 with the code in the body (reference 3.4, 5)."""
    body: dict[str, Any] = {"status_code": str(code), "status_message": message, **extra}
    body.setdefault("id", str(uuid.uuid4()))
    return MidtransError(http_status, body)


def invalid(messages: list[str]) -> MidtransError:
    return core_error(
        400,
        "One or more parameters in the payload is invalid.",
        http_status=400,
        validation_messages=messages,
    )


def not_found() -> MidtransError:
    return core_error(404, "Transaction doesn't exist.")


def cannot_modify() -> MidtransError:
    return core_error(412, "Merchant cannot modify the status of the transaction")


def unexpected() -> MidtransError:
    """Midtrans' answer to a charge whose body is JSON `null`: HTTP 500 in its own words, which the
    official SDKs' tests read ("500", "unexpected"); the exact sentence is unconfirmed (reference 5)."""
    return core_error(500, "An unexpected error occurred. Please try again later.", http_status=500)


def snap_error(http_status: int, messages: list[str]) -> MidtransError:
    return MidtransError(http_status, {"error_messages": messages})


class ControlError(Exception):
    """A simulated action the transaction's state does not allow, or an unknown id."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
