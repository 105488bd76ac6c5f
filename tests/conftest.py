"""Service availability for tests marked ``postgres``, ``redis`` or ``browser``.

A marked test whose service is unreachable is skipped locally but fails when ``CI=true``, so CI can
never pass without the real services (DESIGN.md, "Testing"). Probes are a plain TCP connect (for
PostgreSQL and Redis) and an executable check (for chromium), each done once per session.

Kept deliberately small and free of project imports; other fixtures live in other modules.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:  # imported only where a browser test runs
    from playwright.sync_api import Browser

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = "/usr/bin/chromium"
SERVICE_MARKERS = ("postgres", "redis", "browser")
PROBE_TIMEOUT = 1.0
# Headless, and none of Chromium's own background traffic (updates, sync, on-device models): the
# network here is closed, and those connections only make a test browser slower and flakier.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_probe_cache: dict[tuple[str, int], str | None] = {}


def in_ci() -> bool:
    """True when running under CI (``CI=true``, as CI systems set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


# The same two as tests/support/databases.py's: this file stays free of imports of the project's
# (tests/test_foundation.py runs a copy of it in a nested pytest).
def postgres_url() -> str:
    return os.environ.get("BAYAR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get("BAYAR_TEST_REDIS_URL") or DEFAULT_REDIS_URL


def chromium_path() -> str:
    return os.environ.get("BAYAR_TEST_CHROMIUM") or CHROMIUM


def _tcp_problem(url: str, default_port: int) -> str | None:
    """None if something accepts TCP connections at the URL's host:port, else why not."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or default_port
    except ValueError as exc:
        return f"cannot parse {url!r}: {exc}"
    key = (host, port)
    if key not in _probe_cache:
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
                _probe_cache[key] = None
        except OSError as exc:
            _probe_cache[key] = f"nothing reachable at {host}:{port} ({url}): {exc}"
    return _probe_cache[key]


def service_problem(service: str) -> str | None:
    """None if ``service`` ("postgres", "redis" or "browser") is available, else a reason."""
    if service == "postgres":
        return _tcp_problem(postgres_url(), 5432)
    if service == "redis":
        return _tcp_problem(redis_url(), 6379)
    if service == "browser":
        path = chromium_path()
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return None
        return f"no chromium executable at {path} (Debian: `make browsers`)"
    raise ValueError(f"unknown service {service!r}")


def require_service(service: str) -> None:
    """Skip the current test if ``service`` is unavailable; fail instead under ``CI=true``."""
    problem = service_problem(service)
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and the '{service}' service is required: {problem}", pytrace=False)
    pytest.skip(f"'{service}' unavailable: {problem} (this fails under CI=true)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Runs before fixtures are set up, so a skipped test costs nothing."""
    for service in SERVICE_MARKERS:
        if item.get_closest_marker(service) is not None:
            require_service(service)


@pytest.fixture
def redis_server_url() -> str:
    """The Redis that tests marked ``redis`` use (``BAYAR_TEST_REDIS_URL`` or the local default)."""
    return redis_url()


@pytest.fixture
def postgres_server_url() -> str:
    """The PostgreSQL that tests marked ``postgres`` use (``BAYAR_TEST_POSTGRES_URL`` or the local
    default): a database on it to connect to as an administrator."""
    return postgres_url()


@pytest.fixture(scope="session")
def chromium() -> Iterator[tuple[Browser, asyncio.AbstractEventLoop]]:
    """Debian's chromium, headless, driven by Playwright (it cannot download browsers here): one
    for the whole session, with the event loop of Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    playwright = manager.start()
    try:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        loop = asyncio.get_running_loop()  # each sync call leaves it marked running here
        try:
            yield launched, loop
        finally:
            asyncio._set_running_loop(loop)
            launched.close()
    finally:
        manager.__exit__()
        asyncio._set_running_loop(None)


@pytest.fixture
def browser(chromium: tuple[Browser, asyncio.AbstractEventLoop]) -> Iterator[Browser]:
    """The session's browser, for one test; every context the test opened is closed after it.

    Playwright's sync API leaves its event loop marked as running on this thread between calls:
    the mark is put back for the test and cleared after it, so the asynchronous tests that run
    between browser tests (pytest-asyncio's loops, asyncio.run) find no loop running."""
    launched, loop = chromium
    asyncio._set_running_loop(loop)
    try:
        yield launched
    finally:
        for context in launched.contexts:
            context.close()
        asyncio._set_running_loop(None)


@pytest.fixture
def problems() -> list[str]:
    """Console and page errors a browser test's pages collect; none are expected."""
    return []


# -- the tree as the suite found it ---------------------------------------------------------------


def _tree_state(root: str) -> str | None:
    """`git status` of the checkout (None outside a git checkout, or without git)."""
    import subprocess

    try:
        answer = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return answer.stdout


_tree_at_start: dict[str, str | None] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _tree_at_start["state"] = _tree_state(str(session.config.rootpath))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests leave the tree as they found it: a run that wrote into the checkout (a screenshot, a
    database, a cache) fails, saying what changed. `make screenshots` (BAYAR_SCREENSHOTS=1) is the
    one run meant to write: the README's pictures."""
    before = _tree_at_start.get("state")
    if before is None or os.environ.get("BAYAR_SCREENSHOTS") == "1":
        return
    after = _tree_state(str(session.config.rootpath))
    if after is not None and after != before:
        changed = sorted(set(after.splitlines()) ^ set(before.splitlines()))
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("!! the test run changed the checkout:", red=True)
            for line in changed[:20]:
                reporter.write_line(f"   {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
