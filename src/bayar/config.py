"""Settings, read from the environment or `.env` and passed in; nothing reads them at import time."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Fixed keys of the offline sandbox, used when no keys are configured. They are not secrets.
DEMO_SERVER_KEY = "SB-Mid-server-BAYAR-SANDBOX-DEMO"
DEMO_CLIENT_KEY = "SB-Mid-client-BAYAR-SANDBOX-DEMO"
# Xendit's: a development secret key (the mode is in the key's prefix) and a webhook token.
DEMO_XENDIT_SECRET_KEY = "xnd_development_BAYAR_SANDBOX_DEMO"  # noqa: S105 (public demo key)
DEMO_XENDIT_CALLBACK_TOKEN = "bayar-sandbox-demo-xendit-callback-token"  # noqa: S105
XENDIT_SANDBOX_PREFIX = "xnd_development_"


class ConfigError(ValueError):
    """The settings cannot run bayar; the message says which one and why (never a key)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    midtrans_server_key: SecretStr | None = None
    midtrans_client_key: str | None = None
    midtrans_is_production: bool = False

    database_url: str | None = None
    redis_url: str | None = None

    bayar_sandbox: bool = True
    bayar_admin_token: SecretStr | None = None
    bayar_admin_password: SecretStr | None = None
    # Signs the admin session cookie; unset: a random secret kept in <var>/session.secret.
    bayar_session_secret: SecretStr | None = None
    bayar_var_dir: Path = Path("var")
    # Where bayar is reachable, for URLs handed to others (webhook target). Derived from host/port if unset.
    bayar_public_url: str | None = None

    # Gateway endpoints; unset: Midtrans' own hosts (or bayar's sandbox when BAYAR_SANDBOX=true).
    midtrans_core_base_url: str | None = None
    midtrans_snap_base_url: str | None = None
    midtrans_timeout_seconds: float = 15.0

    # Xendit (issue 13): the secret key (HTTP Basic user name) and the webhook verification token
    # Xendit sends as `x-callback-token`. Sandbox mode: demo values when unset.
    xendit_secret_key: SecretStr | None = None
    xendit_callback_token: SecretStr | None = None
    # Which gateway a checkout uses unless it names one (create-transaction's `gateway`).
    bayar_gateway: Literal["midtrans", "xendit"] = "midtrans"
    # Xendit's API base; unset: https://api.xendit.co, or the sandbox `bayar up` embeds. A fleet
    # in sandbox mode points it at its `bayar sandbox` (e.g. http://127.0.0.1:8001/sandbox/xendit).
    xendit_base_url: str | None = None
    xendit_timeout_seconds: float = 15.0

    # Payments.
    # Ask the status API before any notification changes an order (false: trust a signed body's
    # status, never its payment instructions).
    bayar_confirm_paid: bool = True
    bayar_worker_interval: float = 2.0  # seconds between worker passes
    bayar_reconcile_first_check: float = (
        10.0  # seconds after creation before the first status check
    )
    bayar_cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser
    bayar_dispense_timeout: float = 30.0  # seconds a kiosk has to acknowledge a dispense

    # Money safety (issue 8).
    # Needed by the sandbox's control API and simulator when bayar listens beyond loopback.
    bayar_sandbox_token: SecretStr | None = None
    # Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed.
    bayar_trusted_proxies: str = ""
    # An unpaid order holds stock (and its payment page) this long; at least the gateway's minute.
    bayar_hold_minutes: int = Field(default=60, ge=1)
    # Seconds a paid kiosk unit waits for its machine.
    bayar_kiosk_offline_refund: float = Field(default=900.0, gt=0)
    bayar_max_units_per_order: int = Field(default=20, ge=1)
    # create-transaction calls per minute per client address (0: no limit).
    bayar_create_rate_limit: int = Field(default=30, ge=0)
    bayar_max_body_bytes: int = 64 * 1024  # JSON bodies; admin uploads have their own limit

    # Sandbox behaviour.
    bayar_sandbox_state_file: Path | None = (
        None  # default: <var>/sandbox.sqlite3; ":memory:" keeps nothing
    )
    bayar_sandbox_notification_url: str | None = None
    bayar_sandbox_time_scale: float = 1.0
    bayar_sandbox_retry_jitter: bool = True
    bayar_sandbox_notification_timeout: float = 15.0
    bayar_sandbox_merchant_id: str = "G000BAYAR"
    # Where the Xendit emulator sends its callbacks (the dashboard's webhook URL of each product);
    # unset: bayar's own /api/payments/xendit/callback under `bayar up`, nowhere under `bayar sandbox`.
    bayar_sandbox_xendit_callback_url: str | None = None

    # Log lines (issue 11, "plain"): `auto` is human lines on a terminal and JSON otherwise
    # (a file, journald, a collector); `json` or `human` forces one.
    bayar_log_format: Literal["auto", "json", "human"] = "auto"
    # The language of a page when the person chose none and their browser asks for neither
    # (issue 11, "i18n"); the toggle on every page and Accept-Language come first.
    bayar_default_language: Literal["id", "en"] = "id"

    # One fleet (issue 12, "fleet").
    # Namespace of this install's Redis channels and keys; unset: derived from the database
    # (`redis_prefix()`), so two installs sharing one Redis never hear each other.
    bayar_redis_prefix: str | None = None
    bayar_shutdown_grace: int = 20  # seconds a stopping process gives in-flight work (SIGTERM)

    # Issue 12 follow-up ("fleet2").
    # Uploaded product pictures (`<media>/products/`); unset: <var>/media. Every serve of a fleet
    # names the same directory (a shared volume), or a picture exists on one process only.
    bayar_media_dir: Path | None = None
    # Where browsers load snap.js from (the shop's pages and their CSP); unset: derived from the
    # gateway's endpoints. A fleet on `bayar sandbox` sets it to the sandbox behind nginx, e.g.
    # https://pay.example.com/sandbox/midtrans/snap/snap.js, never the sandbox's internal address.
    midtrans_snap_js_url: str | None = None

    # -- what is configured: the one home of which gateways this install can use -----------------

    def midtrans_configured(self) -> bool:
        """Midtrans can take payments here: always in sandbox mode (the demo keys), else when
        MIDTRANS_SERVER_KEY is set."""
        return self.bayar_sandbox or _set(self.midtrans_server_key)

    def xendit_configured(self) -> bool:
        """Xendit can take payments here: always in sandbox mode (the demo key), else when
        XENDIT_SECRET_KEY is set."""
        return self.bayar_sandbox or _set(self.xendit_secret_key)

    def gateways(self) -> tuple[Literal["midtrans", "xendit"], ...]:
        """The gateways configured here, the default (BAYAR_GATEWAY) first when it is one."""
        configured: list[Literal["midtrans", "xendit"]] = []
        if self.midtrans_configured():
            configured.append("midtrans")
        if self.xendit_configured():
            configured.append("xendit")
        configured.sort(key=lambda name: name != self.bayar_gateway)
        return tuple(configured)

    def check(self) -> None:
        """ConfigError, one line naming the setting (never a key), unless bayar can run with these
        settings: no live key with the sandbox, BAYAR_GATEWAY one of the configured gateways, and
        every configured gateway complete (Midtrans: both keys; Xendit: the key and the callback
        token)."""
        self._refuse_mixed_modes()
        if self.bayar_gateway not in self.gateways():
            raise ConfigError(self._missing_default())
        if self.midtrans_configured():
            self.server_key()
            self.client_key()
        if self.xendit_configured():
            self.xendit_secret_key_value()
            self.xendit_callback_token_value()

    def _missing_default(self) -> str:
        if self.bayar_gateway == "xendit":
            return (
                "XENDIT_SECRET_KEY is required when BAYAR_SANDBOX=false and BAYAR_GATEWAY=xendit"
                " (with XENDIT_CALLBACK_TOKEN)"
            )
        other = (
            "; Xendit is configured: set BAYAR_GATEWAY=xendit to use it alone"
            if self.xendit_configured()
            else ""
        )
        return (
            "MIDTRANS_SERVER_KEY is required when BAYAR_SANDBOX=false and BAYAR_GATEWAY=midtrans"
            f" (the default){other}"
        )

    def _refuse_mixed_modes(self) -> None:
        if self.bayar_sandbox:
            self.refuse_live_keys()
        elif not self.bayar_confirm_paid:
            # A signature covers only order_id, status_code and gross_amount: with money at stake
            # every change a notification reports is confirmed with the gateway.
            raise ConfigError(
                "BAYAR_CONFIRM_PAID=false is for the sandbox only: with a real gateway bayar"
                " confirms every change a notification reports"
            )

    def server_key(self) -> str:
        self._refuse_mixed_modes()
        if self.midtrans_server_key is not None and self.midtrans_server_key.get_secret_value():
            return self.midtrans_server_key.get_secret_value()
        if self.bayar_sandbox:
            return DEMO_SERVER_KEY
        raise ConfigError("MIDTRANS_SERVER_KEY is required when BAYAR_SANDBOX=false")

    def client_key(self) -> str:
        if self.bayar_sandbox:
            self.refuse_live_keys()
        if self.midtrans_client_key:
            return self.midtrans_client_key
        if self.bayar_sandbox:
            return DEMO_CLIENT_KEY
        raise ConfigError("MIDTRANS_CLIENT_KEY is required when BAYAR_SANDBOX=false")

    def xendit_secret_key_value(self) -> str:
        """XENDIT_SECRET_KEY, or the demo key in sandbox mode (which refuses a live key)."""
        if self.bayar_sandbox:
            self.refuse_live_keys()
        if self.xendit_secret_key is not None and self.xendit_secret_key.get_secret_value():
            return self.xendit_secret_key.get_secret_value()
        if self.bayar_sandbox:
            return DEMO_XENDIT_SECRET_KEY
        raise ConfigError("XENDIT_SECRET_KEY is required when BAYAR_SANDBOX=false")

    def xendit_callback_token_value(self) -> str:
        """XENDIT_CALLBACK_TOKEN, or the demo token in sandbox mode."""
        token = self.xendit_callback_token
        if token is not None and token.get_secret_value():
            return token.get_secret_value()
        if self.bayar_sandbox:
            return DEMO_XENDIT_CALLBACK_TOKEN
        raise ConfigError("XENDIT_CALLBACK_TOKEN is required when BAYAR_SANDBOX=false")

    def refuse_live_keys(self) -> None:
        """The sandbox never stands in for a live gateway (issue 8, problem 1): with production
        settings it would take real orders and mark them paid for free. Raises ConfigError, one
        line naming the setting (never the key); `server_key()` asks it in sandbox mode, and the
        sandbox itself asks it whatever BAYAR_SANDBOX says."""
        fix = "set BAYAR_SANDBOX=false to take real payments through Midtrans"
        if self.midtrans_is_production:
            raise ConfigError(
                f"the sandbox cannot run with MIDTRANS_IS_PRODUCTION=true: it would stand in for"
                f" the live gateway; {fix}"
            )
        server = self.midtrans_server_key.get_secret_value() if self.midtrans_server_key else ""
        for name, key in (("SERVER", server), ("CLIENT", self.midtrans_client_key or "")):
            if key and not key.startswith("SB-"):
                raise ConfigError(
                    f"the sandbox cannot run with a live MIDTRANS_{name}_KEY (not SB-...): it"
                    f" would stand in for the live gateway; {fix}, or use sandbox keys"
                )
        xendit = self.xendit_secret_key.get_secret_value() if self.xendit_secret_key else ""
        if xendit and not xendit.startswith(XENDIT_SANDBOX_PREFIX):
            raise ConfigError(
                "the sandbox cannot run with a live XENDIT_SECRET_KEY (not"
                f" {XENDIT_SANDBOX_PREFIX}...): it would stand in for the live gateway; set"
                " BAYAR_SANDBOX=false to take real payments, or use a development key"
            )

    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.bayar_var_dir / 'bayar.sqlite3').as_posix()}"

    def redis_prefix(self) -> str:
        """BAYAR_REDIS_PREFIX, or `bayar:<hash of the database>:`. Every process of one install
        names the same database, however it spells the driver or the password: the hash covers
        the backend, host, port and database name (a SQLite file by its absolute path)."""
        if self.bayar_redis_prefix:
            return self.bayar_redis_prefix
        url = make_url(self.database())
        backend = url.get_backend_name()
        if backend == "sqlite":
            where = str(Path(url.database or "").resolve())
        else:
            where = f"{url.host or 'localhost'}:{url.port or ''}/{url.database or ''}"
        digest = hashlib.sha256(f"{backend}://{where}".encode()).hexdigest()[:10]
        return f"bayar:{digest}:"

    def media_path(self) -> Path:
        """BAYAR_MEDIA_DIR, or `<var>/media`."""
        if self.bayar_media_dir is not None:
            return self.bayar_media_dir
        return self.bayar_var_dir / "media"

    def sandbox_state_path(self) -> str:
        if self.bayar_sandbox_state_file is not None:
            return str(self.bayar_sandbox_state_file)
        return str(self.bayar_var_dir / "sandbox.sqlite3")


def _set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())
