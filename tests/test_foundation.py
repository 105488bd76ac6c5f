"""The service-availability machinery of tests/conftest.py, run for real in a nested pytest.

Each test copies the real ``tests/conftest.py`` into a pytester directory, declares the markers
exactly as pyproject.toml does, points the service at a port that is (or is not) listening, and
checks the outcome with and without ``CI=true``.
"""

from __future__ import annotations

import socket
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFTEST = Path(__file__).with_name("conftest.py")

TCP_SERVICES = [
    pytest.param(
        "postgres",
        "BAYAR_TEST_POSTGRES_URL",
        "postgresql://postgres@127.0.0.1:{port}/test",
        id="postgres",
    ),
    pytest.param("redis", "BAYAR_TEST_REDIS_URL", "redis://127.0.0.1:{port}/0", id="redis"),
]


def _pyproject_markers() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        markers: list[str] = tomllib.load(f)["tool"]["pytest"]["ini_options"]["markers"]
    return markers


@pytest.fixture
def nested(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester dir with the real conftest and the project's markers; CI/service env cleared."""
    for name in ("CI", "BAYAR_TEST_POSTGRES_URL", "BAYAR_TEST_REDIS_URL", "BAYAR_TEST_CHROMIUM"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST.read_text())
    ini = [
        "[pytest]",
        "addopts = --strict-markers -p no:cacheprovider",
        "asyncio_default_fixture_loop_scope = function",
        "markers =",
        *(f"    {m}" for m in _pyproject_markers()),
    ]
    pytester.makeini("\n".join(ini) + "\n")
    return pytester


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def open_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections for the duration of the test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def _marked_test(marker: str) -> str:
    return f"""
        import pytest

        @pytest.mark.{marker}
        def test_needs_service():
            pass

        def test_unmarked():
            pass
        """


def test_pyproject_declares_the_service_markers() -> None:
    names = {m.split(":", 1)[0].strip() for m in _pyproject_markers()}
    assert {"postgres", "redis", "browser"} <= names


@pytest.mark.parametrize(("marker", "env", "url"), TCP_SERVICES)
def test_unreachable_service_is_skipped_locally(
    nested: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
    marker: str,
    env: str,
    url: str,
) -> None:
    monkeypatch.setenv(env, url.format(port=closed_port))
    nested.makepyfile(_marked_test(marker))
    result = nested.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [f"*'{marker}' unavailable*127.0.0.1:{closed_port}*fails under CI=true*"]
    )


@pytest.mark.parametrize("ci_value", ["true", "TRUE", "1"])
@pytest.mark.parametrize(("marker", "env", "url"), TCP_SERVICES)
def test_unreachable_service_fails_under_ci(
    nested: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
    marker: str,
    env: str,
    url: str,
    ci_value: str,
) -> None:
    monkeypatch.setenv("CI", ci_value)
    monkeypatch.setenv(env, url.format(port=closed_port))
    nested.makepyfile(_marked_test(marker))
    result = nested.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"*CI=true and the '{marker}' service is required*127.0.0.1:{closed_port}*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("ci", [False, True])
@pytest.mark.parametrize(("marker", "env", "url"), TCP_SERVICES)
def test_reachable_service_runs_the_test(
    nested: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    open_port: int,
    marker: str,
    env: str,
    url: str,
    ci: bool,
) -> None:
    if ci:
        monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(env, url.format(port=open_port))
    nested.makepyfile(_marked_test(marker))
    nested.runpytest().assert_outcomes(passed=2)


def test_ci_false_is_not_ci(
    nested: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("CI", "false")
    monkeypatch.setenv("BAYAR_TEST_REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")
    nested.makepyfile(_marked_test("redis"))
    nested.runpytest().assert_outcomes(passed=1, skipped=1)


def test_missing_chromium_skips_locally_and_fails_under_ci(
    nested: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BAYAR_TEST_CHROMIUM", str(tmp_path / "no-such-chromium"))
    nested.makepyfile(_marked_test("browser"))
    nested.runpytest().assert_outcomes(passed=1, skipped=1)

    monkeypatch.setenv("CI", "true")
    result = nested.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*CI=true and the 'browser' service is required*no-such-chromium*"]
    )


def test_present_chromium_runs_browser_tests_under_ci(
    nested: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("BAYAR_TEST_CHROMIUM", sys.executable)  # any executable file will do
    nested.makepyfile(_marked_test("browser"))
    nested.runpytest().assert_outcomes(passed=2)


def test_class_level_marker_is_honoured(
    nested: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(
        "BAYAR_TEST_POSTGRES_URL", f"postgresql://postgres@127.0.0.1:{closed_port}/test"
    )
    nested.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.postgres

        class TestRepo:
            def test_one(self):
                pass

            def test_two(self):
                pass
        """
    )
    nested.runpytest().assert_outcomes(errors=2)
