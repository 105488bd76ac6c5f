"""Log lines: for a person at a terminal, one plain line each (time, level, message, fields); for
machines (not a terminal, or BAYAR_LOG_FORMAT=json), one JSON object per line carrying the order id
(and any other `extra`)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Kiosk URLs carry the machine's token in their query string: never let it into a log line.
SECRET_QUERY = re.compile(r"(token=)[^&\s\"']+")
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def _scrub(text: str) -> str:
    return SECRET_QUERY.sub(r"\1***", text)


def _message(record: logging.LogRecord) -> str:
    return _scrub(record.getMessage())


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra` a line was logged with (order_id, machine_id…)."""
    return {k: v for k, v in vars(record).items() if k not in STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """`20:49:47 info    demo kiosk ready  machine_id=demo-1`: local time, the level, the
    message, its fields; the logger's name only on warnings and errors, where it helps to know
    which part spoke."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).astimezone().strftime("%H:%M:%S")
        line = f"{when} {record.levelname.lower():<7} {_message(record)}"
        if record.levelno >= logging.WARNING:
            line += f"  [{record.name}]"
        fields = _fields(record)
        if fields:
            line += "  " + " ".join(f"{k}={_scrub(str(v))}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter(log_format: str, stream: TextIO) -> logging.Formatter:
    """Human lines for a person at a terminal, JSON for everything else (or as asked)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "human":
        return HumanFormatter()
    isatty = getattr(stream, "isatty", None)
    return HumanFormatter() if callable(isatty) and isatty() else JsonFormatter()


def configure(
    level: int = logging.INFO, log_format: str = "auto", stream: TextIO | None = None
) -> None:
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(log_format, out))
    # Neither format prints where a line was logged from, or its thread or process: logging is
    # told not to look them up (a stack walk per line; the Logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
