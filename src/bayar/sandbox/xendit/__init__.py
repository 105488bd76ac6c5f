"""The Xendit emulator: invoices, QRIS payment requests, refunds and callbacks, in Xendit's shapes.

Built from `shared/reference/xendit.md`, like the Midtrans one from its reference: it shares the
sandbox's clock, store, faults and notifier, and nothing of bayar's own Xendit adapter.
"""
