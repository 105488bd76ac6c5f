"""The kiosk page's table of the screens STATE names (`STATE_SCREENS` in static/js/events.js) and its
frame handlers agree with PROTOCOL.md and with what the server sends: a screen or event the server
sends with no entry on the page, or an entry for one it never sends, fails here (issue 11 item 10).

The page's modules are read by node (`import()`), as a browser reads them, not by a regex."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bayar.kiosk import hub, messages
from bayar.payments.states import Status

KIOSK = Path(hub.__file__).parent
MODULES = KIOSK / "static" / "js"
PROTOCOL = (KIOSK / "PROTOCOL.md").read_text(encoding="utf-8")
# Every status a dispense row takes (vending/service.py).
DISPENSE_STATUSES = (
    "pending",
    "commanded",
    "dispensed",
    "failed",
    "refund_retry",
    "refunded",
    "manual_refund",
)

READ_PAGE = """
const dir = process.argv[1];
const events = await import(dir + "/events.js");
const screens = await import(dir + "/screens.js");
console.log(JSON.stringify({
  stateScreens: Object.keys(events.STATE_SCREENS),
  handlers: Object.keys(events.HANDLERS),
  screens: Object.keys(screens.SCREENS),
}));
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tables of the page's modules, as node imports them: from a copy marked as ES modules
    (`"type": "module"`), which any node reads without guessing the module kind."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail("CI=true and node is required (make lint needs it too)", pytrace=False)
        pytest.skip("no node on PATH (this fails under CI=true)")
    copy = tmp_path_factory.mktemp("kiosk-js") / "js"
    shutil.copytree(MODULES, copy)
    (copy / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    done = subprocess.run(
        [node, "--input-type=module", "-e", READ_PAGE, copy.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    tables: dict[str, Any] = json.loads(done.stdout)
    return tables


def screens_the_server_sends() -> set[str]:
    """Every value of STATE's `screen`: screen_of over no order and every order and dispense
    status."""
    sent = {messages.screen_of(None)}
    for status, dispense in itertools.product(Status, (None, *DISPENSE_STATUSES)):
        order = {
            "status": status.value,
            "dispense": None if dispense is None else {"dispense_id": "d", "status": dispense},
        }
        sent.add(messages.screen_of(order))
    return sent


def screens_in_protocol() -> set[str]:
    found = re.search(r'"screen": "([a-z_ |]+)"', PROTOCOL)
    assert found is not None, 'PROTOCOL.md names no "screen": "a | b" in STATE'
    return {name.strip() for name in found.group(1).split("|")}


def events_in_protocol() -> set[str]:
    """STATE (On connect) and the events of the "Server → kiosk" table."""
    section = PROTOCOL.split("## Server → kiosk", 1)[1].split("\n## ", 1)[0]
    return {"STATE", *re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE)}


def events_the_server_sends() -> set[str]:
    source = Path(hub.__file__).read_text(encoding="utf-8")
    named = set(re.findall(r'send\(\s*"([A-Z_]+)"', source))
    return (
        named
        | {event for event, _ in hub.FAILED_EVENTS.values()}
        | set(hub.DISPENSE_EVENTS.values())
    )


def test_protocol_names_exactly_the_screens_the_server_sends() -> None:
    assert screens_in_protocol() == screens_the_server_sends()


def test_the_page_has_an_entry_for_every_screen_state_names_and_no_other(
    page: dict[str, Any],
) -> None:
    assert set(page["stateScreens"]) == screens_the_server_sends()
    assert set(page["stateScreens"]) <= set(page["screens"])  # and it can show each


def test_protocol_lists_every_event_the_server_sends() -> None:
    assert events_the_server_sends() <= events_in_protocol()


def test_the_page_handles_exactly_the_events_of_the_protocol(page: dict[str, Any]) -> None:
    assert set(page["handlers"]) == events_in_protocol()
