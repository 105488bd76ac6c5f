"""The admin's locks: the password (kept only as an scrypt hash), the session cookie and its
secret, CSRF tokens and login throttling.

- BAYAR_ADMIN_PASSWORD is hashed once at startup with scrypt (salted from the session secret);
  a login attempt is hashed the same way and compared in constant time. The clear password is
  never kept or logged.
- The session is Starlette's signed cookie (itsdangerous), named `bayar_admin`, HttpOnly,
  SameSite=Lax, path /admin, 8 hours. Its secret is BAYAR_SESSION_SECRET, or a random one written
  once to `<var>/session.secret` (0600) so every process on the machine shares it.
- A login is a row on the server (table admin_sessions, kept by its id's SHA-256); the cookie
  only names it. Logging out deletes the row, so a copied cookie dies with the session; a
  change of BAYAR_ADMIN_PASSWORD ends every session opened under the old password. A login
  lasts 8 hours from the moment it was made, whatever the activity.
- Every POST form carries the session's CSRF token.
- After 5 wrong passwords from one client, its logins are refused (429) for a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "bayar_admin"
PREFIX = "/admin"
SESSION_SECONDS = 8 * 3600
SECRET_FILE = "session.secret"  # noqa: S105 (a file name)
# scrypt at n=2**14, r=8 (16 MiB, tens of milliseconds): cheap once per login, dear per guess.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


class PasswordCheck:
    """The admin password as a salted scrypt hash; None when no password is configured.

    The salt comes from the session secret, so every process of one deployment derives the
    same hash, and `tag` (a digest of that hash) names the password a session was opened under:
    after the password changes, sessions opened under the old one no longer match."""

    def __init__(self, password: str | None, *, secret: str = "") -> None:
        key = secret.encode() or secrets.token_bytes(32)
        self._salt = hmac.new(key, b"bayar admin password", hashlib.sha256).digest()[:16]
        self._hash = self._derive(password) if password else None

    @property
    def enabled(self) -> bool:
        return self._hash is not None

    @property
    def tag(self) -> str:
        """Which password this is (stored with each session); "" when none is configured."""
        if self._hash is None:
            return ""
        return hashlib.sha256(b"bayar admin session:" + self._hash).hexdigest()

    def _derive(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode(), salt=self._salt, **SCRYPT)

    def verify(self, attempt: str) -> bool:
        """Constant-time; slow on purpose (call it off the event loop)."""
        if self._hash is None:
            return False
        return hmac.compare_digest(self._derive(attempt), self._hash)


def session_secret(configured: str | None, var_dir: Path) -> str:
    """The cookie-signing secret: the configured one, or one kept in `<var>/session.secret`.
    The file is published atomically (written aside, then hard-linked into place), so processes
    starting together agree on one secret and none reads a half-written file."""
    if configured:
        return configured
    path = var_dir / SECRET_FILE
    if path.is_file():
        existing = path.read_text().strip()
        if existing:
            return existing
    var_dir.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=var_dir, prefix=".session-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: use its secret
            os.link(staging, path)
    finally:
        os.unlink(staging)
    return path.read_text().strip()


@dataclass
class Throttle:
    """Wrong passwords per client: `limit` of them lock the client out for `lockout` seconds.
    In memory, per process (several processes each count on their own)."""

    limit: int = 5
    lockout: float = 60.0
    forget_after: float = 900.0
    clock: Any = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _locked: dict[str, float] = field(default_factory=dict)

    def retry_after(self, client: str) -> int:
        """Seconds the client must still wait; 0 when it may try."""
        until = self._locked.get(client)
        if until is None:
            return 0
        left = until - self.clock()
        if left <= 0:
            del self._locked[client]
            return 0
        return max(1, int(left + 0.999))

    def failed(self, client: str) -> None:
        now = self.clock()
        self._prune(now)
        count, _ = self._failures.get(client, (0, now))
        count += 1
        if count >= self.limit:
            self._failures.pop(client, None)
            self._locked[client] = now + self.lockout
        else:
            self._failures[client] = (count, now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _prune(self, now: float) -> None:
        if len(self._failures) + len(self._locked) < 10_000:
            return
        for client, (_, last) in list(self._failures.items()):
            if now - last > self.forget_after:
                del self._failures[client]
        for client, until in list(self._locked.items()):
            if until <= now:
                del self._locked[client]


# -- the session ------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use (an anonymous session has one for the login)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = new_token()
        session["csrf"] = token
    return token


def csrf_valid(session: MutableMapping[str, Any], given: object) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def session_id(session: MutableMapping[str, Any]) -> str:
    """The server-side session the cookie names ("" for none)."""
    found = session.get("sid")
    return found if isinstance(found, str) else ""


def start_session(session: MutableMapping[str, Any], sid: str) -> None:
    """The cookie of a fresh login: the server-side session's id and a new CSRF token."""
    session.clear()
    session["sid"] = sid
    session["csrf"] = new_token()


def sid_digest(sid: str) -> str:
    """What the server keeps of a session id."""
    return hashlib.sha256(sid.encode()).hexdigest()


class AdminSessionMiddleware:
    """Starlette's SessionMiddleware for /admin pages only (the API, shop and kiosk carry no
    session). The cookie gets the Secure flag on HTTPS requests and when the public URL is HTTPS."""

    def __init__(self, app: ASGIApp, *, secret_key: str, always_secure: bool = False) -> None:
        self.app = app
        options: dict[str, Any] = {
            "secret_key": secret_key,
            "session_cookie": COOKIE,
            "max_age": SESSION_SECONDS,
            "path": PREFIX,
            "same_site": "lax",
        }
        self.plain = SessionMiddleware(app, https_only=always_secure, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not is_admin_path(path):
            await self.app(scope, receive, send)
        elif scope.get("scheme") == "https":
            await self.secure(scope, receive, send)
        else:
            await self.plain(scope, receive, send)


def is_admin_path(path: str) -> bool:
    if path.startswith(f"{PREFIX}/static/"):
        return False
    return path == PREFIX or path.startswith(f"{PREFIX}/")
