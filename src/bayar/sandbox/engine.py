"""The emulated gateway: charges, status, actions, refunds and Snap sessions, as Midtrans behaves.

Every method is synchronous and runs on the event loop thread, so a call sees and changes the state
atomically. Every status change goes through `_transition`, which stores it and hands the
transaction to the notifier.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from base64 import b64decode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bayar.sandbox import cards, methods, validate, wire
from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.errors import (
    ControlError,
    MidtransError,
    cannot_modify,
    core_error,
    invalid,
    not_found,
    snap_error,
    unexpected,
)
from bayar.sandbox.model import (
    CLOSED_UNPAID,
    PAID,
    REFUNDABLE_TYPES,
    CardToken,
    Refund,
    SnapSession,
    Transaction,
)
from bayar.sandbox.qris import QrisMerchant
from bayar.sandbox.store import SandboxStore

SNAP_TOKEN_LIFETIME = 24 * 3600
MAX_NOTIFICATION_URLS = 3
CORE_UNAUTHORIZED = "Unknown Merchant server_key/id"
SNAP_UNAUTHORIZED = (
    "Access denied due to unauthorized transaction, please check client or server key"
)


SIMULATED_ACTIONS = ("pay", "deny", "expire", "cancel")


def allowed_actions(txn: Transaction) -> list[str]:
    """What a customer or bank can still do to the transaction (simulator buttons, control API)."""
    status = txn.transaction_status
    allowed: list[str] = []
    if status in ("pending", "authorize") or (
        txn.payment_type == "credit_card" and status == "capture"
    ):
        allowed.append("pay")
    if status == "pending" or txn.fraud_status == "challenge":
        allowed.append("deny")
    if status == "pending":
        allowed.append("expire")
    if status in ("pending", "authorize", "capture"):
        allowed.append("cancel")
    return allowed


def enabled_allows(enabled: Any, payment_type: str, wanted: str) -> bool:
    """Whether a Snap request's `enabled_payments` offers a method: by payment type, bank or store
    (`bca` or `bca_va`), and Snap's `other_qris` for QRIS."""
    if not enabled or not isinstance(enabled, list):
        return True
    names = {payment_type, wanted, f"{wanted}_va"}
    if payment_type == "qris":
        names.add("other_qris")
    return bool(names & set(enabled))


@dataclass(frozen=True)
class Urls:
    """Where the sandbox is reachable, for URLs inside answers (actions, redirect_url)."""

    api: str  # the Core API base, e.g. http://host/sandbox/midtrans
    simulator: str  # the simulator pages, e.g. http://host/sandbox


@dataclass(frozen=True)
class Reply:
    http_status: int
    body: dict[str, Any]


def _error_reply(error: MidtransError) -> Reply:
    return Reply(error.http_status, error.body)


def _urls_from_header(value: str | None) -> list[str]:
    if not value:
        return []
    return [u.strip() for u in value.split(",") if u.strip()][:MAX_NOTIFICATION_URLS]


class Gateway:
    def __init__(
        self,
        store: SandboxStore,
        clock: SandboxClock,
        *,
        server_key: str,
        client_key: str,
        merchant_id: str,
        on_change: Callable[[Transaction], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self._server_key = server_key
        self._client_key = client_key
        self.merchant_id = merchant_id
        self._on_change = on_change
        self._merchant = QrisMerchant()
        self._refund_ids = 0

    # -- authentication ---------------------------------------------------------------------------

    @staticmethod
    def _basic_user(authorization: str | None) -> str | None:
        """The user name of an HTTP Basic `Authorization` header, None if there is none."""
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            return b64decode(authorization[6:].strip(), validate=True).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return None

    def server_key_ok(self, authorization: str | None) -> bool:
        """HTTP Basic with the server key as user name and an empty password."""
        user = self._basic_user(authorization)
        return user is not None and hmac.compare_digest(user.encode(), self._server_key.encode())

    def client_key_ok(self, client_key: str | None, authorization: str | None = None) -> bool:
        """The front-end endpoints' key: the `client_key` query parameter, or, as unofficial
        clients send it, the user name of HTTP Basic auth."""
        return any(
            key is not None and hmac.compare_digest(key.encode(), self._client_key.encode())
            for key in (client_key, self._basic_user(authorization))
        )

    @staticmethod
    def unauthorized_core() -> Reply:
        return Reply(
            401,
            {"status_code": "401", "status_message": CORE_UNAUTHORIZED, "id": str(uuid.uuid4())},
        )

    @staticmethod
    def unauthorized_snap() -> Reply:
        return Reply(401, {"error_messages": [SNAP_UNAUTHORIZED]})

    # -- JSON views ---------------------------------------------------------------------------------

    def status_body(self, txn: Transaction) -> dict[str, Any]:
        return wire.status_json(txn, server_key=self._server_key, merchant_id=self.merchant_id)

    def notification_body(self, txn: Transaction) -> dict[str, Any]:
        return wire.notification_json(
            txn, server_key=self._server_key, merchant_id=self.merchant_id
        )

    def charge_body(self, txn: Transaction, message: str, urls: Urls) -> dict[str, Any]:
        body = self.status_body(txn)
        del body["signature_key"]
        body["status_code"] = self._charge_code(txn)
        body["status_message"] = message
        for key in wire.CHARGE_ONLY:
            if txn.details.get(key) is not None:
                body[key] = txn.details[key]
        if txn.payment_type == "gopay":
            body.pop("qr_string", None)
        if txn.payment_type in ("qris", "gopay"):
            body["actions"] = methods.actions(
                txn.payment_type, txn.transaction_id, urls.api, urls.simulator
            )
        return body

    @staticmethod
    def _charge_code(txn: Transaction) -> str:
        if txn.transaction_status in ("deny", "failure"):
            return "202"
        if txn.transaction_status == "pending" or txn.fraud_status == "challenge":
            return "201"
        return "200"

    # -- lookups -------------------------------------------------------------------------------------

    def find(self, id_: str) -> Transaction | None:
        return self.store.find(id_)

    def _get(self, id_: str) -> Transaction:
        txn = self.store.find(id_)
        if txn is None:
            raise not_found()
        return txn

    def _order_locked(self, order_id: str) -> bool:
        """An order_id is single-use once a payment for it is pending or paid."""
        return any(
            self.store.transactions[t].transaction_status not in CLOSED_UNPAID
            for t in self.store.by_order.get(order_id, [])
        )

    # -- Core API: charge ------------------------------------------------------------------------

    def charge(self, body: Any, headers: Mapping[str, str], urls: Urls) -> Reply:
        key = headers.get("idempotency-key")
        if key:
            stored = self.store.idempotency.get(f"charge:{key}")
            if stored is not None:
                return Reply(stored["http_status"], stored["body"])
        try:
            reply = self._charge(
                body,
                override=_urls_from_header(headers.get("x-override-notification")),
                append=_urls_from_header(headers.get("x-append-notification")),
                urls=urls,
            )
        except MidtransError as error:
            reply = _error_reply(error)
        if key and reply.http_status < 500:
            self.store.save_idempotent(
                f"charge:{key}", {"http_status": reply.http_status, "body": reply.body}
            )
        return reply

    def _charge(self, body: Any, *, override: list[str], append: list[str], urls: Urls) -> Reply:
        if body is None:
            raise unexpected()
        if not isinstance(body, dict):
            raise invalid(["The request body must be a JSON object"])
        errors: list[str] = []
        payment_type = body.get("payment_type")
        if not payment_type:
            errors.append("payment_type is required")
        elif payment_type not in methods.SUPPORTED:
            errors.append(
                f"payment_type {payment_type} is not supported; use one of "
                + ", ".join(methods.SUPPORTED)
            )
        order_id, gross = validate.transaction_details(body, errors)
        items = validate.item_details(body, gross, errors)
        expiry = validate.expiry_seconds(
            body.get("custom_expiry"), "expiry_duration", errors, "custom_expiry"
        )
        if errors:
            raise invalid(errors)
        if self._order_locked(order_id):
            raise core_error(
                406,
                "The request could not be completed due to a conflict with the current state "
                "of the target resource, please try again. order_id has been paid and utilized, "
                "please use another order ID",
            )
        now = self.clock.timestamp()
        start = now
        order_time = (body.get("custom_expiry") or {}).get("order_time")
        if order_time:
            try:
                start = wire.parse_wib(str(order_time))
            except ValueError:
                raise invalid(
                    ["custom_expiry.order_time must be YYYY-MM-DD HH:MM:SS +0700"]
                ) from None
        txn = Transaction(
            transaction_id=methods.new_transaction_id(),
            order_id=order_id,
            payment_type=str(payment_type),
            gross_amount=gross,
            transaction_status="pending",
            transaction_time=now,
            item_details=items,
            customer_details=body.get("customer_details") or {},
            custom_fields={
                k: str(body[k])
                for k in ("custom_field1", "custom_field2", "custom_field3")
                if body.get(k)
            },
            override_urls=override,
            append_urls=append,
        )
        if payment_type == "credit_card":
            message = self._charge_card(txn, body, urls)
        else:
            setup = methods.setup(
                txn.payment_type,
                body,
                transaction_id=txn.transaction_id,
                order_id=order_id,
                gross=gross,
                merchant=self._merchant,
                errors=errors,
            )
            if errors:
                raise invalid(errors)
            txn.details.update(setup.details)
            txn.fraud_status = setup.fraud_status
            txn.expiry_time = start + (expiry or methods.default_expiry(txn.payment_type))
            message = setup.message
        txn.status_message = message
        self._transition(txn)
        return Reply(200, self.charge_body(txn, message, urls))

    def _charge_card(self, txn: Transaction, body: dict[str, Any], urls: Urls) -> str:
        options = body.get("credit_card")
        token_id = options.get("token_id") if isinstance(options, dict) else None
        card = self.store.cards.get(str(token_id)) if token_id else None
        if card is None or not isinstance(options, dict):
            raise core_error(411, "Token id is missing, invalid, or timed out")
        txn.card_token = card.token_id
        txn.details.update(
            {
                "masked_card": cards.masked(card.card_number),
                "bank": str(options.get("bank") or cards.card_type_bank(card.card_number)),
                "card_type": "credit",
            }
        )
        if options.get("type") == "authorize":
            txn.details["_authorize"] = True
        if options.get("save_token_id"):
            txn.details["saved_token_id"] = self._save_card(card).token_id
        wants_3ds = bool(options.get("authentication")) or card.secure
        if wants_3ds and cards.behaviour(card.card_number).three_ds:
            txn.details["redirect_url"] = f"{urls.api}/v2/token/rba/redirect/{txn.transaction_id}"
            txn.fraud_status = "accept"
            txn.expiry_time = txn.transaction_time + 15 * 60
            return "Success, Credit Card transaction is successful, please authenticate"
        return self._decide_card(txn, authenticated=True)

    def _decide_card(self, txn: Transaction, *, authenticated: bool) -> str:
        """Set the outcome of a card charge from its test card (reference 3.11); return the message."""
        number = self.store.cards[txn.card_token].card_number if txn.card_token else ""
        outcome = cards.behaviour(number).outcome if authenticated else "bank_deny"
        txn.details.pop("redirect_url", None)
        if outcome in ("bank_deny", "fds_deny"):
            txn.transaction_status = "deny"
            txn.fraud_status = "deny" if outcome == "fds_deny" else "accept"
            txn.details.update(
                {"channel_response_code": "05", "channel_response_message": "Do not honor"}
            )
            if not authenticated:
                return "Card is not authenticated."
            return "Denied by FDS" if outcome == "fds_deny" else "Transaction is denied by the bank"
        txn.details.update(
            {
                "channel_response_code": "00",
                "channel_response_message": "Approved",
                "approval_code": str(int(self.clock.timestamp() * 1000)),
                "eci": "05" if cards.behaviour(number).three_ds else "07",
            }
        )
        authorize = bool(txn.details.pop("_authorize", False))
        txn.transaction_status = "authorize" if authorize else "capture"
        txn.fraud_status = "challenge" if outcome == "challenge" else "accept"
        if outcome == "challenge":
            return "Challenge by FDS"
        return "Success, Credit Card transaction is successful"

    def _save_card(self, card: CardToken) -> CardToken:
        saved = CardToken(
            token_id=f"{card.card_number[:6]}{uuid.uuid4().hex[:8]}-{card.card_number[-4:]}",
            card_number=card.card_number,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            created_at=self.clock.timestamp(),
            saved=True,
        )
        self.store.save_card(saved)
        return saved

    def authenticate_3ds(self, transaction_id: str, otp: str) -> Transaction:
        """The bank's 3-D Secure page: the OTP decides (test OTP 112233)."""
        txn = self.store.transactions.get(transaction_id)
        if txn is None or txn.payment_type != "credit_card":
            raise ControlError(404, "Transaction doesn't exist.")
        if txn.transaction_status != "pending" or "redirect_url" not in txn.details:
            raise ControlError(
                409, f"the transaction is {txn.transaction_status}, not awaiting 3-D Secure"
            )
        txn.status_message = self._decide_card(txn, authenticated=otp == cards.OTP)
        self._transition(txn)
        return txn

    # -- Core API: cards -----------------------------------------------------------------------------

    def card_token(
        self,
        params: Mapping[str, str],
        *,
        authorization: str | None = None,
        register: bool = False,
    ) -> Reply:
        if not self.client_key_ok(params.get("client_key"), authorization):
            return Reply(
                401,
                {
                    "status_code": "401",
                    "status_message": "Access denied, please check client or server key",
                    "id": str(uuid.uuid4()),
                },
            )
        number = (params.get("card_number") or "").replace(" ", "")
        errors: list[str] = []
        if not cards.luhn_ok(number):
            errors.append("card_number does not match with luhn algorithm")
        month, year = params.get("card_exp_month") or "", params.get("card_exp_year") or ""
        if not (month.isdigit() and 1 <= int(month) <= 12):
            errors.append("card_exp_month value is not valid")
        if not (year.isdigit() and len(year) in (2, 4)):
            errors.append("card_exp_year value is not valid")
        elif not errors:
            full_year = int(year) if len(year) == 4 else 2000 + int(year)
            now = self.clock.now()
            if (full_year, int(month)) < (now.year, now.month):
                errors.append("card_exp_year value has expired")
        cvv = params.get("card_cvv")
        if not register and cvv is not None and not (cvv.isdigit() and len(cvv) in (3, 4)):
            errors.append("card_cvv value is not valid")
        if errors:
            return _error_reply(invalid(errors))
        card = CardToken(
            token_id=f"{number[:6]}-{number[-4:]}-{uuid.uuid4()}",
            card_number=number,
            exp_month=month,
            exp_year=year,
            created_at=self.clock.timestamp(),
            secure=str(params.get("secure", "")).lower() == "true",
        )
        if register:
            saved = self._save_card(card)
            return Reply(
                200,
                {
                    "status_code": "200",
                    "saved_token_id": saved.token_id,
                    "transaction_id": str(uuid.uuid4()),
                    "masked_card": f"{number[:8]}-{number[-4:]}",
                },
            )
        self.store.save_card(card)
        return Reply(
            200,
            {
                "status_code": "200",
                "status_message": "Credit card token is created as Token ID.",
                "token_id": card.token_id,
                "hash": hashlib.sha1(card.token_id.encode()).hexdigest(),  # noqa: S324
            },
        )

    def point_inquiry(self, token_id: str) -> Reply:
        if token_id not in self.store.cards:
            return _error_reply(core_error(411, "Token id is missing, invalid, or timed out"))
        return Reply(
            200,
            {
                "status_code": "200",
                "status_message": "Success, Credit Card Point inquiry is successful",
                "transaction_time": wire.wib(self.clock.timestamp()),
                "point_balance_amount": "10000.00",
            },
        )

    # -- Core API: status and actions -------------------------------------------------------------

    def status(self, id_: str) -> Reply:
        try:
            return Reply(200, self.status_body(self._get(id_)))
        except MidtransError as error:
            return _error_reply(error)

    def status_b2b(self, id_: str, page: int, per_page: int) -> Reply:
        ids = self.store.by_order.get(id_) or ([id_] if id_ in self.store.transactions else [])
        if not ids:
            return _error_reply(not_found())
        window = ids[page * per_page : (page + 1) * per_page]
        return Reply(
            200,
            {
                "status_code": "200",
                "status_message": "Success, transactions are retrieved",
                "transactions": [self.status_body(self.store.transactions[t]) for t in window],
            },
        )

    def action(self, id_: str, name: str) -> Reply:
        try:
            txn = self._get(id_)
            return Reply(200, getattr(self, f"_{name}")(txn))
        except MidtransError as error:
            return _error_reply(error)

    def _action_body(self, txn: Transaction, code: str, message: str) -> dict[str, Any]:
        body = self.status_body(txn)
        del body["signature_key"]
        body.update(status_code=code, status_message=message)
        return body

    def _cancel(self, txn: Transaction) -> dict[str, Any]:
        card_unsettled = txn.payment_type == "credit_card" and txn.transaction_status in (
            "authorize",
            "capture",
        )
        if txn.transaction_status != "pending" and not card_unsettled:
            raise cannot_modify()
        txn.transaction_status = "cancel"
        self._transition(txn)
        return self._action_body(txn, "200", "Success, transaction is canceled")

    def _expire(self, txn: Transaction) -> dict[str, Any]:
        if txn.transaction_status != "pending":
            raise cannot_modify()
        self._do_expire(txn)
        return self._action_body(txn, "407", "Success, transaction has expired")

    def _do_expire(self, txn: Transaction) -> None:
        txn.transaction_status = "expire"
        self._transition(txn)

    def _approve(self, txn: Transaction) -> dict[str, Any]:
        if txn.fraud_status != "challenge":
            raise cannot_modify()
        txn.fraud_status = "accept"
        self._transition(txn)
        return self._action_body(txn, "200", "Success, transaction is approved")

    def _deny(self, txn: Transaction) -> dict[str, Any]:
        if txn.fraud_status != "challenge":
            raise cannot_modify()
        txn.transaction_status = "deny"
        txn.fraud_status = "deny"
        self._transition(txn)
        return self._action_body(txn, "200", "Success, transaction is denied")

    def capture(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not body.get("transaction_id"):
            return _error_reply(invalid(["transaction_id is required"]))
        txn = self.store.transactions.get(str(body["transaction_id"]))
        if txn is None:
            return _error_reply(not_found())
        if txn.transaction_status != "authorize":
            return _error_reply(cannot_modify())
        amount = validate.amount(body.get("gross_amount", txn.gross_amount))
        if amount is None or not 0 < amount <= txn.gross_amount:
            return _error_reply(invalid(["gross_amount must not exceed the authorized amount"]))
        txn.gross_amount = amount
        txn.transaction_status = "capture"
        self._transition(txn)
        return Reply(
            200,
            self._action_body(txn, "200", "Success, Credit Card capture transaction is successful"),
        )

    def refund(self, id_: str, body: Any, *, direct: bool) -> Reply:
        try:
            txn = self._get(id_)
            return Reply(200, self._refund(txn, body if isinstance(body, dict) else {}, direct))
        except MidtransError as error:
            return _error_reply(error)

    def _refund(self, txn: Transaction, body: dict[str, Any], direct: bool) -> dict[str, Any]:
        # Only settled money can go back: a card in `capture` (not yet settled) is voided with
        # /cancel instead. Checked before the refund key, as Midtrans does (reference 3.4).
        refundable = txn.transaction_status in ("settlement", "partial_refund")
        if not refundable or txn.payment_type not in REFUNDABLE_TYPES:
            raise cannot_modify()
        key = str(body.get("refund_key") or uuid.uuid4())
        if f"{txn.transaction_id}:{key}" in self.store.refund_keys:
            raise core_error(406, "Duplicate refund ID")
        remaining = txn.gross_amount - txn.refunded_amount
        raw = body.get("amount")
        amount = remaining if raw is None else validate.amount(raw)
        if amount is None or amount < 1 or amount > remaining:
            raise core_error(
                414,
                f"Refund amount must be a whole number from 1 to the refundable {wire.money(remaining)}",
            )
        self._refund_ids += 1
        refund = Refund(
            refund_chargeback_id=int(self.clock.timestamp() * 1000) * 100 + self._refund_ids % 100,
            refund_amount=amount,
            created_at=self.clock.timestamp(),
            reason=str(body.get("reason") or ""),
            refund_key=key,
            refund_method="online" if direct else "",
        )
        txn.refunds.append(refund)
        txn.transaction_status = (
            "refund" if txn.refunded_amount == txn.gross_amount else "partial_refund"
        )
        self._transition(txn)
        # Midtrans notifies a refund twice: when approved, then with the bank's confirmation.
        refund.bank_confirmed_at = self.clock.timestamp()
        self._transition(txn)
        answer = self._action_body(
            txn,
            "200",
            "Success, refund request is approved by the bank"
            if direct
            else "Success, refund request is approved",
        )
        answer.pop("refunds", None)
        answer.update(
            refund_chargeback_id=refund.refund_chargeback_id,
            refund_amount=wire.money(amount),
            refund_key=key,
        )
        return answer

    # -- Snap ------------------------------------------------------------------------------------

    def snap_create(self, body: Any, headers: Mapping[str, str], urls: Urls) -> Reply:
        if body is None or not isinstance(body, dict):
            return _error_reply(snap_error(400, ["transaction_details is required"]))
        errors: list[str] = []
        order_id, gross = validate.transaction_details(body, errors)
        validate.item_details(body, gross, errors)
        lifetime = validate.expiry_seconds(body.get("expiry"), "duration", errors, "expiry")
        enabled = body.get("enabled_payments")
        if enabled is not None and not (
            isinstance(enabled, list) and all(isinstance(x, str) for x in enabled)
        ):
            errors.append("enabled_payments must be an array of payment type names")
        if not errors and self._order_locked(order_id):
            errors.append("transaction_details.order_id has already been taken")
        if errors:
            return _error_reply(snap_error(400, errors))
        now = self.clock.timestamp()
        for session in self.store.snaps.values():
            if session.order_id == order_id and not session.voided:
                session.voided = True
                self.store.save_snap(session)
        token = str(uuid.uuid4())
        self.store.save_snap(
            SnapSession(
                token=token,
                order_id=order_id,
                gross_amount=gross,
                created_at=now,
                expires_at=now + (lifetime or SNAP_TOKEN_LIFETIME),
                request=body,
                override_urls=_urls_from_header(headers.get("x-override-notification")),
                append_urls=_urls_from_header(headers.get("x-append-notification")),
            )
        )
        return Reply(201, {"token": token, "redirect_url": f"{urls.api}/snap/v2/vtweb/{token}"})

    def snap_session(self, token: str) -> SnapSession:
        session = self.store.snaps.get(token)
        if session is None:
            raise ControlError(404, "This payment link does not exist.")
        if session.voided:
            raise ControlError(410, "This payment link was replaced by a newer one.")
        if session.transaction_id is None and self.clock.timestamp() > session.expires_at:
            raise ControlError(410, "This payment link has expired.")
        return session

    def snap_transaction(self, session: SnapSession) -> Transaction | None:
        return (
            self.store.transactions.get(session.transaction_id) if session.transaction_id else None
        )

    def snap_charge(self, token: str, choice: Mapping[str, Any], urls: Urls) -> Reply:
        """The customer picks a method on the Snap page: a Core charge for the Snap order."""
        session = self.snap_session(token)
        current = self.snap_transaction(session)
        if current is not None and current.transaction_status not in CLOSED_UNPAID:
            return Reply(200, self.snap_result(current))
        request = session.request
        payment_type = str(choice.get("payment_type") or "")
        enabled = request.get("enabled_payments")
        wanted = str(choice.get("bank") or choice.get("store") or payment_type)
        if not enabled_allows(enabled, payment_type, wanted):
            raise ControlError(400, f"{payment_type} is not enabled for this payment")
        body: dict[str, Any] = {
            k: request[k]
            for k in (
                "transaction_details",
                "item_details",
                "customer_details",
                "custom_field1",
                "custom_field2",
                "custom_field3",
            )
            if k in request
        }
        body["payment_type"] = payment_type
        remaining = int(session.expires_at - self.clock.timestamp())
        if request.get("expiry") and remaining > 0:
            body["custom_expiry"] = {"expiry_duration": remaining, "unit": "second"}
        if payment_type == "bank_transfer":
            body["bank_transfer"] = {"bank": choice.get("bank") or "bca"}
        elif payment_type == "cstore":
            body["cstore"] = {"store": choice.get("store") or "indomaret"}
        elif payment_type == "echannel":
            body["echannel"] = {"bill_info1": "Payment:", "bill_info2": "Online purchase"}
        elif payment_type == "credit_card":
            body["credit_card"] = {"token_id": choice.get("token_id"), "authentication": True}
        try:
            reply = self._charge(
                body, override=session.override_urls, append=session.append_urls, urls=urls
            )
        except MidtransError as error:
            message = error.body.get("status_message") or "payment failed"
            details = error.body.get("validation_messages") or []
            raise ControlError(400, " ".join([message, *details])) from None
        session.transaction_id = reply.body["transaction_id"]
        self.store.save_snap(session)
        return reply

    def snap_result(self, txn: Transaction) -> dict[str, Any]:
        """What snap.js hands to onSuccess/onPending/onError: the transaction, no signature."""
        body = self.status_body(txn)
        del body["signature_key"]
        body["status_code"] = {"expire": "407", "cancel": "202"}.get(
            txn.transaction_status, self._charge_code(txn)
        )
        body["status_message"] = txn.status_message or "Success, transaction is found"
        for key in ("qr_string", "redirect_url"):
            if txn.details.get(key):
                body[key] = txn.details[key]
        return body

    # -- simulated customer and bank actions (simulator pages, control API) --------------------

    def simulate(
        self, id_: str, action: str, *, payment_type: str | None, urls: Urls
    ) -> Transaction:
        txn = self.store.find(id_)
        if txn is None and action == "pay":
            txn = self._pay_snap_order(id_, payment_type or "qris", urls)
        if txn is None:
            raise ControlError(404, "Transaction doesn't exist.")
        status = txn.transaction_status
        if action not in SIMULATED_ACTIONS:
            raise ControlError(404, f"unknown action {action!r}; use pay, deny, expire or cancel")
        if action not in allowed_actions(txn):
            raise ControlError(409, f"cannot {action} a transaction that is {status}")
        if action == "pay":
            if status == "pending" and txn.payment_type == "credit_card":
                txn.status_message = self._decide_card(txn, authenticated=True)
            elif status == "authorize":
                txn.transaction_status = "capture"
            else:
                self._settle(txn)
        elif action == "deny":
            txn.transaction_status = "deny"
            if txn.fraud_status == "challenge":
                txn.fraud_status = "deny"
        else:
            txn.transaction_status = {"expire": "expire", "cancel": "cancel"}[action]
        self._transition(txn)
        return txn

    def _pay_snap_order(self, order_id: str, payment_type: str, urls: Urls) -> Transaction | None:
        for session in reversed(list(self.store.snaps.values())):
            if session.order_id == order_id and not session.voided:
                choice: dict[str, Any] = {"payment_type": payment_type}
                if payment_type == "credit_card":
                    choice["token_id"] = self._test_card_token()
                reply = self.snap_charge(session.token, choice, urls)
                return self.store.transactions.get(reply.body["transaction_id"])
        return None

    def _test_card_token(self) -> str:
        card = CardToken(
            token_id=f"481111-1114-{uuid.uuid4()}",
            card_number="4811111111111114",
            exp_month="12",
            exp_year=str(self.clock.now().year + 1),
            created_at=self.clock.timestamp(),
        )
        self.store.save_card(card)
        return card.token_id

    def _settle(self, txn: Transaction) -> None:
        now = self.clock.timestamp()
        txn.transaction_status = "settlement"
        txn.status_message = "Success, transaction is found"
        txn.settlement_time = now
        methods.settlement_details(
            txn.payment_type, txn.details, wire.wib(now), wire.money(txn.gross_amount)
        )

    def pay_by_qr(self, qr_string: str) -> Transaction:
        """The QRIS simulator: a pasted QR string names the transaction it was issued for."""
        text = qr_string.strip()
        for txn in reversed(list(self.store.transactions.values())):
            if txn.details.get("qr_string") == text:
                return txn
        raise ControlError(404, "No transaction was issued with this QR code.")

    # -- expiry ----------------------------------------------------------------------------------

    def expire_due(self) -> float | None:
        """Expire the pending payments whose time is up; the sandbox time of the next one, if any."""
        now = self.clock.timestamp()
        upcoming: float | None = None
        for txn in list(self.store.transactions.values()):
            if txn.transaction_status != "pending" or txn.expiry_time is None:
                continue
            if txn.expiry_time <= now:
                self._do_expire(txn)
            elif upcoming is None or txn.expiry_time < upcoming:
                upcoming = txn.expiry_time
        return upcoming

    # -- the one place a change is stored and announced ----------------------------------------

    def _transition(self, txn: Transaction) -> None:
        self.store.save_transaction(txn)
        self._on_change(txn)

    def paid(self, txn: Transaction) -> bool:
        return txn.transaction_status in PAID
