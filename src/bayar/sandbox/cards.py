"""Test cards of the Midtrans sandbox (reference 3.11) and what each one does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CardBehaviour:
    outcome: str  # accept | bank_deny | fds_deny | challenge
    three_ds: bool  # enrolled in 3-D Secure


KNOWN_CARDS = {
    "4811111111111114": CardBehaviour("accept", True),
    "4911111111111113": CardBehaviour("bank_deny", True),
    "4411111111111118": CardBehaviour("accept", False),
    "4511111111111117": CardBehaviour("challenge", False),
    "4611111111111116": CardBehaviour("fds_deny", False),
    "4711111111111115": CardBehaviour("bank_deny", False),
    "5211111111111117": CardBehaviour("accept", True),
    "5111111111111118": CardBehaviour("bank_deny", True),
    "5410111111111116": CardBehaviour("accept", False),
    "5510111111111115": CardBehaviour("challenge", False),
    "5610111111111114": CardBehaviour("fds_deny", False),
    "5710111111111113": CardBehaviour("bank_deny", False),
    "5264221038874659": CardBehaviour("accept", False),
}
OTP = "112233"


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def behaviour(number: str) -> CardBehaviour:
    return KNOWN_CARDS.get(number, CardBehaviour("accept", False))


def masked(number: str) -> str:
    return f"{number[:6]}-{number[-4:]}"


def card_type_bank(number: str) -> str:
    return "bni" if number.startswith("5264") else "mandiri" if number.startswith("5") else "bni"
