"""The HTTP client both gateway adapters talk through."""

from __future__ import annotations

import httpx

# Every connection the pool opens is kept for the next call: with httpx's default of 20 kept
# alive, a burst of more than 20 concurrent status calls (a settlement wave) closed the extra
# connections after each answer and opened new ones, a TCP handshake per call.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30)


def client(
    secret: str,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """Basic auth with the secret key as the user name, no redirects followed."""
    return httpx.AsyncClient(
        auth=httpx.BasicAuth(secret, ""),
        headers=headers,
        timeout=timeout,
        transport=transport,
        limits=LIMITS,
        follow_redirects=False,
    )
