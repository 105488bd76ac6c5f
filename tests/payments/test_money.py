"""Money is integer rupiah (DESIGN rule 1), shown the Indonesian way. (Gateway amounts are read
exactly by the adapter: tests/gateways/test_midtrans_wire.py.)"""

from __future__ import annotations

from bayar.payments.money import display


def test_display_in_the_indonesian_way() -> None:
    assert display(10000) == "Rp 10.000"
    assert display(1234567) == "Rp 1.234.567"
    assert display(500) == "Rp 500"
