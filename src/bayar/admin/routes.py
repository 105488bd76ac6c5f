"""Placeholder: being written."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the admin's routes (and its session middleware) to the application."""
