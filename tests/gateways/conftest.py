"""Fixtures of the in-process app on SQLite and PostgreSQL: see tests/support/harness.py."""

from __future__ import annotations

from harness import FIXTURES

globals().update(FIXTURES)
