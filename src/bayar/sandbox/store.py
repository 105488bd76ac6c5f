"""Sandbox state in memory, written through to a SQLite file so a restart forgets no pending payment."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bayar.sandbox.model import (
    Attempt,
    CardToken,
    Delivery,
    PayAccount,
    Refund,
    SnapSession,
    Subscription,
    Transaction,
)
from bayar.sandbox.xendit.model import Invoice, PaymentRequest, XRefund


def _transaction(data: dict[str, Any]) -> Transaction:
    data = dict(data)
    data["refunds"] = [Refund(**r) for r in data.get("refunds", [])]
    return Transaction(**data)


def _delivery(data: dict[str, Any]) -> Delivery:
    data = dict(data)
    data["attempts"] = [Attempt(**a) for a in data.get("attempts", [])]
    return Delivery(**data)


class SandboxStore:
    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects"
            " (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id))"
        )
        self.transactions: dict[str, Transaction] = {}
        self.by_order: dict[str, list[str]] = {}
        self.snaps: dict[str, SnapSession] = {}
        self.cards: dict[str, CardToken] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.refund_keys: set[str] = set()
        self.deliveries: dict[str, Delivery] = {}
        self.config: dict[str, Any] = {}
        self.accounts: dict[str, PayAccount] = {}
        self.subscriptions: dict[str, Subscription] = {}
        # The Xendit emulator's objects, by id, oldest first.
        self.invoices: dict[str, Invoice] = {}
        self.payment_requests: dict[str, PaymentRequest] = {}
        self.xendit_refunds: dict[str, XRefund] = {}
        self._load()

    def _load(self) -> None:
        for kind, key, raw in self._db.execute("SELECT kind, id, data FROM objects ORDER BY rowid"):
            data = json.loads(raw)
            if kind == "txn":
                self._index(_transaction(data))
            elif kind == "snap":
                self.snaps[key] = SnapSession(**data)
            elif kind == "card":
                self.cards[key] = CardToken(**data)
            elif kind == "idem":
                self.idempotency[key] = data
            elif kind == "delivery":
                self.deliveries[key] = _delivery(data)
            elif kind == "config":
                self.config[key] = data
            elif kind == "account":
                self.accounts[key] = PayAccount(**data)
            elif kind == "subscription":
                self.subscriptions[key] = Subscription(**data)
            elif kind == "xendit_invoice":
                self.invoices[key] = Invoice(**data)
            elif kind == "xendit_payment_request":
                self.payment_requests[key] = PaymentRequest(**data)
            elif kind == "xendit_refund":
                self.xendit_refunds[key] = XRefund(**data)

    def _index(self, txn: Transaction) -> None:
        self.transactions[txn.transaction_id] = txn
        ids = self.by_order.setdefault(txn.order_id, [])
        if txn.transaction_id not in ids:
            ids.append(txn.transaction_id)
        self.refund_keys.update(f"{txn.transaction_id}:{r.refund_key}" for r in txn.refunds)

    def _put(self, kind: str, key: str, data: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO objects (kind, id, data) VALUES (?, ?, ?)",
            (kind, key, json.dumps(data, separators=(",", ":"))),
        )

    def save_transaction(self, txn: Transaction) -> None:
        self._index(txn)
        self._put("txn", txn.transaction_id, asdict(txn))

    def save_snap(self, snap: SnapSession) -> None:
        self.snaps[snap.token] = snap
        self._put("snap", snap.token, asdict(snap))

    def save_card(self, card: CardToken) -> None:
        self.cards[card.token_id] = card
        self._put("card", card.token_id, asdict(card))

    def save_idempotent(self, key: str, response: dict[str, Any]) -> None:
        self.idempotency[key] = response
        self._put("idem", key, response)

    def save_delivery(self, delivery: Delivery) -> None:
        self.deliveries[delivery.id] = delivery
        self._put("delivery", delivery.id, asdict(delivery))

    def save_config(self, key: str, value: Any) -> None:
        self.config[key] = value
        self._put("config", key, value)

    def save_account(self, account: PayAccount) -> None:
        self.accounts[account.account_id] = account
        self._put("account", account.account_id, asdict(account))

    def save_subscription(self, subscription: Subscription) -> None:
        self.subscriptions[subscription.id] = subscription
        self._put("subscription", subscription.id, asdict(subscription))

    def save_invoice(self, invoice: Invoice) -> None:
        self.invoices[invoice.id] = invoice
        self._put("xendit_invoice", invoice.id, asdict(invoice))

    def save_payment_request(self, request: PaymentRequest) -> None:
        self.payment_requests[request.id] = request
        self._put("xendit_payment_request", request.id, asdict(request))

    def save_xendit_refund(self, refund: XRefund) -> None:
        self.xendit_refunds[refund.id] = refund
        self._put("xendit_refund", refund.id, asdict(refund))

    def find(self, id_: str) -> Transaction | None:
        """A transaction by transaction_id, or the newest one for an order_id."""
        if id_ in self.transactions:
            return self.transactions[id_]
        ids = self.by_order.get(id_)
        return self.transactions[ids[-1]] if ids else None

    def reset(self) -> None:
        self._db.execute("DELETE FROM objects WHERE kind != 'config'")
        self.transactions.clear()
        self.by_order.clear()
        self.snaps.clear()
        self.cards.clear()
        self.idempotency.clear()
        self.refund_keys.clear()
        self.deliveries.clear()
        self.accounts.clear()
        self.subscriptions.clear()
        self.invoices.clear()
        self.payment_requests.clear()
        self.xendit_refunds.clear()

    def close(self) -> None:
        self._db.close()
