"""GoPay linking in a real browser: the customer opens the activation link, approves, and is sent
back to the merchant; the simulator's subscriptions page shows the account and a subscription."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

AUTH = (SERVER_KEY, "")

pytestmark = pytest.mark.browser


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(url, json=body, auth=AUTH)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def test_customer_links_gopay_and_the_simulator_lists_it(
    browser: Browser, api_base: str, sandbox_url: str, problems: list[str]
) -> None:
    # The merchant's finish page is the simulator's own list, so the browser never leaves loopback.
    linked = _post(
        f"{api_base}/v2/pay/account",
        {
            "payment_type": "gopay",
            "gopay_partner": {
                "phone_number": "81234567890",
                "country_code": "62",
                "redirect_url": f"{sandbox_url}/subscriptions",
            },
        },
    )
    link = {a["name"]: a["url"] for a in linked["actions"]}["activation-link-url"]

    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.goto(link)
    expect(page.get_by_test_id("phone")).to_have_text("+62 81234567890")
    expect(page.get_by_test_id("account-status")).to_have_text("PENDING")
    page.get_by_role("button", name="Link and allow payments").click()

    expect(page).to_have_url(f"{sandbox_url}/subscriptions")
    row = page.locator(f"tr[data-account-id='{linked['account_id']}']")
    expect(row).to_contain_text("ENABLED")

    account = httpx.get(f"{api_base}/v2/pay/account/{linked['account_id']}", auth=AUTH).json()
    token = account["metadata"]["payment_options"][0]["token"]
    created = _post(
        f"{api_base}/v1/subscriptions",
        {
            "name": "KOPI_MINGGUAN",
            "amount": "25000",
            "currency": "IDR",
            "payment_type": "gopay",
            "token": token,
            "schedule": {"interval": 1, "interval_unit": "week", "max_interval": 4},
            "gopay": {"account_id": linked["account_id"]},
        },
    )
    page.reload()
    subscription = page.locator(f"tr[data-subscription-id='{created['id']}']")
    expect(subscription).to_contain_text("KOPI_MINGGUAN")
    expect(subscription).to_contain_text("Rp 25.000")
    expect(subscription).to_contain_text("1 week")
    expect(page.get_by_role("link", name="Subscriptions")).to_have_attribute("aria-current", "page")
    assert problems == []
