"""Chooses the language of each request: `?lang=` (the toggle, then remembered in a cookie), the
cookie, Accept-Language, then the default (BAYAR_DEFAULT_LANGUAGE)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bayar import i18n

YEAR = 365 * 24 * 3600


def choose(connection: HTTPConnection, default: str) -> tuple[str, bool]:
    """The language of a request, and whether it was chosen just now (`?lang=`)."""
    chosen = i18n.supported(connection.query_params.get(i18n.QUERY))
    if chosen is not None:
        return chosen, True
    remembered = i18n.supported(connection.cookies.get(i18n.COOKIE))
    accepted = i18n.from_accept_language(connection.headers.get("accept-language"))
    return remembered or accepted or i18n.supported(default) or i18n.DEFAULT, False


def asked(connection: HTTPConnection) -> str | None:
    """The language a request asks for itself (`?lang=`, the cookie, Accept-Language), None when
    it names none: a program calling the API, which gets English."""
    return (
        i18n.supported(connection.query_params.get(i18n.QUERY))
        or i18n.supported(connection.cookies.get(i18n.COOKIE))
        or i18n.from_accept_language(connection.headers.get("accept-language"))
    )


# Every answer's language may follow both.
VARY = "Accept-Language, Cookie"


class LanguageMiddleware:
    def __init__(self, app: ASGIApp, *, default: str = i18n.DEFAULT) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        language, chosen = choose(connection, self.default)
        remember = chosen and connection.cookies.get(i18n.COOKIE) != language

        async def send_remembering(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append("Vary", VARY)
                if remember:
                    headers.append(
                        "Set-Cookie",
                        f"{i18n.COOKIE}={language}; Path=/; Max-Age={YEAR}; SameSite=Lax",
                    )
            await send(message)

        with i18n.use(language):
            await self.app(scope, receive, send_remembering)
