"""Notification signatures: the computed reference vectors, tampering, and bodies re-serialised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bayar.gateways.midtrans.signature import signature, verify

SAMPLES = Path(__file__).parents[1] / "fixtures" / "midtrans"  # copied from shared/reference
VECTORS = SAMPLES / "signature_test_vectors_computed.json"


def _vectors() -> list[dict[str, str]]:
    vectors: list[dict[str, str]] = json.loads(VECTORS.read_text())["vectors"]
    assert vectors
    return vectors


def _body(vector: dict[str, str]) -> dict[str, Any]:
    return {
        "order_id": vector["order_id"],
        "status_code": vector["status_code"],
        "gross_amount": vector["gross_amount"],
        "signature_key": vector["signature_key"],
        "transaction_status": "settlement",
    }


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: f"{v['order_id']}-{v['gross_amount']}")
def test_signature_matches_the_vector(vector: dict[str, str]) -> None:
    computed = signature(
        vector["order_id"], vector["status_code"], vector["gross_amount"], vector["server_key"]
    )
    assert computed == vector["signature_key"]
    assert len(computed) == 128
    assert computed == computed.lower()


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: f"{v['order_id']}-{v['gross_amount']}")
def test_verify_accepts_the_vector(vector: dict[str, str]) -> None:
    assert verify(_body(vector), vector["server_key"])


def test_the_integer_formatted_amount_signs_differently() -> None:
    """Midtrans signs "44000.00"; a verifier that rebuilt "44000" would never match."""
    by_amount = {v["gross_amount"]: v for v in _vectors() if v["order_id"] == "order-101"}
    proper, integer = by_amount["44000.00"], by_amount["44000"]
    assert proper["signature_key"] != integer["signature_key"]
    tampered = _body(proper) | {"gross_amount": "44000"}
    assert not verify(tampered, proper["server_key"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gross_amount", "1.00"),
        ("gross_amount", "44001.00"),
        ("order_id", "order-102"),
        ("status_code", "201"),
        ("signature_key", "0" * 128),
    ],
)
def test_verify_refuses_a_tampered_body(field: str, value: str) -> None:
    vector = _vectors()[2]
    assert verify(_body(vector), vector["server_key"])
    assert not verify(_body(vector) | {field: value}, vector["server_key"])


def test_verify_refuses_the_wrong_key() -> None:
    vector = _vectors()[2]
    assert not verify(_body(vector), vector["server_key"] + "x")
    assert not verify(_body(vector), "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gross_amount", 44000),
        ("gross_amount", 44000.0),
        ("status_code", 200),
        ("order_id", None),
        ("signature_key", None),
        ("signature_key", 12345),
    ],
)
def test_verify_refuses_fields_that_are_not_strings(field: str, value: object) -> None:
    """A number where Midtrans sends a string means the body is not the one that was signed."""
    vector = _vectors()[2]
    assert not verify(_body(vector) | {field: value}, vector["server_key"])


def test_verify_refuses_missing_fields_without_raising() -> None:
    vector = _vectors()[2]
    for field in ("order_id", "status_code", "gross_amount", "signature_key"):
        body = _body(vector)
        del body[field]
        assert not verify(body, vector["server_key"])
    assert not verify({}, vector["server_key"])
    assert not verify(_body(vector) | {"signature_key": "é" * 128}, vector["server_key"])


def test_documentation_samples_do_not_verify() -> None:
    """The docs' signatures are illustrative (samples README): no key reproduces them."""
    samples = sorted(p for p in SAMPLES.glob("notification_*.json"))
    assert samples
    for path in samples:
        assert not verify(json.loads(path.read_text()), "SB-Mid-server-EMULATOR-TEST-KEY")
