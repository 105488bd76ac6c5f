"""bayar: payments for QRIS vending kiosks and online checkouts, with an offline Midtrans sandbox."""

__version__ = "0.1.0"
