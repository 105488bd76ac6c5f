"""URLs of the static files a page links, with a short content hash, so a new release is never
served from a browser's stale cache."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path


def versioned(directory: Path, url: str) -> Callable[[str], str]:
    """`asset("shop.css")` → `"{url}/shop.css?v=<hash>"` for files under `directory`."""

    @cache
    def fingerprint(name: str) -> str:
        try:
            return hashlib.sha256((directory / name).read_bytes()).hexdigest()[:10]
        except OSError:
            return "0"

    def asset(name: str) -> str:
        return f"{url}/{name}?v={fingerprint(name)}"

    return asset
