"""The `bayar` command."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import signal
from pathlib import Path
from typing import IO, Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from bayar import logs
from bayar.config import ConfigError, Settings
from bayar.headers import trusted_proxies
from bayar.sandbox.access import is_loopback

cli = typer.Typer(
    help="bayar: payments for QRIS kiosks and online checkouts.", no_args_is_help=True
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
machine_cli = typer.Typer(help="Vending machines.", no_args_is_help=True)
cli.add_typer(machine_cli, name="machine")

log = logging.getLogger("bayar")
HOST = typer.Option("127.0.0.1", help="address to listen on")


def _settings(*, gateway: bool | None = None) -> Settings:
    """The settings, or one line saying why bayar cannot run with them (exit status 2).
    `gateway`: the process talks to the gateway, embedding the sandbox (True, `bayar up`) or
    through the configured base URLs (False): refused here when there is none to talk to."""
    try:
        settings = Settings()
        settings.server_key()
        settings.client_key()
        trusted_proxies(settings.bayar_trusted_proxies)
        if gateway is not None:
            from bayar.app import gateway_endpoints

            gateway_endpoints(settings, embedded=gateway and settings.bayar_sandbox)
    except ConfigError as error:
        typer.echo(f"bayar: {error}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:
        problem = error.errors()[0]
        name = str(problem["loc"][0]).upper() if problem["loc"] else "a setting"
        typer.echo(f"bayar: {name}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    settings.bayar_var_dir.mkdir(parents=True, exist_ok=True)
    return settings


def hold_var_lock(var_dir: Path) -> IO[str]:
    """`bayar up` owns its var/ (SQLite database, sandbox state, demo kiosk token): a lock held
    with flock until the process ends (the kernel lets go of it even after a kill -9). A second
    `bayar up` on the same var/ refuses, in one line (exit status 2), before printing anything."""
    path = var_dir / "bayar.lock"
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        typer.echo(
            f"bayar: another bayar up (pid {owner}) is running on {var_dir}/; stop it, or give"
            " this one its own folder (BAYAR_VAR_DIR)",
            err=True,
        )
        raise typer.Exit(2) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def gateway_line(settings: Settings) -> str:
    """Which gateway takes the payments, said once at every start."""
    if settings.bayar_sandbox and settings.midtrans_core_base_url:
        return f"gateway: bayar sandbox at {settings.midtrans_core_base_url} (no real money)"
    if settings.bayar_sandbox:
        return "gateway: bayar sandbox (offline, no real money)"
    if settings.midtrans_is_production:
        return "gateway: Midtrans production (real money)"
    return "gateway: Midtrans sandbox (no real money)"


def _sandbox_access(settings: Settings, host: str) -> str | None:
    """Where the sandbox's hand controls (control API, simulator pages) can be used from."""
    if not settings.bayar_sandbox or is_loopback(host):
        return None
    if settings.bayar_sandbox_token is None:
        return "sandbox controls: closed beyond loopback (set BAYAR_SANDBOX_TOKEN to open them)"
    return "sandbox controls: need BAYAR_SANDBOX_TOKEN (bearer, or ?token= on a page)"


def _banner(settings: Settings, host: str, *, embedded: bool = True) -> None:
    typer.echo(gateway_line(settings))
    access = _sandbox_access(settings, host) if embedded else None
    if access is not None:
        typer.echo(access)


def _shown(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104


def _serve(app: Any, host: str, port: int, *, grace: int) -> None:
    """uvicorn until SIGTERM (or Ctrl-C). Then it stops accepting, lets in-flight requests
    (webhooks, checkouts) finish, closes every WebSocket with 1012 "service restart" (kiosks
    reconnect at once, through the load balancer to another process), and exits within `grace`
    seconds (BAYAR_SHUTDOWN_GRACE): what is still running then is cancelled."""
    logs.configure()
    # The objects loaded at start (modules, routes, mappers) live as long as the process: keep them
    # out of the collector's scans, and collect the young generation less often (fewer pauses).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    # X-Forwarded-For is read by the app, from BAYAR_TRUSTED_PROXIES only (bayar.headers); uvicorn's
    # own reading would believe any local peer.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=grace,
    )


def _demo_token(settings: Settings) -> str:
    """The demo kiosk's token (made on the first start, kept in var/)."""
    from bayar.storage.db import Database
    from bayar.vending.machines import ensure_demo_machine

    async def run() -> str:
        db = Database(settings.database())
        try:
            from bayar.storage.seed import seed_demo_catalog

            await seed_demo_catalog(db)
            return (await ensure_demo_machine(db, settings.bayar_var_dir))[1]
        finally:
            await db.close()

    return asyncio.run(run())


def _upgrade(settings: Settings) -> None:
    from bayar.storage.migrate import upgrade

    upgrade(settings.database())


@cli.command()
def up(host: str = HOST, port: int = typer.Option(8000, help="port to listen on")) -> None:
    """Everything in one process on embedded defaults: SQLite under ./var/, in-process bus and
    worker, the sandbox at /sandbox, a demo catalog."""
    from bayar.app import SANDBOX_PATH, create_app
    from bayar.vending.machines import DEMO_MACHINE

    settings = _settings(gateway=True)
    lock = hold_var_lock(settings.bayar_var_dir)  # held until this process ends
    _upgrade(settings)
    base = _shown(host, port)
    app = create_app(settings, public_url=base, host=host)
    typer.echo(f"bayar is starting on {base}/")
    _banner(settings, host)
    typer.echo(f"  shop                {base}/")
    password = settings.bayar_admin_password
    admin = "" if password and password.get_secret_value() else "  (set BAYAR_ADMIN_PASSWORD)"
    typer.echo(f"  admin               {base}/admin{admin}")
    typer.echo(f"  products API        {base}/api/products")
    if settings.bayar_sandbox:
        typer.echo(f"  sandbox simulator   {base}{SANDBOX_PATH}/")
        typer.echo(f"  Midtrans API base   {base}{SANDBOX_PATH}/midtrans")
    typer.echo(f"  API documentation   {base}/docs")
    typer.echo(
        f"  demo kiosk          {base}/kiosk/{DEMO_MACHINE[0]}?token={_demo_token(settings)}"
    )
    _serve(app, host, port, grace=settings.bayar_shutdown_grace)
    lock.close()


@cli.command()
def serve(host: str = HOST, port: int = typer.Option(8000, help="port to listen on")) -> None:
    """The web application and API only, one of a fleet: run `bayar db upgrade` (or `bayar seed`)
    once and `bayar worker` beside it. It seeds nothing: a process with a var/ of its own would
    otherwise give the shared demo machine a new token, cutting its kiosk off."""
    from bayar.app import create_app

    settings = _settings(gateway=False)
    app = create_app(
        settings,
        public_url=_shown(host, port),
        host=host,
        run_worker=False,
        seed=False,
        embed_sandbox=False,
    )
    typer.echo(f"bayar serve on {_shown(host, port)}/")
    _banner(settings, host, embedded=False)
    _serve(app, host, port, grace=settings.bayar_shutdown_grace)


@cli.command()
def worker() -> None:
    """Reconciliation and expiry of open orders. Several may run against one PostgreSQL, and
    they ask the fleet's gateway (in sandbox mode: MIDTRANS_CORE_BASE_URL, a `bayar sandbox`)."""
    from bayar.app import build_context
    from bayar.worker.runner import Worker

    settings = _settings(gateway=False)
    typer.echo(f"bayar worker; {gateway_line(settings)}")
    logs.configure()

    async def run() -> None:
        context = build_context(settings)
        worker = Worker(context.payments, context.vending, interval=settings.bayar_worker_interval)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        try:
            worker.start()
            await stopping.wait()
            log.info("stopping: the current pass may take %ss", settings.bayar_shutdown_grace)
            await worker.stop(grace=settings.bayar_shutdown_grace)
        finally:
            await context.payments.gateway.aclose()
            await context.bus.close()
            await context.db.close()

    asyncio.run(run())


@cli.command()
def sandbox(host: str = HOST, port: int = typer.Option(8001, help="port to listen on")) -> None:
    """The Midtrans emulator alone, its API at /sandbox/midtrans."""
    from bayar.sandbox.app import standalone_app

    settings = _settings()
    try:
        app = standalone_app(settings, host=host)  # refuses production settings, as bayar up
    except ConfigError as error:
        typer.echo(f"bayar: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"bayar sandbox on {_shown(host, port)}/sandbox/ (API base /sandbox/midtrans)")
    typer.echo("gateway: bayar sandbox (offline, no real money)")
    access = _sandbox_access(settings.model_copy(update={"bayar_sandbox": True}), host)
    if access is not None:
        typer.echo(access)
    _serve(app, host, port, grace=settings.bayar_shutdown_grace)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (DATABASE_URL, default a SQLite file under ./var/) to the latest schema."""
    _upgrade(_settings())
    typer.echo("database is up to date")


@cli.command()
def seed() -> None:
    """Add the demo catalog to an empty database."""
    from bayar.storage.db import Database
    from bayar.storage.seed import seed_demo_catalog

    settings = _settings()
    _upgrade(settings)

    async def run() -> int:
        db = Database(settings.database())
        try:
            return await seed_demo_catalog(db)
        finally:
            await db.close()

    added = asyncio.run(run())
    typer.echo(f"{added} demo products added" if added else "the catalog already has products")


def _slot(text: str) -> tuple[str, str, int, int]:
    """A1=cola:10:12 is slot A1 holding 10 colas of 12."""
    try:
        code, rest = text.split("=", 1)
        product, stock, capacity = rest.split(":")
        parsed = (code.strip(), product.strip(), int(stock), int(capacity))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected CODE=PRODUCT:STOCK:CAPACITY") from None
    if not parsed[0] or not parsed[1] or not 0 <= parsed[2] <= parsed[3]:
        raise typer.BadParameter(f"{text!r}: expected 0 <= STOCK <= CAPACITY")
    return parsed


@machine_cli.command("add")
def machine_add(
    machine_id: str,
    name: Annotated[str, typer.Option(help="shown on the kiosk and in the admin")],
    slot: Annotated[list[str], typer.Option(help="CODE=PRODUCT:STOCK:CAPACITY, once per slot")],
    location: Annotated[str, typer.Option(help="where it stands")] = "",
) -> None:
    """Register a vending machine and its slots; prints its kiosk URL with its secret token."""
    from sqlalchemy.exc import IntegrityError

    from bayar.storage.db import Database
    from bayar.storage.models import Product
    from bayar.vending.machines import create_machine

    settings = _settings()
    _upgrade(settings)
    slots = [_slot(s) for s in slot]

    async def run() -> str:
        db = Database(settings.database())
        try:
            async with db.session() as session:
                for _code, product_id, _stock, _capacity in slots:
                    if await session.get(Product, product_id) is None:
                        raise typer.BadParameter(f"no product {product_id!r}")
            return await create_machine(db, machine_id, name, location or None, slots)
        finally:
            await db.close()

    try:
        token = asyncio.run(run())
    except IntegrityError:
        typer.echo(
            f"bayar: a machine {machine_id!r} (or a slot code twice) exists already", err=True
        )
        raise typer.Exit(1) from None
    base = (settings.bayar_public_url or "http://127.0.0.1:8000").rstrip("/")
    typer.echo(f"machine {machine_id} registered; its kiosk (keep the token secret):")
    typer.echo(f"  {base}/kiosk/{machine_id}?token={token}")


def main() -> None:
    logging.captureWarnings(True)
    cli()
