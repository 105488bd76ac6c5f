"""Subscriptions and GoPay tokenization, driven through the official Python SDK as a merchant would:
link a GoPay account, approve it on the activation page, charge it, subscribe a saved card or the
linked account and watch the schedule charge on the sandbox clock."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import midtransclient
import pytest

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY
from bayar.sandbox.model import PayAccount, Subscription
from bayar.sandbox.store import SandboxStore
from bayar.sandbox.subscriptions import add_interval
from bayar.sandbox.wire import WIB, parse_wib, wib

if TYPE_CHECKING:
    from tests.sandbox.conftest import Receiver

DAY = 86400


@pytest.fixture
def core(api_base: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = midtransclient.CoreApi(
        is_production=False, server_key=SERVER_KEY, client_key=CLIENT_KEY
    )
    # Per-instance base URL (reference 1.7, option 2): the SDK has no setting for it.
    client.api_config.CORE_SANDBOX_BASE_URL = api_base
    return client


def _api_error(call: Callable[[], Any]) -> midtransclient.MidtransAPIError:
    with pytest.raises(midtransclient.MidtransAPIError) as caught:
        call()
    return caught.value


def _advance(sandbox_url: str, seconds: float) -> None:
    httpx.post(f"{sandbox_url}/_control/clock", json={"advance": seconds}).raise_for_status()


def _eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """The sandbox's scheduler runs in the server: poll (bounded) until `check` gives a value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def _scheduler_ran(core: Any) -> None:
    """Wait until the scheduler has run since the last clock change, so that "nothing was charged"
    means something: a probe subscription due at once has executed, and the pass that executed it
    read the clock after the probe was created and charged every other due subscription too."""
    probe = core.create_subscription(_subscription("probe-token"))["id"]
    assert _eventually(lambda: core.get_subscription(probe)["schedule"]["current_interval"] == 1)


def _saved_card(core: Any, number: str = "4411111111111118") -> str:
    token = core.card_token(
        {
            "card_number": number,
            "card_exp_month": "12",
            "card_exp_year": "2035",
            "card_cvv": "123",
            "client_key": CLIENT_KEY,
        }
    )["token_id"]
    first = core.charge(
        {
            "payment_type": "credit_card",
            "transaction_details": {"order_id": f"first-{uuid.uuid4().hex[:8]}", "gross_amount": 1},
            "credit_card": {"token_id": token, "save_token_id": True},
        }
    )
    assert first["transaction_status"] == "capture"
    saved: str = first["saved_token_id"]
    return saved


def _subscription(token: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "MONTHLY_2026",
        "amount": "14000",
        "currency": "IDR",
        "payment_type": "credit_card",
        "token": token,
        "schedule": {"interval": 1, "interval_unit": "day", "max_interval": 2},
        "metadata": {"description": "Recurring payment for A"},
        "customer_details": {"first_name": "Budi", "email": "budi@example.com"},
        **extra,
    }


def _link(core: Any, phone: str = "81212345678") -> dict[str, Any]:
    answer: dict[str, Any] = core.link_payment_account(
        {
            "payment_type": "gopay",
            "gopay_partner": {
                "phone_number": phone,
                "country_code": "62",
                "redirect_url": "https://merchant.example/linked",
            },
        }
    )
    return answer


def _approve(link_answer: dict[str, Any]) -> httpx.Response:
    """The customer opens the activation link and approves, as in the GoPay app."""
    url = {a["name"]: a["url"] for a in link_answer["actions"]}["activation-link-url"]
    return httpx.post(url)


def _linked_account(core: Any) -> tuple[str, str]:
    linked = _link(core)
    assert _approve(linked).status_code == 303
    account = core.get_payment_account(linked["account_id"])
    token = {o["name"]: o["token"] for o in account["metadata"]["payment_options"]}
    return linked["account_id"], token["GOPAY_WALLET"]


def _bodies(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.wait_for(count)]


# -- subscriptions -------------------------------------------------------------------------------


def test_card_subscription_charges_the_saved_token_each_interval(
    core: Any, sandbox_url: str, receiver: Receiver
) -> None:
    token = _saved_card(core)
    created = core.create_subscription(_subscription(token))
    assert created["status"] == "active"
    assert created["name"] == "MONTHLY_2026"
    assert created["amount"] == "14000"
    assert created["token"] == token
    assert created["schedule"]["interval_unit"] == "day"
    assert created["schedule"]["max_interval"] == 2
    assert created["schedule"]["current_interval"] == 0
    assert "next_execution_at" in created["schedule"]
    uuid.UUID(created["id"])
    sid = created["id"]

    # No start_time: the first charge is due at once.
    first = _eventually(lambda: core.get_subscription(sid)["transaction_ids"])
    assert len(first) == 1
    status = core.transactions.status(first[0])
    assert status["transaction_status"] == "capture"
    assert status["gross_amount"] == "14000.00"
    # SUBS-, the subscription's name, a unique number: at most the 50 characters of an order_id.
    assert status["order_id"].startswith("SUBS-MONTHLY_2026-")
    assert len(status["order_id"]) == 50
    assert status["order_id"][len("SUBS-MONTHLY_2026-") :].isdigit()

    _advance(sandbox_url, DAY)
    after = _eventually(lambda: len(core.get_subscription(sid)["transaction_ids"]) == 2)
    assert after
    done = core.get_subscription(sid)
    assert done["schedule"]["current_interval"] == 2
    assert done["status"] == "inactive"  # max_interval reached
    assert "next_execution_at" not in done["schedule"]

    # Each execution is a transaction notified like any other, signed as Midtrans signs.
    notified = [
        b for b in _bodies(receiver, 3) if b.get("transaction_id") in done["transaction_ids"]
    ]
    assert sorted(b["transaction_id"] for b in notified) == sorted(done["transaction_ids"])
    for body in notified:
        text = f"{body['order_id']}{body['status_code']}{body['gross_amount']}{SERVER_KEY}"
        assert body["signature_key"] == hashlib.sha512(text.encode()).hexdigest()


def test_subscription_waits_for_its_start_time(core: Any, sandbox_url: str) -> None:
    now = httpx.get(f"{sandbox_url}/_control/clock").json()["now"]
    start = (datetime.fromisoformat(now) + timedelta(days=2)).astimezone(WIB)
    body = _subscription(_saved_card(core))
    body["schedule"]["start_time"] = start.strftime("%Y-%m-%d %H:%M:%S +0700")
    sid = core.create_subscription(body)["id"]
    _advance(sandbox_url, DAY)
    _scheduler_ran(core)
    assert core.get_subscription(sid)["transaction_ids"] == []
    _advance(sandbox_url, DAY + 1)
    assert _eventually(lambda: core.get_subscription(sid)["transaction_ids"])


def test_disable_stops_the_schedule_and_enable_resumes_it(core: Any, sandbox_url: str) -> None:
    sid = core.create_subscription(
        _subscription(_saved_card(core), schedule={"interval": 1, "interval_unit": "week"})
    )["id"]
    assert _eventually(lambda: core.get_subscription(sid)["transaction_ids"])

    assert core.disable_subscription(sid) == {"status_message": "Subscription is updated."}
    assert core.get_subscription(sid)["status"] == "inactive"
    _advance(sandbox_url, 7 * DAY)
    _scheduler_ran(core)
    assert len(core.get_subscription(sid)["transaction_ids"]) == 1

    assert core.enable_subscription(sid) == {"status_message": "Subscription is updated."}
    assert core.get_subscription(sid)["status"] == "active"
    _advance(sandbox_url, 7 * DAY)
    assert _eventually(lambda: len(core.get_subscription(sid)["transaction_ids"]) == 2)


def test_update_changes_the_next_charge(core: Any, sandbox_url: str) -> None:
    sid = core.create_subscription(
        _subscription(_saved_card(core), schedule={"interval": 1, "interval_unit": "month"})
    )["id"]
    assert _eventually(lambda: core.get_subscription(sid)["transaction_ids"])
    answer = core.update_subscription(
        sid, {"name": "MONTHLY_BIGGER", "amount": "300000", "schedule": {"interval": 2}}
    )
    assert answer == {"status_message": "Subscription is updated."}
    got = core.get_subscription(sid)
    assert (got["name"], got["amount"], got["schedule"]["interval"]) == (
        "MONTHLY_BIGGER",
        "300000",
        2,
    )
    _advance(sandbox_url, 31 * DAY)
    ids = _eventually(lambda: core.get_subscription(sid)["transaction_ids"][1:])
    assert core.transactions.status(ids[0])["gross_amount"] == "300000.00"


def test_subscription_validation_errors_are_400_with_validation_messages(core: Any) -> None:
    error = _api_error(lambda: core.create_subscription({}))
    assert error.http_status_code == 400
    assert error.api_response_dict["status_message"] == "Invalid parameter."
    messages = error.api_response_dict["validation_messages"]
    for expected in (
        "subscription.name is required",
        "subscription.amount is required",
        "subscription.currency is required",
        "subscription.token is required",
        "subscription.payment_type is required",
        "subscription.schedule is required",
    ):
        assert expected in messages

    bad = _subscription(
        "tok",
        name="N" * 41,
        amount="100.50",
        currency="USD",
        payment_type="ovo",
        schedule={"interval": 0, "interval_unit": "year"},
    )
    messages = _api_error(lambda: core.create_subscription(bad)).api_response_dict[
        "validation_messages"
    ]
    assert messages == [
        "subscription.name must not be longer than 40 characters",
        "subscription.amount must be a whole number greater than 0",
        "subscription.currency must be IDR",
        "subscription.payment_type must be one of credit_card, gopay",
        "subscription.schedule.interval must be a whole number greater than 0",
        "subscription.schedule.interval_unit must be one of day, week, month",
    ]
    bad = _subscription(
        "tok",
        name="MONTHLY 2026",
        retry_schedule={"interval": 1, "interval_unit": "week", "max_interval": 4},
    )
    messages = _api_error(lambda: core.create_subscription(bad)).api_response_dict[
        "validation_messages"
    ]
    assert messages == [
        "subscription.name may only contain letters, digits and - _ ~ .",
        "subscription.retry_schedule.interval_unit must be one of minute, hour, day",
        "subscription.retry_schedule.max_interval must be from 0 to 3",
    ]
    sid = core.create_subscription(_subscription("tok"))["id"]
    error = _api_error(lambda: core.update_subscription(sid, {"amount": "-5"}))
    assert error.http_status_code == 400
    assert error.api_response_dict["validation_messages"] == [
        "subscription.amount must be a whole number greater than 0"
    ]


def test_unknown_subscription_is_404_for_every_call(core: Any) -> None:
    for call in (
        lambda: core.get_subscription("dummy"),
        lambda: core.enable_subscription("dummy"),
        lambda: core.disable_subscription("dummy"),
        lambda: core.update_subscription("dummy", {}),
    ):
        error = _api_error(call)
        assert error.http_status_code == 404
        assert "Subscription doesn't exist." in error.message


def test_a_subscription_with_a_token_that_is_not_saved_is_created_but_charges_nothing(
    core: Any, sandbox_url: str
) -> None:
    # The official SDKs' own tests subscribe a made-up token and expect "active".
    sid = core.create_subscription(_subscription("481111DasKBLCCXbuKfEbVlFiBZr1114"))["id"]
    assert _eventually(lambda: core.get_subscription(sid)["schedule"]["current_interval"] == 1)
    assert core.get_subscription(sid)["transaction_ids"] == []


def test_idempotency_key_replays_the_created_subscription_for_3_minutes(
    core: Any, sandbox_url: str
) -> None:
    core.api_config.custom_headers = {"Idempotency-Key": f"sub-{uuid.uuid4()}"}
    # The body is checked before the key: a bad one is refused, and stored nowhere.
    assert _api_error(lambda: core.create_subscription({})).http_status_code == 400
    first = core.create_subscription(_subscription("tok"))
    _advance(sandbox_url, 170)
    assert core.create_subscription(_subscription("tok"))["id"] == first["id"]
    _advance(sandbox_url, 20)
    assert core.create_subscription(_subscription("tok"))["id"] != first["id"]


# -- GoPay tokenization ---------------------------------------------------------------------------


def test_gopay_linking_approve_charge_and_unlink(
    core: Any, sandbox_url: str, receiver: Receiver
) -> None:
    linked = _link(core)
    assert linked["status_code"] == "201"
    assert linked["payment_type"] == "gopay"
    assert linked["account_status"] == "PENDING"
    names = {a["name"] for a in linked["actions"]}
    assert {"activation-link-url", "activation-link-app"} <= names
    assert all(a["url"].startswith(sandbox_url) for a in linked["actions"])
    account_id = linked["account_id"]

    pending = core.get_payment_account(account_id)
    assert (pending["status_code"], pending["account_status"]) == ("201", "PENDING")
    error = _api_error(lambda: core.unlink_payment_account(account_id))
    assert error.api_response_dict["status_code"] == "412"
    assert error.api_response_dict["status_message"] == "Account status cannot be updated."

    page = httpx.get({a["name"]: a["url"] for a in linked["actions"]}["activation-link-url"])
    assert page.status_code == 200
    assert "81212345678" in page.text
    approved = _approve(linked)
    assert approved.status_code == 303
    assert approved.headers["location"] == "https://merchant.example/linked"

    enabled = core.get_payment_account(account_id)
    assert (enabled["status_code"], enabled["account_status"]) == ("200", "ENABLED")
    options = {o["name"]: o for o in enabled["metadata"]["payment_options"]}
    assert set(options) == {"GOPAY_WALLET", "PAY_LATER"}
    assert options["GOPAY_WALLET"]["active"] is True
    assert options["GOPAY_WALLET"]["balance"]["currency"] == "IDR"

    # The account's notification, signed with the pay-account formula.
    [note] = _bodies(receiver, 1)
    assert (note["account_id"], note["account_status"], note["status_code"]) == (
        account_id,
        "ENABLED",
        "200",
    )
    assert note["status_message"] == "Midtrans account_linked notification"
    assert note["merchant_id"]
    text = f"{account_id}ENABLED200{SERVER_KEY}"
    assert note["signature_key"] == hashlib.sha512(text.encode()).hexdigest()

    order_id = f"gopaylink-{uuid.uuid4().hex[:8]}"
    charge = core.charge(
        {
            "payment_type": "gopay",
            "transaction_details": {"order_id": order_id, "gross_amount": 10000},
            "gopay": {
                "account_id": account_id,
                "payment_option_token": options["GOPAY_WALLET"]["token"],
                "callback_url": "https://merchant.example/done",
            },
        }
    )
    assert charge["status_code"] == "200"
    assert charge["transaction_status"] == "settlement"
    assert charge["status_message"] == "Success, GoPay transaction is successful"
    assert "actions" not in charge
    assert core.transactions.status(order_id)["payment_option_type"] == "GOPAY_WALLET"

    unlinked = core.unlink_payment_account(account_id)
    assert (unlinked["status_code"], unlinked["account_status"]) == ("204", "DISABLED")
    notes = _bodies(receiver, 4)
    disabled = [n for n in notes if n.get("account_status") == "DISABLED"]
    assert disabled
    assert disabled[0]["status_message"] == "Midtrans account_unlinked notification"
    text = f"{account_id}DISABLED200{SERVER_KEY}"
    assert disabled[0]["signature_key"] == hashlib.sha512(text.encode()).hexdigest()

    error = _api_error(
        lambda: core.charge(
            {
                "payment_type": "gopay",
                "transaction_details": {"order_id": f"{order_id}-2", "gross_amount": 10000},
                "gopay": {
                    "account_id": account_id,
                    "payment_option_token": options["GOPAY_WALLET"]["token"],
                },
            }
        )
    )
    assert error.api_response_dict["status_code"] == "412"


def test_sandbox_phone_numbers_user_not_found_and_blocked(core: Any) -> None:
    not_found = _link(core, "123450001")  # body 202: the SDK returns it
    assert not_found == {
        "status_code": "202",
        "payment_type": "gopay",
        "channel_response_code": "105",
        "channel_response_message": "User Not Found",
    }
    assert "account_id" not in not_found
    blocked = _api_error(lambda: _link(core, "123450002"))
    assert blocked.api_response_dict["status_code"] == "410"


def test_link_validation_and_unknown_accounts(core: Any) -> None:
    error = _api_error(lambda: core.link_payment_account({"payment_type": "gopay"}))
    assert error.http_status_code == 400
    assert error.api_response_dict["validation_messages"] == ["gopay_partner is required"]
    error = _api_error(lambda: _link(core, "0812"))
    assert "gopay_partner.phone_number" in error.api_response_dict["validation_messages"][0]
    for call in (
        lambda: core.get_payment_account("dummy"),
        lambda: core.unlink_payment_account("dummy"),
    ):
        assert _api_error(call).api_response_dict["status_code"] == "404"


def test_gopay_subscription_charges_the_linked_account(core: Any, sandbox_url: str) -> None:
    account_id, token = _linked_account(core)
    created = core.create_subscription(
        _subscription(token, payment_type="gopay", gopay={"account_id": account_id})
    )
    assert created["gopay"] == {"account_id": account_id}
    ids = _eventually(lambda: core.get_subscription(created["id"])["transaction_ids"])
    status = core.transactions.status(ids[0])
    assert status["payment_type"] == "gopay"
    assert status["transaction_status"] == "settlement"


def test_gopay_subscription_needs_an_enabled_account_and_its_token(core: Any) -> None:
    pending = _link(core, "81299990000")["account_id"]
    error = _api_error(
        lambda: core.create_subscription(
            _subscription("tok", payment_type="gopay", gopay={"account_id": pending})
        )
    )
    assert error.api_response_dict["validation_messages"] == [
        "subscription.gopay.account_id is PENDING, not ENABLED"
    ]
    account_id, _ = _linked_account(core)
    error = _api_error(
        lambda: core.create_subscription(
            _subscription("not-its-token", payment_type="gopay", gopay={"account_id": account_id})
        )
    )
    assert error.api_response_dict["validation_messages"] == [
        "subscription.token is not a payment option token of gopay.account_id"
    ]
    error = _api_error(lambda: core.create_subscription(_subscription("t", payment_type="gopay")))
    assert error.api_response_dict["validation_messages"] == [
        "subscription.gopay.account_id is required"
    ]


# -- the simulator and the store -----------------------------------------------------------------


def test_simulator_lists_subscriptions_and_accounts(core: Any, sandbox_url: str) -> None:
    account_id, token = _linked_account(core)
    sid = core.create_subscription(
        _subscription(
            token, name="KOPI_HARIAN", payment_type="gopay", gopay={"account_id": account_id}
        )
    )["id"]
    page = httpx.get(f"{sandbox_url}/subscriptions")
    assert page.status_code == 200
    assert f'data-subscription-id="{sid}"' in page.text
    assert "KOPI_HARIAN" in page.text
    assert "Rp 14.000" in page.text
    assert f'data-account-id="{account_id}"' in page.text
    assert 'href="/sandbox/subscriptions"' in httpx.get(f"{sandbox_url}/").text


def test_accounts_and_subscriptions_survive_a_restart(tmp_path: Any) -> None:
    path = str(tmp_path / "sandbox.db")
    store = SandboxStore(path)
    store.save_account(
        PayAccount(
            account_id="a1",
            phone_number="81212345678",
            country_code="62",
            created_at=1.0,
            account_status="ENABLED",
            tokens={"GOPAY_WALLET": "t1"},
        )
    )
    store.save_subscription(
        Subscription(
            id="s1",
            name="n",
            amount=1000,
            currency="IDR",
            payment_type="gopay",
            token="t1",
            created_at=1.0,
            interval=1,
            interval_unit="day",
            start_time=1.0,
            next_execution_at=2.0,
            account_id="a1",
            transaction_ids=["x"],
        )
    )
    store.close()
    again = SandboxStore(path)
    try:
        assert again.accounts["a1"].tokens == {"GOPAY_WALLET": "t1"}
        assert again.subscriptions["s1"].transaction_ids == ["x"]
        again.reset()
        assert not again.accounts
        assert not again.subscriptions
    finally:
        again.close()


def test_linking_a_phone_already_linked_answers_its_enabled_account(core: Any) -> None:
    account_id, token = _linked_account(core)
    again = _link(core)
    assert (again["status_code"], again["account_status"]) == ("200", "ENABLED")
    assert again["account_id"] == account_id
    assert token in {o["token"] for o in again["metadata"]["payment_options"]}


def test_activation_page_refuses_an_unknown_or_already_approved_link(
    core: Any, sandbox_url: str
) -> None:
    assert httpx.get(f"{sandbox_url}/gopay/partner/nope").status_code == 404
    linked = _link(core)
    assert _approve(linked).status_code == 303
    again = _approve(linked)
    assert again.status_code == 409
    assert "already ENABLED" in again.text


def test_the_new_endpoints_need_the_server_key(api_base: str) -> None:
    for method, path in (
        ("POST", "/v1/subscriptions"),
        ("GET", "/v1/subscriptions/x"),
        ("POST", "/v2/pay/account"),
        ("GET", "/v2/pay/account/x"),
    ):
        answer = httpx.request(method, f"{api_base}{path}", auth=("SB-Mid-server-wrong", ""))
        assert answer.status_code == 401
        assert answer.json()["status_code"] == "401"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-01-31 09:00:00", 1, "2026-02-28 09:00:00"),
        ("2028-01-31 09:00:00", 1, "2028-02-29 09:00:00"),
        ("2026-11-15 23:30:00", 3, "2027-02-15 23:30:00"),
    ],
)
def test_monthly_schedules_step_calendar_months_in_wib(
    start: str, months: int, expected: str
) -> None:
    assert wib(add_interval(parse_wib(start), months, "month")) == expected


@pytest.fixture
def dashboard_urls(sandbox_url: str, receiver: Receiver) -> Iterator[None]:
    """The dashboard's Recurring and Pay Account Notification URLs, unset again afterwards (a
    reset keeps the sandbox's configuration)."""
    answer = httpx.put(
        f"{sandbox_url}/_control/config",
        json={
            "recurring_notification_url": f"{receiver.url}/recurring",
            "pay_account_notification_url": f"{receiver.url}/accounts",
        },
    )
    answer.raise_for_status()
    try:
        yield
    finally:
        httpx.put(
            f"{sandbox_url}/_control/config",
            json={"recurring_notification_url": None, "pay_account_notification_url": None},
        ).raise_for_status()


def test_recurring_and_pay_account_notification_urls(
    core: Any, sandbox_url: str, receiver: Receiver, dashboard_urls: None
) -> None:
    config = httpx.get(f"{sandbox_url}/_control/config").json()
    assert config["notification_url"] == f"{receiver.url}/hook"  # setting the others kept it
    assert config["recurring_notification_url"] == f"{receiver.url}/recurring"

    account_id, token = _linked_account(core)
    [enabled] = receiver.wait_for(1, path="/accounts")
    assert json.loads(enabled.body)["account_status"] == "ENABLED"

    sid = core.create_subscription(
        _subscription(token, payment_type="gopay", gopay={"account_id": account_id})
    )["id"]
    [charged] = receiver.wait_for(1, path="/recurring")
    assert (
        json.loads(charged.body)["transaction_id"] in core.get_subscription(sid)["transaction_ids"]
    )
    assert [r.path for r in receiver.received] == ["/accounts", "/recurring"]

    error = httpx.put(f"{sandbox_url}/_control/config", json={"recurring_notification_url": "x"})
    assert error.status_code == 400
