"""Pub/sub between processes: a doorbell, not a ledger. Readers take the truth from the database."""
