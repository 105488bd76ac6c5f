"""Placeholder: being written."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

STATIC = Path(__file__).parent / "static"


def router() -> APIRouter:
    return APIRouter()
