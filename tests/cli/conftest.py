"""The environment a CLI test starts from: none of the caller's settings, and a folder of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayar.config import Settings

# Every variable bayar reads its settings from (Settings' fields, as the environment spells them).
SETTINGS = tuple(name.upper() for name in Settings.model_fields)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment for a bayar command: no setting of the caller's (not one key, database
    or gateway), the working directory a fresh one (no .env), var/ in it, and the sandbox on.
    A test file that needs more overrides `env` on top of this one."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAYAR_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BAYAR_SANDBOX", "true")
    return tmp_path
