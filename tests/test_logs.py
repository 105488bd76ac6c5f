"""Log lines: plain for a person at a terminal, JSON for machines or when asked (issue 11, item 9)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayar import logs
from bayar.cli import cli


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in a person's shell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(stream: io.StringIO, log_format: str = "auto") -> str:
    logs.configure(log_format=log_format, stream=stream)
    logging.getLogger("bayar").info(
        "kiosk connected from /kiosk/demo-1?token=s3cret-token",
        extra={"machine_id": "demo-1", "url": "/kiosk/demo-1?token=s3cret-token"},
    )
    return stream.getvalue()


def test_a_terminal_gets_plain_lines() -> None:
    line = emit(Terminal()).strip()

    assert re.fullmatch(
        r"\d\d:\d\d:\d\d info    kiosk connected from /kiosk/demo-1\?token=\*\*\*"
        r"  machine_id=demo-1 url=/kiosk/demo-1\?token=\*\*\*",
        line,
    ), line
    assert "s3cret-token" not in line


def test_warnings_name_who_spoke() -> None:
    stream = Terminal()
    logs.configure(stream=stream)
    logging.getLogger("bayar.worker").warning("gateway slow")

    assert stream.getvalue().strip().endswith("warning gateway slow  [bayar.worker]")


@pytest.mark.parametrize(
    ("stream", "log_format"),
    [(io.StringIO(), "auto"), (Terminal(), "json")],
    ids=["not a terminal", "BAYAR_LOG_FORMAT=json on a terminal"],
)
def test_machines_get_json(stream: io.StringIO, log_format: str) -> None:
    entry = json.loads(emit(stream, log_format))

    assert entry["level"] == "info"
    assert entry["machine_id"] == "demo-1"
    assert entry["message"] == "kiosk connected from /kiosk/demo-1?token=***"


def test_human_lines_can_be_asked_for_in_a_file() -> None:
    assert not emit(io.StringIO(), "human").startswith("{")


def test_an_unknown_log_format_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAYAR_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BAYAR_LOG_FORMAT", "xml")

    result = CliRunner().invoke(cli, ["worker"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "bayar: BAYAR_LOG_FORMAT: Input should be 'auto', 'json' or 'human'"
    ]
