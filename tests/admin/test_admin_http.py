"""The admin pages over HTTP: the locks (login, session cookie, CSRF, throttling, the JSON API's
token), and every page's actions against the live app and its sandbox."""

from __future__ import annotations

import contextlib
import html as html_lib
import re
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import factories
import httpx
import pytest
from apps import LiveApp, app_settings
from bayar_admin_testkit import MACHINE, PASSWORD, Bayar, admin_client, csrf_of
from pydantic import SecretStr
from sqlalchemy import select
from words import words

from bayar.admin import queries
from bayar.admin.security import Throttle
from bayar.config import DEMO_XENDIT_SECRET_KEY
from bayar.storage.db import Database
from bayar.storage.models import Notification, Slot

PAGES = ("/admin", "/admin/orders", "/admin/machines", "/admin/products", "/admin/refunds/manual")


def flash(html: str) -> str:
    match = re.search(r'data-testid="flash">([^<]*)<', html)
    assert match is not None, "no flash message on the page"
    return html_lib.unescape(match.group(1))


def post(
    client: httpx.Client, path: str, data: dict[str, str], page: str | None = None
) -> httpx.Response:
    """POST an admin form the way the browser does: with the CSRF token of the page."""
    token = csrf_of(client.get(page or "/admin").text)
    return client.post(path, data={**data, "csrf_token": token})


def follow(client: httpx.Client, answer: httpx.Response) -> httpx.Response:
    assert answer.status_code == 303, answer.text
    return client.get(answer.headers["location"])


# -- the locks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/admin/orders/BYR-20260101-0000000000"])
def test_anonymous_pages_go_to_the_login(anonymous: httpx.Client, path: str) -> None:
    answer = anonymous.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login?next=")
    assert anonymous.get(answer.headers["location"]).status_code == 200


def test_anonymous_posts_are_refused(bayar: Bayar, anonymous: httpx.Client) -> None:
    order_id = bayar.paid_order()
    pending = bayar.create_order()
    for path, data in (
        (f"/admin/orders/{order_id}/refund", {"amount": ""}),
        (f"/admin/orders/{pending}/cancel", {}),
        (f"/admin/machines/{MACHINE}/slots/A1/restock", {"on_hand": "3"}),
        (f"/admin/machines/{MACHINE}/active", {"active": "0"}),
        ("/admin/products/cola", {"price": "1", "on_hand": "1"}),
        (f"/admin/refunds/manual/late-{order_id}/resolve", {}),
        ("/admin/logout", {}),
    ):
        # Even with a token of an anonymous session (the login form's).
        token = csrf_of(anonymous.get("/admin/login").text)
        answer = anonymous.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
    assert bayar.order(order_id)["status"] == "paid"
    assert bayar.order(pending)["status"] == "pending"


def test_the_json_admin_api_wants_its_token(bayar: Bayar) -> None:
    paid = bayar.paid_order()
    pending = bayar.create_order()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {PASSWORD}"}):
        cancel = httpx.post(f"{bayar.url}/api/orders/{pending}/cancel", headers=headers)
        refund = httpx.post(f"{bayar.url}/api/orders/{paid}/refund", json={}, headers=headers)
        assert cancel.status_code == 401
        assert refund.status_code == 401
    # The admin's session cookie is no substitute for the token either.
    with admin_client(bayar) as admin:
        assert admin.post(f"/api/orders/{pending}/cancel").status_code == 401
    assert bayar.order(paid)["status"] == "paid"
    assert bayar.order(pending)["status"] == "pending"


def test_a_wrong_password_is_refused(anonymous: httpx.Client) -> None:
    page = anonymous.get("/admin/login")
    answer = anonymous.post(
        "/admin/login", data={"password": "guess", "csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 401
    assert "Wrong password" in answer.text
    assert 'name="password"' in answer.text
    assert anonymous.get("/admin").status_code == 303


def test_login_session_cookie_and_logout(bayar: Bayar, anonymous: httpx.Client) -> None:
    page = anonymous.get("/admin/login?next=/admin/machines")
    answer = anonymous.post(
        "/admin/login",
        data={"password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/admin/machines"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/machines"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("bayar_admin=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"path=/admin", "httponly", "samesite=lax", "max-age=28800"} <= attributes
    assert PASSWORD not in cookie
    secret = bayar.settings.bayar_var_dir / "session.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert anonymous.get("/admin").status_code == 200

    home = anonymous.get("/admin")
    assert "no-store" in home.headers["cache-control"]
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    out = anonymous.post("/admin/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert anonymous.get("/admin").status_code == 303


def cookie_of(client: httpx.Client) -> dict[str, str]:
    """The admin cookie as a header, to replay it from elsewhere (a copied cookie)."""
    return {"Cookie": f"bayar_admin={client.cookies['bayar_admin']}"}


def test_a_copied_cookie_dies_with_the_logout(bayar: Bayar) -> None:
    with admin_client(bayar) as admin:
        copied = cookie_of(admin)
        with httpx.Client(base_url=bayar.url, headers=copied) as thief:
            assert thief.get("/admin").status_code == 200
            home = admin.get("/admin")
            assert (
                admin.post("/admin/logout", data={"csrf_token": csrf_of(home.text)}).status_code
                == 303
            )
            # The session ended on the server: the copy is worth nothing, GET or POST.
            answer = thief.get("/admin")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/admin/login")
            order_id = bayar.paid_order()
            refund = thief.post(
                f"/admin/orders/{order_id}/refund", data={"csrf_token": csrf_of(home.text)}
            )
            assert refund.status_code == 403
            assert bayar.order(order_id)["status"] == "paid"
    # Logging in again makes a new session; other logins are not touched by one's logout.
    with admin_client(bayar) as one, admin_client(bayar) as two:
        home = one.get("/admin")
        one.post("/admin/logout", data={"csrf_token": csrf_of(home.text)})
        assert two.get("/admin").status_code == 200


def serve_admin(var: Path, password: str, clock: Callable[[], datetime] | None = None) -> LiveApp:
    settings = app_settings(var, bayar_admin_password=SecretStr(password))
    return LiveApp(settings, run_worker=False, seed=False, now=clock, migrate=True)


@contextlib.contextmanager
def log_in_to(url: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=20) as client:
        page = client.get("/admin/login")
        answer = client.post(
            "/admin/login", data={"password": password, "csrf_token": csrf_of(page.text)}
        )
        assert answer.status_code == 303, answer.text
        yield client


def test_a_password_change_ends_every_session(tmp_path: Path) -> None:
    with serve_admin(tmp_path, "old-password") as server:
        with log_in_to(server.url, "old-password") as admin:
            copied = cookie_of(admin)
        assert httpx.get(f"{server.url}/admin", headers=copied).status_code == 200
    # The same var/ (session secret) and database, restarted with another password.
    with serve_admin(tmp_path, "new-password") as server:
        answer = httpx.get(f"{server.url}/admin", headers=copied)
        assert answer.status_code == 303
        with log_in_to(server.url, "new-password") as admin:
            assert admin.get("/admin").status_code == 200


def test_a_session_ends_after_eight_hours(tmp_path: Path) -> None:
    now = [datetime.now(UTC)]
    with (
        serve_admin(tmp_path, PASSWORD, clock=lambda: now[0]) as server,
        log_in_to(server.url, PASSWORD) as admin,
    ):
        now[0] += timedelta(hours=7, minutes=59)
        assert admin.get("/admin").status_code == 200
        now[0] += timedelta(minutes=1)
        assert admin.get("/admin").status_code == 303


@pytest.mark.parametrize(
    "path",
    [
        "/admin/orders/BYR-%00",
        f"/admin/orders/{'B' * 101}",
        "/admin/machines/demo-1%00/slots/A1/restock",
        "/admin/products/cola%01",
    ],
)
def test_an_admin_address_with_a_nul_is_a_400(admin: httpx.Client, path: str) -> None:
    answer = admin.get(path) if path.startswith("/admin/orders") else post(admin, path, {})
    assert answer.status_code == 400
    assert "Bad address" in answer.text


def test_a_form_with_a_nul_changes_nothing(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = bayar.paid_order()
    page = f"/admin/orders/{order_id}"
    for form in ({"amount": "", "reason": "warm\x00drink"}, {"amount": "", "refund_key": "k\x00"}):
        answer = post(admin, f"{page}/refund", form, page)
        assert answer.status_code == 400
        assert "control characters" in answer.text
    assert bayar.order(order_id)["status"] == "paid"
    restock = post(admin, f"/admin/machines/{MACHINE}/slots/A1/restock", {"on_hand": "٣"})
    assert "whole number" in flash(follow(admin, restock).text)


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/admin/orders?status=paid", "/admin/orders?status=paid"),
        ("https://evil.example/admin", "/admin"),
        ("//evil.example/admin", "/admin"),
        ("/sandbox/", "/admin"),
    ],
)
def test_login_returns_only_to_admin_pages(
    anonymous: httpx.Client, target: str, lands: str
) -> None:
    page = anonymous.get("/admin/login")
    answer = anonymous.post(
        "/admin/login",
        data={"password": PASSWORD, "csrf_token": csrf_of(page.text), "next": target},
    )
    assert answer.headers["location"] == lands


def test_posts_need_the_csrf_token(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = bayar.paid_order()
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
        answer = admin.post(f"/admin/orders/{order_id}/refund", data=data)
        assert answer.status_code == 403
    # A token from another session does not do either.
    with admin_client(bayar) as other:
        foreign = csrf_of(other.get("/admin").text)
    answer = admin.post(f"/admin/orders/{order_id}/refund", data={"csrf_token": foreign})
    assert answer.status_code == 403
    assert bayar.order(order_id)["status"] == "paid"
    # The login form has its token too.
    with httpx.Client(base_url=bayar.url) as fresh:
        assert fresh.post("/admin/login", data={"password": PASSWORD}).status_code == 403


def test_five_wrong_passwords_lock_the_client_out_for_a_minute(
    bayar: Bayar, anonymous: httpx.Client
) -> None:
    auth = bayar.app.state.admin_auth
    clock = [1000.0]
    auth.throttle = Throttle(clock=lambda: clock[0])
    try:

        def attempt(password: str) -> httpx.Response:
            token = csrf_of(anonymous.get("/admin/login").text)
            return anonymous.post("/admin/login", data={"password": password, "csrf_token": token})

        assert [attempt("nope").status_code for _ in range(5)] == [401] * 5
        locked = attempt(PASSWORD)
        assert locked.status_code == 429
        assert "Too many wrong passwords" in locked.text
        clock[0] += 61
        assert attempt(PASSWORD).status_code == 303
    finally:
        auth.throttle = Throttle()


def test_no_password_means_no_admin(tmp_path: Path) -> None:
    live = LiveApp(app_settings(tmp_path), run_worker=False, migrate=True)
    with live as server, httpx.Client(base_url=server.url) as client:
        for path in ("/admin", "/admin/login", "/admin/orders"):
            answer = client.get(path)
            assert answer.status_code == 503
            assert "BAYAR_ADMIN_PASSWORD" in answer.text
        assert client.post("/admin/login", data={"password": ""}).status_code == 503
    assert not (tmp_path / "session.secret").exists()


# -- orders --------------------------------------------------------------------------------------


def test_a_partial_then_the_rest_refund_reach_the_sandbox(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = bayar.paid_order("lemon")  # Rp 10.000
    page = f"/admin/orders/{order_id}"
    html = admin.get(page).text
    key = re.search(r'name="refund_key" value="([^"]+)"', html)
    assert key is not None
    form = {
        "amount": "Rp 4.000",
        "reason": "one was warm",
        "refund_key": key.group(1),
        "confirm": "yes",
    }
    done = follow(admin, post(admin, f"{page}/refund", form, page))
    assert flash(done.text) == "Refunded Rp 4.000. The order is now partially refunded."
    assert bayar.order(order_id)["status"] == "partially_refunded"
    assert bayar.gateway_status(order_id)["transaction_status"] == "partial_refund"
    # The same form sent twice (a double click) does not refund twice.
    again = follow(admin, post(admin, f"{page}/refund", form, page))
    assert "Refunded Rp 4.000" in flash(again.text)
    assert [r["amount"] for r in bayar.order(order_id)["refunds"]] == [4000]

    too_much = follow(admin, post(admin, f"{page}/refund", {"amount": "7000"}, page))
    assert flash(too_much.text).startswith(
        "Not refunded: the refund amount must be between 1 and 6000"
    )
    rest = follow(admin, post(admin, f"{page}/refund", {"amount": "", "confirm": "yes"}, page))
    assert flash(rest.text) == "Refunded Rp 6.000. The order is now refunded."
    assert bayar.order(order_id)["status"] == "refunded"
    assert bayar.gateway_status(order_id)["transaction_status"] == "refund"
    assert 'data-testid="refund-form"' not in rest.text


def test_a_refund_with_a_bad_amount_is_a_message(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = bayar.paid_order()
    page = f"/admin/orders/{order_id}"
    # "35.00" and "1.5" were read as Rp 3.500 and Rp 15: a dot is only a thousands separator.
    for amount in ("ten", "-5", "10,50", "35.00", "1.5", "1,5", "Rp 3.5"):
        answer = follow(admin, post(admin, f"{page}/refund", {"amount": amount}, page))
        assert answer.status_code == 200
        assert "Not refunded" in flash(answer.text)
        assert "whole rupiah" in flash(answer.text)
    assert bayar.order(order_id)["status"] == "paid"
    assert bayar.order(order_id)["refunds"] == []


def test_cancel_a_pending_order(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = bayar.create_order("teh-manis", 2)
    page = f"/admin/orders/{order_id}"
    assert 'data-testid="cancel-form"' in admin.get(page).text
    done = follow(admin, post(admin, f"{page}/cancel", {}, page))
    assert "Cancelled" in flash(done.text)
    assert bayar.order(order_id)["status"] == "cancelled"
    assert bayar.gateway_status(order_id)["transaction_status"] == "cancel"
    # Cancelling it again, or a paid order, is refused with the service's words.
    again = follow(admin, post(admin, f"{page}/cancel", {}, page))
    assert flash(again.text).startswith("Not cancelled: only a pending order can be cancelled")


def test_the_services_words_follow_the_admins_language(bayar: Bayar, admin: httpx.Client) -> None:
    """Why an action was refused, in the page's language: the core's own sentence translated."""
    say = words("id")
    order_id = bayar.paid_order()
    page = f"/admin/orders/{order_id}"
    admin.cookies.set("bayar_lang", "id")  # the admin's choice, over the browser's English
    refused = follow(admin, post(admin, f"{page}/cancel", {}, page))
    why = say("only a pending order can be cancelled; this one is %(status)s", status="paid")
    assert flash(refused.text) == say("Not cancelled: %(why)s", why=why)
    assert flash(refused.text).startswith("Tidak dibatalkan: hanya pesanan")
    unknown = follow(admin, post(admin, "/admin/orders/BYR-nope/refund", {"amount": ""}))
    assert flash(unknown.text) == say(
        "Not refunded: %(why)s", why=say("no order %(order)s", order="BYR-nope")
    )


def test_disable_and_enable_a_machine(admin: httpx.Client) -> None:
    page = "/admin/machines"
    assert 'data-testid="disable"' in admin.get(page).text
    off = follow(admin, post(admin, f"{page}/{MACHINE}/active", {"active": "0"}, page))
    try:
        assert flash(off.text) == f"{MACHINE} disabled: out of service."
        assert 'data-testid="enable"' in off.text
        assert 'badge-off">disabled<' in off.text
        assert admin.get(f"/kiosk/{MACHINE}").status_code == 404  # its page: out of service
    finally:
        on = follow(admin, post(admin, f"{page}/{MACHINE}/active", {"active": "1"}, page))
    assert flash(on.text) == f"{MACHINE} enabled: back in service."
    assert admin.get(f"/kiosk/{MACHINE}").status_code == 200
    unknown = follow(admin, post(admin, f"{page}/nope-1/active", {"active": "0"}, page))
    assert flash(unknown.text) == "No machine nope-1."


def test_an_unknown_order_is_a_404_page(admin: httpx.Client) -> None:
    answer = admin.get("/admin/orders/BYR-nope")
    assert answer.status_code == 404
    assert "No such order" in answer.text
    refund = post(admin, "/admin/orders/BYR-nope/refund", {"amount": ""})
    assert "no order BYR-nope" in flash(follow(admin, refund).text)


def test_the_timeline_has_history_notifications_and_gateway_calls(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = bayar.paid_order()
    html = admin.get(f"/admin/orders/{order_id}").text
    kinds = re.findall(r'data-kind="(\w+)"', html)
    assert {"status", "notification", "gateway"} <= set(kinds)
    assert "Order created: pending" in html
    assert "pending → paid" in html
    assert "✓ signature valid" in html
    assert "Raw notification" in html
    assert "&#34;transaction_status&#34;: &#34;settlement&#34;" in html  # pretty-printed, escaped
    assert "Gateway call: charge" in html
    assert "Gateway call: status" in html


def test_a_huge_raw_body_is_shown_collapsed_and_capped(bayar: Bayar, admin: httpx.Client) -> None:
    # A 10 MB bad-signature body, as the inbox kept it before bodies were capped on arrival: the
    # order page rendered it whole (15.7 MB).
    order_id = bayar.paid_order()
    huge = '{"order_id": "' + order_id + '", "padding": "' + "A" * 10_000_000 + '"}'

    async def store(db: Database) -> None:
        async with db.session() as session, session.begin():
            session.add(
                Notification(
                    dedupe_key=f"huge-{order_id}",
                    order_id=order_id,
                    transaction_status="settlement",
                    body=huge,
                    headers={"content-type": "application/json", "x-long": "v" * 10_000},
                    signature_valid=False,
                    outcome="bad_signature",
                )
            )

    bayar.run_db(store)
    page = admin.get(f"/admin/orders/{order_id}")
    assert page.status_code == 200
    assert len(page.content) < 200_000
    cut = re.search(
        r"<details>\s*<summary>Raw notification</summary>\s*<pre>([^<]*)</pre>\s*"
        r'<p class="sub" data-testid="body-cut">… ([0-9.]+) bytes more',
        page.text,
    )
    assert cut is not None
    shown, more = html_lib.unescape(cut.group(1)), int(cut.group(2).replace(".", ""))
    assert huge.startswith(shown)
    assert len(shown) == 2048
    assert more == len(huge) - 2048


def test_filters(bayar: Bayar, admin: httpx.Client) -> None:
    paid = bayar.paid_order()
    pending = bayar.create_order()
    kiosk = bayar.create_order(machine_id=MACHINE)

    def listed(query: str) -> list[tuple[str, str]]:
        html = admin.get(f"/admin/orders?{query}").text
        return re.findall(r'data-order="([^"]+)" data-status="([^"]+)"', html)

    only_paid = listed("status=paid")
    assert only_paid
    assert {s for _, s in only_paid} == {"paid"}
    assert paid in {o for o, _ in only_paid}
    assert pending not in {o for o, _ in only_paid}
    assert {o for o, _ in listed(f"machine={MACHINE}")} >= {kiosk}
    assert paid not in {o for o, _ in listed("channel=kiosk")}
    assert [o for o, _ in listed(f"q={pending[-6:]}")] == [pending]
    assert listed("from=2999-01-01") == []
    assert pending in {o for o, _ in listed("from=2000-01-01&to=2999-12-31")}
    history = listed("to=2000-01-02")
    assert history == []
    odd = admin.get("/admin/orders?status=nonsense&from=yesterday")
    assert odd.status_code == 400
    assert "unknown status &#39;nonsense&#39;" in odd.text
    assert "from is not a date (YYYY-MM-DD)" in odd.text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("page=99999999999999999999", "page must be a whole number from 1 to 100000"),
        ("page=0", "page must be a whole number"),
        ("page=-3", "page must be a whole number"),
        ("to=9999-12-31", "to must be a day from 2000-01-01 to 2999-12-31"),
        ("from=0001-01-01", "from must be a day from 2000-01-01 to 2999-12-31"),
        ("from=2026W011", "from is not a date (YYYY-MM-DD)"),
        ("from=2026-02-01&to=2026-01-01", "from is after to"),
        ("q=BYR%00", "q contains control characters"),
        ("machine=demo%00", "machine contains control characters"),
        ("status=paid%00", "status contains control characters"),
        ("to=2026-01-01%00", "to contains control characters"),
        (f"q={'x' * 65}", "q is longer than 64 characters"),
    ],
)
def test_bad_filters_are_a_400_that_says_why(admin: httpx.Client, query: str, says: str) -> None:
    # A huge page, year 9999 or a NUL used to reach the database and answer 500.
    answer = admin.get(f"/admin/orders?{query}")
    assert answer.status_code == 400
    assert "Filters not understood" in answer.text
    assert says in html_lib.unescape(answer.text)


def test_orders_are_paginated(admin: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "PAGE_SIZE", 5)  # the seeded history alone makes 13 orders
    first = admin.get("/admin/orders").text
    assert "Page 1 of" in first
    second = admin.get("/admin/orders?page=2").text
    ids_1 = set(re.findall(r'data-order="([^"]+)"', first))
    ids_2 = set(re.findall(r'data-order="([^"]+)"', second))
    assert len(ids_1) == len(ids_2) == 5
    assert not ids_1 & ids_2
    assert 'rel="next"' in first
    assert (
        'href="/admin/orders?status=paid&amp;page=2"' in admin.get("/admin/orders?status=paid").text
    )


# -- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_sums_and_charts(bayar: Bayar, admin: httpx.Client) -> None:
    bayar.paid_order("kopi-susu")
    html = admin.get("/admin").text
    assert "Last 30 days" in html
    assert re.search(r'data-testid="paid-3">Rp [0-9.]+<', html)
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert chart is not None
    days = re.findall(r'<g data-day="([0-9-]+)" data-amount="([0-9]+)">', chart.group(0))
    assert len(days) == 14
    assert int(days[-1][1]) >= 12000  # today: at least the Kopi Susu just paid
    assert int(days[0][1]) == 21000  # 13 days ago: the seeded 3 Cola


# -- machines and products -------------------------------------------------------------------------


def test_restock_a_slot(bayar: Bayar, admin: httpx.Client) -> None:
    path = f"/admin/machines/{MACHINE}/slots/B3/restock"
    done = follow(admin, post(admin, path, {"on_hand": "4"}, "/admin/machines"))
    assert "slot B3: 4 of 10" in flash(done.text)
    assert slot_stock(bayar, "B3") == 4
    filled = follow(admin, post(admin, path, {"on_hand": "1", "fill": "10"}, "/admin/machines"))
    assert "slot B3: 10 of 10" in flash(filled.text)
    assert slot_stock(bayar, "B3") == 10
    over = follow(admin, post(admin, path, {"on_hand": "11"}, "/admin/machines"))
    assert "between 0 and 10" in flash(over.text)
    nope = follow(
        admin, post(admin, f"/admin/machines/{MACHINE}/slots/Z9/restock", {"on_hand": "1"})
    )
    assert "has no slot Z9" in flash(nope.text)


def test_a_restock_keeps_the_units_open_orders_hold(bayar: Bayar, admin: httpx.Client) -> None:
    bayar.create_order("lemon", machine_id=MACHINE)  # A2 (no other test sells lemon there)
    path = f"/admin/machines/{MACHINE}/slots/A2/restock"
    done = follow(admin, post(admin, path, {"on_hand": "10"}, "/admin/machines"))
    assert "9 for sale (1 held by open orders)" in flash(done.text)
    assert slot_stock(bayar, "A2") == 9


def slot_stock(bayar: Bayar, code: str) -> int:
    async def work(db: Database) -> int:
        async with db.session() as session:
            slot = (
                await session.execute(
                    select(Slot).where(Slot.machine_id == MACHINE, Slot.code == code)
                )
            ).scalar_one()
            return slot.stock

    result: int = bayar.run_db(work)
    return result


def test_machines_page_shows_presence_and_slots(admin: httpx.Client) -> None:
    html = admin.get("/admin/machines").text
    assert 'id="machine-demo-1"' in html
    assert 'data-testid="offline"' in html  # no kiosk is connected in tests
    assert html.count("data-slot=") >= 6


def test_edit_a_product(bayar: Bayar, admin: httpx.Client) -> None:
    done = follow(
        admin,
        post(
            admin,
            "/admin/products/jeruk",
            {"price": "8.500", "on_hand": "40", "on_hand_was": "50"},
            "/admin/products",
        ),
    )
    assert flash(done.text) == "Jus Jeruk: Rp 8.500, 40 for sale."
    products = {p["id"]: p for p in httpx.get(f"{bayar.url}/api/products").json()}
    assert products["jeruk"]["price"] == 8500
    assert products["jeruk"]["stock"] == 40
    # The stock is left alone when it was not changed on the form.
    follow(
        admin,
        post(
            admin,
            "/admin/products/jeruk",
            {"price": "8000", "on_hand": "12", "on_hand_was": "12"},
            "/admin/products",
        ),
    )
    products = {p["id"]: p for p in httpx.get(f"{bayar.url}/api/products").json()}
    assert (products["jeruk"]["price"], products["jeruk"]["stock"]) == (8000, 40)
    bad = follow(admin, post(admin, "/admin/products/jeruk", {"price": "0", "on_hand": "1"}))
    assert "price must be between" in flash(bad.text)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d6a4f30000000049454e44ae426082"
)


def upload(client: httpx.Client, product: str, name: str, data: bytes, kind: str) -> httpx.Response:
    token = csrf_of(client.get("/admin/products").text)
    return client.post(
        f"/admin/products/{product}/picture",
        data={"csrf_token": token},
        files={"picture": (name, data, kind)},
    )


def test_upload_a_picture(bayar: Bayar, admin: httpx.Client) -> None:
    done = follow(admin, upload(admin, "lemon", "lemon.png", PNG, "image/png"))
    assert flash(done.text) == "New picture for lemon."
    url = {p["id"]: p for p in httpx.get(f"{bayar.url}/api/products").json()}["lemon"]["image_url"]
    assert re.fullmatch(r"/media/products/lemon-[0-9a-f]{16}\.png", url)
    served = httpx.get(f"{bayar.url}{url}")  # public: the shop and kiosks show it
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert "sandbox" in served.headers["content-security-policy"]
    assert httpx.get(f"{bayar.url}/media/products/..%2fbayar.sqlite3").status_code == 404
    assert httpx.get(f"{bayar.url}/media/products/session.secret").status_code == 404

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle r="4" cx="5" cy="5"/></svg>'
    assert "New picture" in flash(
        follow(admin, upload(admin, "cola", "c.svg", svg, "image/svg+xml")).text
    )


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handlers"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://x/y.png"/></svg>', "link"),
        (b'<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg"/>', "DOCTYPE"),
        (b"GIF89a not a picture we take", "not a PNG, JPEG or SVG"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * (1024 * 1024), "larger than 1 MB"),
    ],
)
def test_pictures_that_are_refused(admin: httpx.Client, data: bytes, why: str) -> None:
    answer = upload(admin, "cola", "x.svg", data, "image/svg+xml")
    assert answer.status_code == 303
    message = flash(admin.get(answer.headers["location"]).text)
    assert message.startswith("Picture refused")
    assert why in message


def test_an_oversized_form_is_refused_before_it_is_read(admin: httpx.Client) -> None:
    answer = upload(admin, "cola", "big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 3_000_000, "image/png")
    assert answer.status_code == 413


# -- the manual-refund queue -----------------------------------------------------------------------


def late_bank_transfer(bayar: Bayar, admin: httpx.Client) -> str:
    """A Snap order cancelled before its customer chose a method, then paid on its still open
    page by bank transfer (which the gateway cannot refund): queued for a person."""
    created = httpx.post(
        f"{bayar.url}/api/payments/create-transaction",
        json={"items": [{"product_id": "kopi-susu", "quantity": 1}], "payment_type": "snap"},
        timeout=20,
    )
    assert created.status_code == 201, created.text
    order_id: str = created.json()["order_id"]
    page = f"/admin/orders/{order_id}"
    assert "Cancelled" in flash(follow(admin, post(admin, f"{page}/cancel", {}, page)).text)
    paid = httpx.post(
        f"{bayar.url}/sandbox/_control/midtrans/{order_id}/pay",
        params={"payment_type": "bank_transfer"},
        timeout=20,
    )
    assert paid.status_code == 200, paid.text
    deadline = time.monotonic() + 15
    while [r["status"] for r in bayar.order(order_id)["refunds"]] != ["manual"]:
        assert time.monotonic() < deadline, bayar.order(order_id)
        time.sleep(0.05)
    return order_id


def attention_item(dashboard: str, order_id: str) -> str | None:
    found = re.search(rf'<li data-order="{re.escape(order_id)}"[^>]*>(.*?)</li>', dashboard, re.S)
    return None if found is None else found.group(0)


def waiting_part(page: str) -> str:
    """The manual-refund page without its "recently refunded by hand" table."""
    return page.split("Recently refunded by hand")[0]


def test_a_late_payment_needs_attention_until_refunded_by_hand(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = late_bank_transfer(bayar, admin)
    key = f"late-{order_id}"

    item = attention_item(admin.get("/admin").text, order_id)
    assert item is not None
    assert 'data-kind="late_payment"' in item
    assert f'href="/admin/orders/{order_id}"' in item
    assert "(order cancelled): waiting for a person" in item
    assert "Rp 12.000" in item
    page = admin.get("/admin/refunds/manual").text
    assert waiting_part(page).count(f'data-refund="{key}"') == 1
    assert 'class="count"' in page  # the nav shows there is something waiting
    # The core's note, in the page's words (its method named as people name it).
    assert "Bank transfer cannot be refunded through the gateway: refund it by hand" in page

    done = follow(
        admin,
        post(
            admin, f"/admin/refunds/manual/{key}/resolve", {"note": "cash"}, "/admin/refunds/manual"
        ),
    )

    assert flash(done.text) == f"{order_id}: Rp 12.000 marked as refunded by hand."
    assert f'data-refund="{key}"' not in done.text
    assert f'data-order="{order_id}"' in done.text.split("Recently refunded by hand")[1]
    order = bayar.order(order_id)
    assert order["status"] == "cancelled"
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [(12000, "succeeded")]
    item = attention_item(admin.get("/admin").text, order_id)
    assert item is not None
    assert "(order cancelled): given back" in item

    again = post(admin, f"/admin/refunds/manual/{key}/resolve", {}, "/admin/refunds/manual")
    shown = follow(admin, again)
    assert shown.status_code == 200
    assert flash(shown.text) == (
        "Not marked: this refund is not waiting for a person any more (was it done already?)"
    )


def test_a_refund_that_waits_for_nobody_cannot_be_marked(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = bayar.paid_order()
    answer = post(
        admin, f"/admin/refunds/manual/no-such-{order_id}/resolve", {}, "/admin/refunds/manual"
    )
    assert flash(follow(admin, answer).text).startswith("Not marked: this refund is not waiting")
    assert bayar.order(order_id)["status"] == "paid"


def test_a_gateway_outage_is_a_message_and_the_refund_can_be_retried(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = bayar.paid_order("teh-manis")  # Rp 5.000
    page = f"/admin/orders/{order_id}"
    faults = f"{bayar.url}/sandbox/_control/faults"
    httpx.post(faults, json={"kind": "api_error", "count": 1, "status": 503}).raise_for_status()
    try:
        failed = follow(
            admin, post(admin, f"{page}/refund", {"reason": "test outage", "confirm": "yes"}, page)
        )
    finally:
        httpx.delete(faults).raise_for_status()
    assert failed.status_code == 200
    assert flash(failed.text).startswith("Not refunded: the gateway did not answer")
    assert bayar.order(order_id)["status"] == "paid"
    # The unknown refund cannot be doubled by a new one, but can be asked again with its key.
    assert 'data-testid="refund-form"' not in failed.text
    retry = re.search(
        r'data-testid="retry-refund">\s*<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
        r'<input type="hidden" name="refund_key" value="([^"]+)">',
        failed.text,
    )
    assert retry is not None
    done = follow(
        admin,
        admin.post(
            f"{page}/refund",
            data={
                "csrf_token": retry.group(1),
                "refund_key": retry.group(2),
                "amount": "5000",
                "confirm": "yes",
            },
        ),
    )
    assert flash(done.text) == "Refunded Rp 5.000. The order is now refunded."
    assert bayar.gateway_status(order_id)["transaction_status"] == "refund"
    assert [r["status"] for r in bayar.order(order_id)["refunds"]] == ["succeeded"]


def test_a_refund_the_gateway_finishes_later_is_said_so(bayar: Bayar, admin: httpx.Client) -> None:
    """Xendit answers a refund PENDING: the admin reads that the gateway is making it, the order
    page shows it as it shows one asked of the gateway, and the order stays paid. Xendit then
    fails it: the order is still paid, and can be refunded again."""
    order_id = factories.create_order(bayar.url, ("cola", 1), gateway="xendit")
    httpx.post(f"{bayar.sandbox}/_control/xendit/{order_id}/pay").raise_for_status()
    bayar.wait_status(order_id, "paid")
    page = f"/admin/orders/{order_id}"
    done = follow(admin, post(admin, f"{page}/refund", {"reason": "asked", "confirm": "yes"}, page))
    # (the price of cola is whatever the catalog tests left it)
    assert re.fullmatch(
        r"Refund of Rp [0-9.]+ accepted: the gateway is making it\. The order changes when the "
        r"gateway says it is done\.",
        flash(done.text),
    ), flash(done.text)
    assert bayar.order(order_id)["status"] == "paid"
    assert [r["status"] for r in bayar.order(order_id)["refunds"]] == ["pending"]
    assert 'data-testid="retry-refund"' in done.text
    assert 'data-testid="refund-form"' not in done.text  # nothing more to refund meanwhile

    request_id = bayar.order(order_id)["payment"]["transaction_id"]
    listed = httpx.get(
        f"{bayar.sandbox}/xendit/refunds",
        params={"payment_request_id": request_id},
        auth=(DEMO_XENDIT_SECRET_KEY, ""),
    )
    (refund,) = listed.json()["data"]
    httpx.post(f"{bayar.sandbox}/_control/xendit/{refund['id']}/fail").raise_for_status()
    deadline = time.monotonic() + 15
    while [r["status"] for r in bayar.order(order_id)["refunds"]] != ["failed"]:
        assert time.monotonic() < deadline, bayar.order(order_id)
        time.sleep(0.02)
    html = admin.get(page).text
    assert bayar.order(order_id)["status"] == "paid"
    assert "the gateway failed the refund after accepting it" in html
    assert 'data-testid="refund-form"' in html


# -- refunds a person can trust ------------------------------------------------------------------


def test_a_refund_asks_first_and_the_first_step_changes_nothing(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = bayar.paid_order("lemon")  # Rp 10.000, by QRIS: the gateway refunds it
    page = f"/admin/orders/{order_id}"
    html = admin.get(page).text
    assert "Midtrans refunds " in html
    assert 'data-testid="manual-refund-form"' not in html

    asked = post(admin, f"{page}/refund", {"amount": "4.000", "reason": "warm"}, page)

    assert asked.status_code == 200, asked.text
    assert "Refund Rp 4.000?" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert bayar.order(order_id)["refunds"] == []
    assert bayar.gateway_status(order_id)["transaction_status"] == "settlement"
    # The confirmation's own form is what refunds.
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text))
    done = follow(admin, admin.post(f"{page}/refund", data=fields))
    assert flash(done.text) == "Refunded Rp 4.000. The order is now partially refunded."


def _bank_transfer_order(bayar: Bayar) -> str:
    return bayar.paid_order("lemon", 2, payment_type="bank_transfer", bank="bca")  # Rp 20.000


def test_a_method_the_gateway_cannot_refund_is_said_and_never_asked(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = _bank_transfer_order(bayar)
    page = f"/admin/orders/{order_id}"

    html = admin.get(page).text

    assert 'data-testid="refund-form"' not in html
    assert 'data-testid="manual-refund-form"' in html
    assert "Paid by BCA Virtual Account: Midtrans cannot refund it." in html
    # A refund form sent anyway (an old tab) is refused before the gateway is asked.
    for confirm in ("", "yes"):
        sent = follow(admin, post(admin, f"{page}/refund", {"confirm": confirm}, page))
        assert "cannot refund" in flash(sent.text)
    assert bayar.order(order_id)["status"] == "paid"
    assert bayar.order(order_id)["refunds"] == []
    assert bayar.gateway_status(order_id)["transaction_status"] == "settlement"


def test_a_manual_refund_is_confirmed_then_enters_the_books(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = _bank_transfer_order(bayar)
    page = f"/admin/orders/{order_id}"
    key = re.search(r'name="refund_key" value="(manual-[^"]+)"', admin.get(page).text)
    assert key is not None
    form = {
        "amount": "Rp 5.000",
        "bank": "BCA",
        "reference": "TRF-0042",
        "note": "one bottle was broken",
        "refund_key": key.group(1),
    }

    asked = post(admin, f"{page}/manual-refund", form, page)

    assert asked.status_code == 200, asked.text
    assert "Record a manual refund of Rp 5.000?" in asked.text
    assert "TRF-0042" in asked.text
    assert bayar.order(order_id)["refunds"] == []

    done = follow(admin, post(admin, f"{page}/manual-refund", {**form, "confirm": "yes"}, page))

    assert flash(done.text) == (
        "Recorded: Rp 5.000 refunded by hand (BCA). The order is now partially refunded."
    )
    order = bayar.order(order_id)
    assert order["status"] == "partially_refunded"
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [(5000, "succeeded")]
    assert "refunded by hand: BCA, reference TRF-0042: one bottle was broken" in done.text
    # The gateway was not asked; the books count it like any refund.
    assert bayar.gateway_status(order_id)["transaction_status"] == "settlement"
    dashboard = admin.get("/admin").text
    assert "Rp 5.000" in dashboard
    # The same form sent twice (a double click) records it once.
    again = follow(admin, post(admin, f"{page}/manual-refund", {**form, "confirm": "yes"}, page))
    assert "was recorded as refunded by hand" in flash(again.text)
    assert len(bayar.order(order_id)["refunds"]) == 1
    # The rest, by another form; then nothing is left.
    key2 = re.search(r'name="refund_key" value="(manual-[^"]+)"', again.text)
    assert key2 is not None
    rest = {**form, "amount": "", "refund_key": key2.group(1), "confirm": "yes"}
    finished = follow(admin, post(admin, f"{page}/manual-refund", rest, page))
    assert "Rp 15.000 refunded by hand" in flash(finished.text)
    assert bayar.order(order_id)["status"] == "refunded"
    assert 'data-testid="manual-refund-form"' not in finished.text


def test_a_manual_refund_needs_where_the_money_went(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = _bank_transfer_order(bayar)
    page = f"/admin/orders/{order_id}"
    base = {"bank": "BCA", "reference": "TRF-1", "refund_key": "manual-x", "confirm": "yes"}
    for changes, says in (
        ({"bank": ""}, "say where the money went"),
        ({"reference": ""}, "say where the money went"),
        ({"refund_key": "late-x"}, "say where the money went"),
        ({"amount": "25000"}, "between 1 and 20000"),
        ({"amount": "2,5"}, "whole rupiah"),
    ):
        answer = follow(admin, post(admin, f"{page}/manual-refund", {**base, **changes}, page))
        assert says in flash(answer.text), changes
    assert bayar.order(order_id)["refunds"] == []


# -- the owner's catalog -------------------------------------------------------------------------


def _shop(bayar: Bayar) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in httpx.get(f"{bayar.url}/api/products").json()}


def test_add_hide_show_edit_and_archive_a_product(bayar: Bayar, admin: httpx.Client) -> None:
    form = {
        "name": "Kue Lapis",
        "price": "6.500",
        "on_hand": "8",
        "category": "Kue",
        "hidden": "yes",
    }
    added = follow(admin, post(admin, "/admin/products", form, "/admin/products"))
    assert flash(added.text) == "Kue Lapis added (Rp 6.500, 8 hidden)."
    assert 'data-product="kue-lapis"' in added.text
    assert "kue-lapis" not in _shop(bayar)

    shown = follow(
        admin,
        post(admin, "/admin/products/kue-lapis/visibility", {"show": "yes"}, "/admin/products"),
    )
    assert flash(shown.text) == "Kue Lapis is on sale again."
    assert _shop(bayar)["kue-lapis"]["category"] == "Kue"

    edit = {
        "name": "Kue Lapis Legit",
        "description": "Sepotong, 80 g",
        "category": "",
        "price": "7000",
        "on_hand": "8",
        "on_hand_was": "8",
    }
    edited = follow(admin, post(admin, "/admin/products/kue-lapis", edit, "/admin/products"))
    assert flash(edited.text) == "Kue Lapis Legit: Rp 7.000, 8 for sale."
    product = _shop(bayar)["kue-lapis"]
    assert (product["name"], product["description"], product["category"]) == (
        "Kue Lapis Legit",
        "Sepotong, 80 g",
        None,
    )

    archived = follow(
        admin, post(admin, "/admin/products/kue-lapis/archive", {}, "/admin/products")
    )
    assert "Kue Lapis Legit is archived" in flash(archived.text)
    assert "kue-lapis" not in _shop(bayar)
    assert 'data-archived="kue-lapis"' in archived.text
    assert 'data-product="kue-lapis"' not in archived.text
    for path, data in (
        ("/admin/products/kue-lapis/visibility", {"show": "yes"}),
        ("/admin/products/kue-lapis", {**edit, "price": "1000"}),
    ):
        refused = follow(admin, post(admin, path, data, "/admin/products"))
        assert "is archived" in flash(refused.text)
    assert "kue-lapis" not in _shop(bayar)
    again = follow(admin, post(admin, "/admin/products", form, "/admin/products"))
    assert flash(again.text) == (
        "Not added: a product 'kue-lapis' exists already (an archived one keeps its id)"
    )
