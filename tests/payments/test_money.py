"""Money is integer rupiah (DESIGN rule 1): gateway strings are parsed exactly, never floated."""

from __future__ import annotations

import pytest

from bayar.payments.money import MoneyError, display, gateway_amount, parse_rupiah


@pytest.mark.parametrize(
    ("value", "rupiah"),
    [
        ("10000.00", 10000),
        ("10000", 10000),
        (" 7000.00 ", 7000),
        ("0.00", 0),
        (15000, 15000),
        ("99999999999999999.00", 99999999999999999),  # beyond a float's exact integers
        ("12345678901234567", 12345678901234567),
    ],
)
def test_parse_rupiah_is_exact(value: object, rupiah: int) -> None:
    parsed = parse_rupiah(value)

    assert parsed == rupiah
    assert type(parsed) is int


@pytest.mark.parametrize(
    "value",
    ["10000.50", "0.01", "abc", "", "NaN", "Infinity", "1e3.5", None, True, 10000.0, b"10000"],
)
def test_parse_rupiah_refuses_fractions_and_non_amounts(value: object) -> None:
    with pytest.raises(MoneyError):
        parse_rupiah(value)


def test_gateway_amount_round_trips() -> None:
    for rupiah in (0, 1, 7000, 10000, 12345678901234567):
        assert gateway_amount(rupiah) == f"{rupiah}.00"
        assert parse_rupiah(gateway_amount(rupiah)) == rupiah


def test_display_in_the_indonesian_way() -> None:
    assert display(10000) == "Rp 10.000"
    assert display(1234567) == "Rp 1.234.567"
    assert display(500) == "Rp 500"


@pytest.mark.parametrize("value", ["-5000.00", "-1", "1e4", "1_000"])
def test_parse_rupiah_refuses_what_is_not_a_gateway_amount(value: str) -> None:
    with pytest.raises(MoneyError):
        parse_rupiah(value)
