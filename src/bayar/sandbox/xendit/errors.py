"""A Xendit answer that is not a success: `{"error_code", "message"}` with its HTTP status."""

from __future__ import annotations

from typing import Any


class XenditError(Exception):
    def __init__(self, http_status: int, error_code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "message": self.message, **self.extra}


def invalid(messages: list[str]) -> XenditError:
    """Request validation (Xendit words it as Joi does: `"amount" must be a number`)."""
    return XenditError(
        400,
        "API_VALIDATION_ERROR",
        messages[0],
        errors=[{"message": m} for m in messages],
    )


def unauthorized() -> XenditError:
    return XenditError(
        401,
        "INVALID_API_KEY",
        "API key is not authorized for this API service",
    )


def invoice_not_found() -> XenditError:
    return XenditError(404, "INVOICE_NOT_FOUND_ERROR", "Could not find invoice by id")


def data_not_found(what: str) -> XenditError:
    return XenditError(404, "DATA_NOT_FOUND", f"{what} not found")
