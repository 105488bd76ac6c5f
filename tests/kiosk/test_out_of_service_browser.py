"""The kiosk's "out of service" screen (issue 11 item 4) in a real browser: a wrong token, an unknown
machine and a machine disabled in the admin each show it with no buy button, and the kiosk comes
back to its home screen by itself once the cause is gone (it keeps retrying: `?retry=1` makes the
retries one second apart, so the waits below stay short and bounded). Each cause and its recovery
in Indonesian, the kiosk's first language, and in English (`?lang=`; the words from the
catalogs, tests/support/words.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect
from pydantic import SecretStr
from sqlalchemy import update
from words import words

from bayar.storage.db import Database
from bayar.storage.models import Machine
from bayar.vending.machines import token_digest

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, BrowserContext, Page
    from tests.kiosk.conftest import KioskServer

pytestmark = pytest.mark.browser

PASSWORD = "oos-admin-pass"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WAIT_MS = 15_000


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(viewport={"width": 1024, "height": 600})
    tab = context.new_page()
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield tab
    context.close()
    assert problems == []


@pytest.fixture
def server(kiosk_server_factory: Callable[..., KioskServer]) -> KioskServer:
    return kiosk_server_factory(bayar_admin_password=SecretStr(PASSWORD))


def wait_screen(page: Page, name: str) -> None:
    page.wait_for_selector(f'body[data-screen="{name}"]', state="attached", timeout=WAIT_MS)


def assert_out_of_service(page: Page, reason: str, language: str = "id") -> None:
    """The screen, in `language`, saying `reason` (a message of the catalogs)."""
    say = words(language)
    wait_screen(page, "out_of_service")
    oos = page.locator("#screen-out_of_service")
    expect(oos).to_be_visible()
    expect(oos.locator("h1")).to_have_text(say("Out of service"))
    expect(oos.locator("#oos-body")).to_have_text(say(reason))
    expect(page.locator("#home-cta")).to_be_hidden()  # no buy button (once the fade is over)
    expect(page.locator("#offline")).to_be_hidden()  # no technical banner over the title


def set_active(server: KioskServer, active: bool) -> None:
    """The admin's machines page: its disable/enable form, as a person would send it."""
    with httpx.Client(base_url=server.url, timeout=20) as client:
        login = client.get("/admin/login")
        match = CSRF.search(login.text)
        assert match is not None
        done = client.post("/admin/login", data={"password": PASSWORD, "csrf_token": match[1]})
        assert done.status_code == 303
        machines = client.get("/admin/machines")
        assert ('data-testid="disable"' in machines.text) is not active
        csrf = CSRF.search(machines.text)
        assert csrf is not None
        answer = client.post(
            f"/admin/machines/{server.machine_id}/active",
            data={"active": "1" if active else "0", "csrf_token": csrf[1]},
        )
        assert answer.status_code == 303, answer.text


LANGUAGES = pytest.mark.parametrize("language", ["id", "en"])


@LANGUAGES
def test_wrong_token_is_out_of_service_until_the_token_is_fixed(
    page: Page, server: KioskServer, language: str
) -> None:
    wrong = "not-the-token"
    page.goto(server.kiosk_url(token=wrong, retry="1", lang=language))
    assert_out_of_service(page, "This kiosk is not connected properly. Staff can fix it.", language)
    page.locator("#screen-out_of_service").click()
    assert page.evaluate("document.body.dataset.screen") == "out_of_service"

    async def reissue(db: Database) -> None:  # the operator gives the machine this token
        async with db.session() as session, session.begin():
            await session.execute(
                update(Machine)
                .where(Machine.id == server.machine_id)
                .values(token_sha256=token_digest(wrong))
            )

    server.run_db(reissue)
    wait_screen(page, "home")
    assert page.locator("#home-cta").is_visible()


@LANGUAGES
def test_disabled_machine_is_out_of_service_until_enabled(
    page: Page, server: KioskServer, language: str
) -> None:
    page.goto(server.kiosk_url(retry="1", lang=language))
    wait_screen(page, "home")
    page.wait_for_function("window.bayarKiosk.connected", timeout=WAIT_MS)

    set_active(server, False)  # the connected kiosk hears it at once (close 4403)
    disabled = "This kiosk has been turned off by staff."
    assert_out_of_service(page, disabled, language)
    page.reload()  # and a reloaded page of a disabled machine says the same
    assert_out_of_service(page, disabled, language)

    set_active(server, True)
    wait_screen(page, "home")
    page.locator("#screen-home").click(position={"x": 500, "y": 420})
    wait_screen(page, "menu")


@LANGUAGES
def test_unknown_machine_is_out_of_service_until_it_is_registered(
    page: Page, server: KioskServer, language: str
) -> None:
    kiosk_token = "lobby-kiosk-token"
    response = page.goto(
        server.kiosk_url(machine_id="nowhere-9", token=kiosk_token, retry="1", lang=language)
    )
    assert response is not None
    assert response.status == 404
    assert_out_of_service(page, "This kiosk is not registered. Please ask staff.", language)

    # The operator registers the machine and gives it the token this screen was set up with.
    server.add_machine("nowhere-9", "Lobby", None, [("A1", "cola", 3, 6)])

    async def give_token(db: Database) -> None:
        async with db.session() as session, session.begin():
            await session.execute(
                update(Machine)
                .where(Machine.id == "nowhere-9")
                .values(token_sha256=token_digest(kiosk_token))
            )

    server.run_db(give_token)
    wait_screen(page, "home")
    assert page.locator("#home-cta").is_visible()


@LANGUAGES
def test_no_connection_for_a_while_is_out_of_service(
    page: Page, server: KioskServer, language: str
) -> None:
    page.goto(server.kiosk_url(retry="1", offline="2", lang=language))
    wait_screen(page, "home")
    page.wait_for_function("window.bayarKiosk.connected", timeout=WAIT_MS)
    server.stop()
    assert_out_of_service(page, "This kiosk cannot reach the server.", language)
    server.start()
    wait_screen(page, "home")
