"""Fixtures of the in-process app on SQLite and PostgreSQL: see tests/api/harness.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _harness() -> ModuleType:
    """tests/api/harness.py, loaded once per session whichever conftest asks first."""
    name = "bayar_test_harness"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "api" / "harness.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


globals().update(_harness().FIXTURES)
