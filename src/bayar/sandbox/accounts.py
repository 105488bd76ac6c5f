"""GoPay tokenization (`/v2/pay/account`, reference 3.5): a customer links a GoPay account to the
merchant, approves it on the activation page, and the merchant then charges it with a payment
option's token (`/v2/charge` with `gopay.account_id` and `gopay.payment_option_token`), at once and
without the customer, as subscriptions do.

Statuses PENDING, ENABLED, DISABLED. Each change the customer or the merchant makes is notified, to
the Pay Account Notification URL (the control API's `config`; unset, the payment notification URL),
with the account's own signature: SHA512(account_id + account_status + status_code + server key).
The sandbox's special phone numbers: 123450001 (user not found), 123450002 (blocked).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.errors import ControlError, core_error, invalid
from bayar.sandbox.model import PayAccount
from bayar.sandbox.store import SandboxStore

PHONE_NOT_FOUND = "123450001"
PHONE_BLOCKED = "123450002"
PAYMENT_OPTIONS = ("GOPAY_WALLET", "PAY_LATER")
BALANCE = "8000000.00"  # every sandbox wallet has this much
# The body status_code of an account in each status (get, unbind).
STATUS_CODE = {"PENDING": "201", "ENABLED": "200", "DISABLED": "204", "EXPIRED": "202"}
CANNOT_UPDATE = "Account status cannot be updated."
NOT_FOUND = "Account doesn't exist."


def signature(account_id: str, account_status: str, status_code: str, server_key: str) -> str:
    """The pay-account notification's signature_key (reference 3.5, 3.9)."""
    text = f"{account_id}{account_status}{status_code}{server_key}"
    return hashlib.sha512(text.encode()).hexdigest()


def is_tokenized(body: dict[str, Any]) -> bool:
    """A GoPay charge through a linked account rather than a QR or deeplink."""
    options = body.get("gopay")
    return isinstance(options, dict) and (
        "payment_option_token" in options or "account_id" in options
    )


def linked_option(store: SandboxStore, options: dict[str, Any]) -> str:
    """The payment option (GOPAY_WALLET, PAY_LATER) a tokenized GoPay charge pays from; a Midtrans
    error if the account is unknown or not enabled, or the token is not one of its options."""
    account_id = options.get("account_id")
    token = options.get("payment_option_token")
    errors = []
    if not account_id:
        errors.append("gopay.account_id is required")
    if not token:
        errors.append("gopay.payment_option_token is required")
    if errors:
        raise invalid(errors)
    account = store.accounts.get(str(account_id))
    if account is None:
        raise core_error(404, NOT_FOUND)
    if account.account_status != "ENABLED":
        raise core_error(412, f"Account status is {account.account_status}, not ENABLED.")
    for name, option_token in account.tokens.items():
        if option_token == token:
            return name
    raise core_error(411, "Token id is missing, invalid, or timed out")


class PayAccounts:
    def __init__(
        self,
        store: SandboxStore,
        clock: SandboxClock,
        *,
        server_key: str,
        merchant_id: str,
        notify: Callable[[str, str, dict[str, Any], str | None], object],
    ) -> None:
        self.store = store
        self.clock = clock
        self._server_key = server_key
        self.merchant_id = merchant_id
        self._notify = notify  # (account_id, account_status, body, url)

    # -- the API -------------------------------------------------------------------------------

    def link(self, body: Any, simulator_base: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid(["The request body must be a JSON object"])
        errors: list[str] = []
        payment_type = body.get("payment_type")
        if not payment_type:
            errors.append("payment_type is required")
        elif payment_type != "gopay":
            errors.append("payment_type must be gopay")
        partner = body.get("gopay_partner")
        phone = country = ""
        if not isinstance(partner, dict):
            errors.append("gopay_partner is required")
        else:
            phone = str(partner.get("phone_number") or "")
            country = str(partner.get("country_code") or "")
            if not phone:
                errors.append("gopay_partner.phone_number is required")
            elif not phone.isdigit() or phone.startswith("0") or not 9 <= len(phone) <= 12:
                errors.append(
                    "gopay_partner.phone_number must be 9 to 12 digits,"
                    " without the country code and the leading 0"
                )
            if not country:
                errors.append("gopay_partner.country_code is required")
            elif not country.isdigit():
                errors.append("gopay_partner.country_code must be digits")
        if errors:
            raise invalid(errors)
        assert isinstance(partner, dict)
        if phone == PHONE_BLOCKED:
            raise core_error(410, "GoPay user is blocked.", payment_type="gopay")
        if phone == PHONE_NOT_FOUND:
            return {  # as the docs' "Failed" sample
                "status_code": "202",
                "payment_type": "gopay",
                "channel_response_code": "105",
                "channel_response_message": "User Not Found",
            }
        for account in self.store.accounts.values():
            if (account.phone_number, account.country_code, account.account_status) == (
                phone,
                country,
                "ENABLED",
            ):
                return self.account_json(account)  # already linked
        account = PayAccount(
            account_id=str(uuid.uuid4()),
            phone_number=phone,
            country_code=country,
            created_at=self.clock.timestamp(),
            redirect_url=str(partner.get("redirect_url") or ""),
            reference_id=str(uuid.uuid4()),
        )
        self.store.save_account(account)
        page = f"{simulator_base}/gopay/partner/{account.account_id}"
        answer = self.account_json(account)
        answer["actions"] = [
            {"name": "activation-deeplink", "method": "GET", "url": page},
            {"name": "activation-link-url", "method": "GET", "url": page},
            {"name": "activation-link-app", "method": "GET", "url": f"{page}?app=1"},
        ]
        answer["metadata"] = {"reference_id": account.reference_id}
        return answer

    def get(self, account_id: str) -> dict[str, Any]:
        return self.account_json(self._get(account_id))

    def unbind(self, account_id: str) -> dict[str, Any]:
        account = self._get(account_id)
        if account.account_status != "ENABLED":
            raise core_error(412, CANNOT_UPDATE)
        self._change(account, "DISABLED")
        answer = self.account_json(account)
        answer.update(
            channel_response_code="0",
            channel_response_message="Process service request successfully.",
        )
        return answer

    # -- the customer, on the activation page ----------------------------------------------------

    def approve(self, account_id: str) -> PayAccount:
        account = self.store.accounts.get(account_id)
        if account is None:
            raise ControlError(404, NOT_FOUND)
        if account.account_status != "PENDING":
            raise ControlError(409, f"This account is already {account.account_status}.")
        account.tokens = {name: str(uuid.uuid4()) for name in PAYMENT_OPTIONS}
        self._change(account, "ENABLED")
        return account

    # -- views -----------------------------------------------------------------------------------

    def account_json(self, account: PayAccount) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status_code": STATUS_CODE[account.account_status],
            "payment_type": "gopay",
            "account_id": account.account_id,
            "account_status": account.account_status,
        }
        if account.account_status == "ENABLED":
            body["metadata"] = {
                "payment_options": [
                    {
                        "name": name,
                        "active": True,
                        "balance": {"value": BALANCE, "currency": "IDR"},
                        "metadata": {},
                        "token": token,
                    }
                    for name, token in account.tokens.items()
                ]
            }
        return body

    def notification_body(self, account: PayAccount) -> dict[str, Any]:
        """As the docs' Pay Account Link Notification sample: linked, and likewise unlinked."""
        code = "200"
        event = "account_linked" if account.account_status == "ENABLED" else "account_unlinked"
        return {
            "account_id": account.account_id,
            "merchant_id": self.merchant_id,
            "payment_type": "gopay",
            "signature_key": signature(
                account.account_id, account.account_status, code, self._server_key
            ),
            "status_code": code,
            "account_status": account.account_status,
            "status_message": f"Midtrans {event} notification",
        }

    # -- plumbing --------------------------------------------------------------------------------

    def _get(self, account_id: str) -> PayAccount:
        account = self.store.accounts.get(account_id)
        if account is None:
            raise core_error(404, NOT_FOUND)
        return account

    def _change(self, account: PayAccount, status: str) -> None:
        account.account_status = status
        self.store.save_account(account)
        url = self.store.config.get("pay_account_notification_url")  # the dashboard's
        self._notify(account.account_id, status, self.notification_body(account), url)
