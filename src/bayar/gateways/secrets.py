"""A gateway key and the texts that would give it away, scrubbed from every message an adapter
builds (errors, logs): the key itself and its HTTP Basic forms, padded and not."""

from __future__ import annotations

import base64


class Secrets:
    def __init__(self, key: str, *more: str) -> None:
        basic = base64.b64encode(f"{key}:".encode()).decode()
        self._texts = tuple(t for t in (key, basic, basic.rstrip("="), *more) if t)

    def scrub(self, text: str) -> str:
        for secret in self._texts:
            text = text.replace(secret, "***")
        return text
