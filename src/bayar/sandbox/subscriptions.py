"""Subscriptions (`/v1/subscriptions`, reference 3.5 and the SDK method table): a schedule that charges
a saved card token or a linked GoPay account every `interval` days, weeks or months, on the sandbox
clock. Each execution is a Core charge whose order_id is `SUBS-` + the subscription's name + a unique
number (Midtrans' docs), so it is a transaction with its own notifications like any other. A failed
execution is tried again per `retry_schedule` (at most 3 times); once those fail too, the
subscription ends.

Unlike the Core API, subscription errors are real HTTP statuses with a `status_message` and no body
`status_code`: 400 "Invalid parameter." with `validation_messages` ("subscription.amount is
required"), 404 "Subscription doesn't exist."
"""

from __future__ import annotations

import calendar
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bayar.sandbox import validate, wire
from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.engine import Gateway, Urls
from bayar.sandbox.errors import MidtransError
from bayar.sandbox.model import Subscription
from bayar.sandbox.store import SandboxStore

NAME_MAX = 40
NAME_SYMBOLS = re.compile(r"^[A-Za-z0-9\-_~.]+$")  # it goes into the charges' order_id
PAYMENT_TYPES = ("credit_card", "gopay")
UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}  # and "month"
SCHEDULE_UNITS = ("day", "week", "month")
RETRY_UNITS = ("minute", "hour", "day")
MAX_RETRIES = 3
ORDER_ID_MAX = 50
IDEMPOTENCY_SECONDS = 180  # "the next 3 minutes for the same key"
UPDATED = {"status_message": "Subscription is updated."}
NOT_FOUND = "Subscription doesn't exist."
CATCH_UP_BATCH = 50  # executions of one subscription per scheduler pass
SUCCESS = frozenset({"capture", "settlement"})


def invalid(messages: list[str]) -> MidtransError:
    """Midtrans names each field from the subscription: "subscription.amount is required"."""
    return MidtransError(
        400,
        {
            "status_message": "Invalid parameter.",
            "validation_messages": [f"subscription.{m}" for m in messages],
        },
    )


def not_found() -> MidtransError:
    return MidtransError(404, {"status_message": NOT_FOUND})


def add_interval(ts: float, interval: int, unit: str) -> float:
    """`ts` moved on by `interval` units; months are calendar months in WIB (31 Jan + 1 = 28/29 Feb)."""
    if unit in UNITS:
        return ts + interval * UNITS[unit]
    local = datetime.fromtimestamp(ts, UTC).astimezone(wire.WIB)
    months = local.month - 1 + interval
    year, month = local.year + months // 12, months % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).timestamp()


def _positive(value: Any) -> int | None:
    number = validate.amount(value)
    return number if number is not None and number > 0 else None


class Subscriptions:
    def __init__(
        self,
        store: SandboxStore,
        clock: SandboxClock,
        gateway: Gateway,
        *,
        wake: Callable[[], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.gateway = gateway
        self._wake = wake  # the scheduler: a new or re-enabled schedule may be due at once

    # -- the API -------------------------------------------------------------------------------

    def create(self, body: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """The request is checked first, then the Idempotency-Key: the same key within 3 minutes
        answers the subscription it created."""
        try:
            subscription = self._parse(body)
        except MidtransError as error:
            return error.http_status, error.body
        key = headers.get("idempotency-key")
        now = self.clock.timestamp()
        if key:
            stored = self.store.idempotency.get(f"subscription:{key}")
            if stored is not None and now - float(stored["at"]) < IDEMPOTENCY_SECONDS:
                return int(stored["http_status"]), dict(stored["body"])
        self.store.save_subscription(subscription)
        self._wake()
        answer = self.subscription_json(subscription)
        if key:
            self.store.save_idempotent(
                f"subscription:{key}", {"http_status": 200, "body": answer, "at": now}
            )
        return 200, answer

    def _parse(self, body: Any) -> Subscription:
        if not isinstance(body, dict):
            raise invalid(["body must be a JSON object"])
        errors: list[str] = []
        fields = self._fields(body, errors, partial=False)
        payment_type = body.get("payment_type")
        if not payment_type:
            errors.append("payment_type is required")
        elif payment_type not in PAYMENT_TYPES:
            errors.append("payment_type must be one of credit_card, gopay")
        schedule = body.get("schedule")
        interval = unit = None
        start = now = self.clock.timestamp()
        max_interval: int | None = None
        if not isinstance(schedule, dict):
            errors.append("schedule is required")
        else:
            interval = _positive(schedule.get("interval"))
            if schedule.get("interval") is None:
                errors.append("schedule.interval is required")
            elif interval is None:
                errors.append("schedule.interval must be a whole number greater than 0")
            unit = schedule.get("interval_unit")
            if not unit:
                errors.append("schedule.interval_unit is required")
            elif unit not in SCHEDULE_UNITS:
                errors.append("schedule.interval_unit must be one of day, week, month")
            if schedule.get("max_interval") is not None:
                max_interval = _positive(schedule.get("max_interval"))
                if max_interval is None:
                    errors.append("schedule.max_interval must be a whole number greater than 0")
            if schedule.get("start_time"):
                try:
                    start = wire.parse_wib(str(schedule["start_time"]))
                except ValueError:
                    errors.append("schedule.start_time must be YYYY-MM-DD HH:MM:SS +0700")
        account_id = None
        if payment_type == "gopay":
            account_id = self._gopay_account(body, fields.get("token"), errors)
        if errors:
            raise invalid(errors)
        assert interval is not None
        assert isinstance(unit, str)
        return Subscription(
            id=str(uuid.uuid4()),
            name=fields["name"],
            amount=fields["amount"],
            currency=fields["currency"],
            payment_type=str(payment_type),
            token=fields["token"],
            created_at=now,
            interval=interval,
            interval_unit=unit,
            max_interval=max_interval,
            start_time=start,
            next_execution_at=max(start, now),
            account_id=account_id,
            metadata=fields.get("metadata", {}),
            customer_details=fields.get("customer_details", {}),
            retry_schedule=fields.get("retry_schedule"),
        )

    def get(self, id_: str) -> dict[str, Any]:
        return self.subscription_json(self._get(id_))

    def update(self, id_: str, body: Any) -> dict[str, Any]:
        subscription = self._get(id_)
        if not isinstance(body, dict):
            raise invalid(["body must be a JSON object"])
        errors: list[str] = []
        fields = self._fields(body, errors, partial=True)
        schedule = body.get("schedule")
        interval = None
        if schedule is not None:
            if not isinstance(schedule, dict):
                errors.append("schedule must be an object")
            elif schedule.get("interval") is not None:
                interval = _positive(schedule.get("interval"))
                if interval is None:
                    errors.append("schedule.interval must be a whole number greater than 0")
        if subscription.payment_type == "gopay" and "token" in fields:
            self._gopay_account(
                {"gopay": body.get("gopay") or {"account_id": subscription.account_id}},
                fields["token"],
                errors,
            )
        if errors:
            raise invalid(errors)
        for name, value in fields.items():
            setattr(subscription, name, value)
        if interval is not None:
            subscription.interval = interval
        self.store.save_subscription(subscription)
        return dict(UPDATED)

    def set_enabled(self, id_: str, enabled: bool) -> dict[str, Any]:
        subscription = self._get(id_)
        if enabled and subscription.status != "active":
            subscription.status = "active"
            subscription.retry_at = None  # a retry due while disabled is not made up for
            if subscription.next_execution_at is not None:
                # Missed executions are skipped: the next one is the first still to come.
                now = self.clock.timestamp()
                while subscription.next_execution_at < now:
                    subscription.next_execution_at = add_interval(
                        subscription.next_execution_at,
                        subscription.interval,
                        subscription.interval_unit,
                    )
            self._wake()
        elif not enabled:
            subscription.status = "inactive"
        self.store.save_subscription(subscription)
        return dict(UPDATED)

    # -- the schedule ----------------------------------------------------------------------------

    def run_due(self) -> float | None:
        """Charge every active subscription whose time has come (each missed execution in turn,
        when the clock jumps), and retry failed ones; the sandbox time of the next, if any."""
        now = self.clock.timestamp()
        upcoming: float | None = None
        for subscription in list(self.store.subscriptions.values()):
            # A clock moved on by years would make thousands of charges: a bounded batch per
            # pass, and the next pass (due at once) goes on, so the event loop stays free.
            for _ in range(CATCH_UP_BATCH):
                due = self._due(subscription)
                if due is None or due > now:
                    break
                self._run(subscription)
            due = self._due(subscription)
            if due is not None:
                upcoming = due if upcoming is None else min(upcoming, due)
        return upcoming

    @staticmethod
    def _due(subscription: Subscription) -> float | None:
        if subscription.status != "active":
            return None
        times = [
            t for t in (subscription.retry_at, subscription.next_execution_at) if t is not None
        ]
        return min(times) if times else None

    def _run(self, subscription: Subscription) -> None:
        """The next due event: a retry of the failed execution, or the next execution."""
        retry = subscription.retry_at
        scheduled = subscription.next_execution_at
        if retry is not None and (scheduled is None or retry <= scheduled):
            at = retry
            subscription.retry_at = None
        else:
            assert scheduled is not None
            at = scheduled
            subscription.current_interval += 1
            subscription.previous_execution_at = at
            subscription.retry_at = None  # a new execution replaces an unfinished retry
            subscription.retries = 0
            last = bool(subscription.max_interval) and (
                subscription.current_interval >= (subscription.max_interval or 0)
            )
            subscription.next_execution_at = (
                None
                if last
                else add_interval(at, subscription.interval, subscription.interval_unit)
            )
        if not self._charge(subscription):
            retry_schedule = subscription.retry_schedule or {}
            allowed = int(retry_schedule.get("max_interval", 0) or 0)
            if subscription.retries < allowed:
                subscription.retries += 1
                subscription.retry_at = add_interval(
                    at,
                    int(retry_schedule.get("interval") or 1),
                    str(retry_schedule.get("interval_unit") or "day"),
                )
            elif allowed:
                subscription.status = "inactive"  # "will end after maximum interval is reached"
        if subscription.next_execution_at is None and subscription.retry_at is None:
            subscription.status = "inactive"
        self.store.save_subscription(subscription)

    def _charge(self, subscription: Subscription) -> bool:
        """One Core charge of the subscription; whether it was paid."""
        body: dict[str, Any] = {
            "payment_type": subscription.payment_type,
            "transaction_details": {
                "order_id": self._order_id(subscription),
                "gross_amount": subscription.amount,
            },
            "customer_details": subscription.customer_details,
        }
        if subscription.payment_type == "credit_card":
            body["credit_card"] = {"token_id": subscription.token}
        else:
            body["gopay"] = {
                "account_id": subscription.account_id,
                "payment_option_token": subscription.token,
            }
        # Its notifications go to the dashboard's Recurring Notification URL, when one is set.
        recurring_url = self.store.config.get("recurring_notification_url")
        headers = {"x-override-notification": recurring_url} if recurring_url else {}
        # No HTTP request behind a scheduled charge: it has no URLs of its own to give (a saved
        # card is charged without 3-D Secure, a linked GoPay account without a QR).
        answer = self.gateway.charge(body, headers, Urls(api="", simulator=""))
        transaction_id = answer.body.get("transaction_id")
        if not transaction_id:
            return False
        subscription.transaction_ids.append(str(transaction_id))
        return answer.body.get("transaction_status") in SUCCESS

    def _order_id(self, subscription: Subscription) -> str:
        """`SUBS-<name>-<unique number>`: 32 digits where the order_id's 50 characters allow."""
        prefix = f"SUBS-{subscription.name}-"
        while True:
            digits = "".join(secrets.choice("0123456789") for _ in range(32))
            order_id = (prefix + digits)[:ORDER_ID_MAX]
            if order_id not in self.store.by_order:
                return order_id

    # -- views and checks ------------------------------------------------------------------------

    def subscription_json(self, subscription: Subscription) -> dict[str, Any]:
        schedule: dict[str, Any] = {
            "interval": subscription.interval,
            "current_interval": subscription.current_interval,
            "max_interval": subscription.max_interval,
            "interval_unit": subscription.interval_unit,
            "start_time": wire.wib(subscription.start_time),
        }
        if subscription.previous_execution_at is not None:
            schedule["previous_execution_at"] = wire.wib(subscription.previous_execution_at)
        if subscription.next_execution_at is not None:
            schedule["next_execution_at"] = wire.wib(subscription.next_execution_at)
        body: dict[str, Any] = {
            "id": subscription.id,
            "name": subscription.name,
            "amount": str(subscription.amount),
            "currency": subscription.currency,
            "created_at": wire.wib(subscription.created_at),
            "schedule": {k: v for k, v in schedule.items() if v is not None},
            "status": subscription.status,
            "token": subscription.token,
            "payment_type": subscription.payment_type,
            "transaction_ids": list(subscription.transaction_ids),
            "metadata": subscription.metadata,
            "customer_details": subscription.customer_details,
        }
        if subscription.account_id:
            body["gopay"] = {"account_id": subscription.account_id}
        if subscription.retry_schedule:
            body["retry_schedule"] = subscription.retry_schedule
        return body

    def _get(self, id_: str) -> Subscription:
        subscription = self.store.subscriptions.get(id_)
        if subscription is None:
            raise not_found()
        return subscription

    def _fields(self, body: dict[str, Any], errors: list[str], *, partial: bool) -> dict[str, Any]:
        """name, amount, currency, token, metadata, customer_details, retry_schedule: checked, and
        those present returned (all but the optional ones are required unless `partial`)."""
        fields: dict[str, Any] = {}
        if "name" in body or not partial:
            name = body.get("name")
            if not name or not isinstance(name, str):
                errors.append("name is required")
            elif len(name) > NAME_MAX:
                errors.append(f"name must not be longer than {NAME_MAX} characters")
            elif not NAME_SYMBOLS.match(name):
                errors.append("name may only contain letters, digits and - _ ~ .")
            else:
                fields["name"] = name
        if "amount" in body or not partial:
            raw = body.get("amount")
            amount = _positive(raw)
            if raw is None or raw == "":
                errors.append("amount is required")
            elif amount is None:
                errors.append("amount must be a whole number greater than 0")
            else:
                fields["amount"] = amount
        if "currency" in body or not partial:
            if not body.get("currency"):
                errors.append("currency is required")
            elif body["currency"] != "IDR":
                errors.append("currency must be IDR")
            else:
                fields["currency"] = "IDR"
        if "token" in body or not partial:
            token = body.get("token")
            if not token or not isinstance(token, str):
                errors.append("token is required")
            else:
                fields["token"] = token
        for name in ("metadata", "customer_details"):
            if body.get(name) is not None:
                if not isinstance(body[name], dict):
                    errors.append(f"{name} must be an object")
                else:
                    fields[name] = body[name]
        if body.get("retry_schedule") is not None:
            retry = self._retry_schedule(body["retry_schedule"], errors)
            if retry is not None:
                fields["retry_schedule"] = retry
        return fields

    @staticmethod
    def _retry_schedule(spec: Any, errors: list[str]) -> dict[str, Any] | None:
        """{interval, interval_unit minute/hour/day, max_interval 0-3}: every field optional."""
        if not isinstance(spec, dict):
            errors.append("retry_schedule must be an object")
            return None
        before = len(errors)
        interval = _positive(spec.get("interval", 1))
        if interval is None:
            errors.append("retry_schedule.interval must be a whole number greater than 0")
        unit = spec.get("interval_unit", "day")
        if unit not in RETRY_UNITS:
            errors.append("retry_schedule.interval_unit must be one of minute, hour, day")
        retries = validate.amount(spec.get("max_interval", MAX_RETRIES))
        if retries is None or not 0 <= retries <= MAX_RETRIES:
            errors.append(f"retry_schedule.max_interval must be from 0 to {MAX_RETRIES}")
        if len(errors) > before:
            return None
        return {"interval": interval, "interval_unit": unit, "max_interval": retries}

    def _gopay_account(self, body: dict[str, Any], token: Any, errors: list[str]) -> str | None:
        """A GoPay subscription charges a linked account (accounts.py): it must be ENABLED and the
        token one of its payment options'."""
        options = body.get("gopay")
        account_id = options.get("account_id") if isinstance(options, dict) else None
        if not account_id:
            errors.append("gopay.account_id is required")
            return None
        account = self.store.accounts.get(str(account_id))
        if account is None:
            errors.append("gopay.account_id does not exist")
        elif account.account_status != "ENABLED":
            errors.append(f"gopay.account_id is {account.account_status}, not ENABLED")
        elif token and token not in account.tokens.values():
            errors.append("token is not a payment option token of gopay.account_id")
        return str(account_id)
