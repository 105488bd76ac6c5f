"""Amounts typed by a person (the admin's refund and price forms): whole rupiah, the dot only a
thousands separator. "35.00" used to refund Rp 3.500 and "1.5" Rp 15 (issue 8, problem 8)."""

from __future__ import annotations

import pytest

from bayar.payments.money import MoneyError, parse_rupiah_input


@pytest.mark.parametrize(
    ("text", "rupiah"),
    [
        ("35000", 35000),
        ("35.000", 35000),
        ("Rp 35.000", 35000),
        ("rp35.000", 35000),
        ("Rp. 1.234.567", 1234567),
        (" 500 ", 500),
        ("0", 0),  # the caller checks the range (a refund's, a price's)
    ],
)
def test_whole_rupiah_with_or_without_thousands_dots(text: str, rupiah: int) -> None:
    assert parse_rupiah_input(text) == rupiah


@pytest.mark.parametrize(
    "text",
    [
        "35.00",  # cents, not thousands
        "1.5",
        "1.5000",
        "1,5",
        "35.000,00",
        "-5",
        "+5",
        "",
        "   ",
        "35 000",
        "ten",
        "٣٥",  # Arabic-Indic digits: int() would take them
        "1" * 16,
    ],
)
def test_anything_else_is_refused_with_what_to_type(text: str) -> None:
    with pytest.raises(MoneyError, match=r"whole rupiah|too large"):
        parse_rupiah_input(text)
