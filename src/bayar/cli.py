"""The `bayar` command."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

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
product_cli = typer.Typer(
    help="The catalog: products for the shop and the kiosks.", no_args_is_help=True
)
cli.add_typer(product_cli, name="product")

T = TypeVar("T")
log = logging.getLogger("bayar")
HOST = typer.Option("127.0.0.1", help="address to listen on")


def _settings(*, gateway: bool | None = None) -> Settings:
    """The settings, or one line saying why bayar cannot run with them (exit status 2).
    `gateway`: the process talks to the gateway, embedding the sandbox (True, `bayar up`) or
    through the configured base URLs (False): refused here when there is none to talk to."""
    try:
        settings = Settings()
        settings.check()
        trusted_proxies(settings.bayar_trusted_proxies)
        if gateway is not None:
            from bayar.app import gateway_endpoints, xendit_endpoint

            embedded = gateway and settings.bayar_sandbox
            if settings.midtrans_configured():
                gateway_endpoints(settings, embedded=embedded)
            xendit_endpoint(settings, embedded=embedded)
    except ConfigError as error:
        typer.echo(f"bayar: {error}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:
        problem = error.errors()[0]
        name = str(problem["loc"][0]).upper() if problem["loc"] else "a setting"
        typer.echo(f"bayar: {name}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    try:
        settings.bayar_var_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        why = error.strerror or str(error)
        typer.echo(f"bayar: BAYAR_VAR_DIR: cannot use {settings.bayar_var_dir}: {why}", err=True)
        raise typer.Exit(2) from None
    return settings


def database_problem(error: BaseException, url: str) -> str:
    """One line for a database bayar cannot use: what the driver said, and where (no password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    cause: BaseException = error.orig if isinstance(error, DBAPIError) and error.orig else error
    words = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if words.startswith("<class '") and ">: " in words:  # SQLAlchemy's wrap of asyncpg's errors
        words = words.split(">: ", 1)[1]
    try:
        where = make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so without repeating it (it may hold a password)
        where = "an unreadable URL"
    return f"bayar: DATABASE_URL: cannot use the database: {words} ({where})"


def _database_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed: a busy port is said first, in one
    line, instead of after the whole banner."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            why = "is in use already (another bayar?); stop it or choose another with --port"
        else:
            why = f"cannot be used: {error.strerror or error}"
        typer.echo(f"bayar: port {port} on {host} {why}", err=True)
        raise typer.Exit(1) from None
    sock.set_inheritable(True)
    return sock


@contextmanager
def _closed_on_error(sock: socket.socket) -> Iterator[None]:
    """The bound socket is closed when the command stops before serving on it."""
    try:
        yield
    except BaseException:
        sock.close()
        raise


# Where `bayar up` and `bayar serve` say they are reachable, for `bayar machine add` to print the
# kiosk URL when BAYAR_PUBLIC_URL is unset.
SERVED_AT = "served-at"


def _remember_address(settings: Settings, base: str) -> None:
    (settings.bayar_var_dir / SERVED_AT).write_text(base + "\n", encoding="utf-8")


def public_base(settings: Settings) -> str | None:
    """bayar's address for links handed to people: BAYAR_PUBLIC_URL, else where `bayar up` or
    `bayar serve` last ran with this var/ directory; None when neither is known."""
    if settings.bayar_public_url:
        return settings.bayar_public_url.rstrip("/")
    recorded = settings.bayar_var_dir / SERVED_AT
    if recorded.is_file():
        return recorded.read_text(encoding="utf-8").strip().rstrip("/") or None
    return None


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
    if settings.bayar_gateway == "xendit":
        if settings.bayar_sandbox:
            return "gateway: Xendit, on the bayar sandbox (no real money)"
        key = settings.xendit_secret_key.get_secret_value() if settings.xendit_secret_key else ""
        live = key.startswith("xnd_production_")
        return f"gateway: Xendit ({'real money' if live else 'test mode, no real money'})"
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


def _serve(app: Any, sock: socket.socket, settings: Settings) -> None:
    """uvicorn on the bound socket until SIGTERM (or Ctrl-C). Then it stops accepting, lets
    in-flight requests (webhooks, checkouts) finish, closes every WebSocket with 1012 "service
    restart" (kiosks reconnect at once, through the load balancer to another process), and exits
    within BAYAR_SHUTDOWN_GRACE seconds: what is still running then is cancelled."""
    logs.configure(log_format=settings.bayar_log_format)
    # The objects loaded at start (modules, routes, mappers) live as long as the process: keep them
    # out of the collector's scans, and collect the young generation less often (fewer pauses).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    # X-Forwarded-For is read by the app, from BAYAR_TRUSTED_PROXIES only (bayar.headers); uvicorn's
    # own reading would believe any local peer.
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.bayar_shutdown_grace,
    )
    uvicorn.Server(config).run(sockets=[sock])


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
    """Migrate, or say in one line why the database cannot be used (exit status 2)."""
    from bayar.storage.migrate import upgrade

    try:
        upgrade(settings.database())
    except _database_errors() as error:
        typer.echo(database_problem(error, settings.database()), err=True)
        raise typer.Exit(2) from None


def _check_database(settings: Settings) -> None:
    """A command that does not migrate still says first, in one line, that it cannot connect."""
    from bayar.storage.db import Database

    async def ping() -> None:
        db = Database(settings.database())
        try:
            await db.ping()
        finally:
            await db.close()

    try:
        asyncio.run(ping())
    except _database_errors() as error:
        typer.echo(database_problem(error, settings.database()), err=True)
        raise typer.Exit(2) from None


@cli.command()
def up(host: str = HOST, port: int = typer.Option(8000, help="port to listen on")) -> None:
    """Everything in one process on embedded defaults: SQLite under ./var/, in-process bus and
    worker, the sandbox at /sandbox, a demo catalog."""
    from bayar.app import SANDBOX_PATH, create_app
    from bayar.vending.machines import DEMO_MACHINE

    settings = _settings(gateway=True)
    lock = hold_var_lock(settings.bayar_var_dir)  # held until this process ends
    try:
        sock = _bind(host, port)
        with _closed_on_error(sock):
            _upgrade(settings)
        base = _shown(host, port)
        app = create_app(settings, public_url=base, host=host)
        _remember_address(settings, (settings.bayar_public_url or base).rstrip("/"))
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
            typer.echo(f"  Xendit API base     {base}{SANDBOX_PATH}/xendit")
        typer.echo(f"  API documentation   {base}/docs")
        typer.echo(
            f"  demo kiosk          {base}/kiosk/{DEMO_MACHINE[0]}?token={_demo_token(settings)}"
        )
        _serve(app, sock, settings)
    finally:
        lock.close()


@cli.command()
def serve(host: str = HOST, port: int = typer.Option(8000, help="port to listen on")) -> None:
    """The web application and API only, one of a fleet: run `bayar db upgrade` (or `bayar seed`)
    once and `bayar worker` beside it. It seeds nothing: a process with a var/ of its own would
    otherwise give the shared demo machine a new token, cutting its kiosk off."""
    from bayar.app import create_app

    settings = _settings(gateway=False)
    sock = _bind(host, port)
    with _closed_on_error(sock):
        _check_database(settings)
    app = create_app(
        settings,
        public_url=_shown(host, port),
        host=host,
        run_worker=False,
        seed=False,
        embed_sandbox=False,
    )
    _remember_address(settings, (settings.bayar_public_url or _shown(host, port)).rstrip("/"))
    typer.echo(f"bayar serve on {_shown(host, port)}/")
    _banner(settings, host, embedded=False)
    _serve(app, sock, settings)


@cli.command()
def worker() -> None:
    """Reconciliation and expiry of open orders. Several may run against one PostgreSQL, and
    they ask the fleet's gateway (in sandbox mode: MIDTRANS_CORE_BASE_URL, a `bayar sandbox`)."""
    from bayar.app import build_context
    from bayar.worker.runner import Worker

    settings = _settings(gateway=False)
    _check_database(settings)
    typer.echo(f"bayar worker; {gateway_line(settings)}")
    logs.configure(log_format=settings.bayar_log_format)

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
    """The Midtrans and Xendit emulator alone, its APIs at /sandbox/midtrans and /sandbox/xendit."""
    from bayar.sandbox.app import standalone_app

    settings = _settings()
    try:
        app = standalone_app(settings, host=host)  # refuses production settings, as bayar up
    except ConfigError as error:
        typer.echo(f"bayar: {error}", err=True)
        raise typer.Exit(2) from None
    sock = _bind(host, port)
    typer.echo(
        f"bayar sandbox on {_shown(host, port)}/sandbox/"
        " (API bases /sandbox/midtrans and /sandbox/xendit)"
    )
    typer.echo("gateway: bayar sandbox (offline, no real money)")
    access = _sandbox_access(settings.model_copy(update={"bayar_sandbox": True}), host)
    if access is not None:
        typer.echo(access)
    _serve(app, sock, settings)


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

    from bayar.storage import machines as registry
    from bayar.storage.db import Database
    from bayar.vending.machines import create_machine

    settings = _settings()
    slots = [_slot(s) for s in slot]
    codes = [code for code, _product, _stock, _capacity in slots]
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise typer.BadParameter(
            f"slot code {', '.join(twice)} is given twice: each slot of a machine has its own code",
            param_hint="'--slot'",
        )
    _upgrade(settings)

    async def run() -> str:
        db = Database(settings.database())
        try:
            if await registry.machine(db, machine_id) is not None:
                raise _Refused(f"a machine {machine_id!r} exists already")
            named = [product_id for _code, product_id, _stock, _capacity in slots]
            missing = await registry.missing_products(db, named)
            if missing:
                raise typer.BadParameter(f"no product {missing[0]!r}")
            return await create_machine(db, machine_id, name, location or None, slots)
        finally:
            await db.close()

    try:
        token = asyncio.run(run())
    except _Refused as refused:
        typer.echo(f"bayar: {refused}", err=True)
        raise typer.Exit(1) from None
    except IntegrityError:  # another process registered it between the check and the insert
        typer.echo(f"bayar: a machine {machine_id!r} exists already", err=True)
        raise typer.Exit(1) from None
    path = f"/kiosk/{machine_id}?token={token}"
    base = public_base(settings)
    typer.echo(f"machine {machine_id} registered; its kiosk (keep the token secret):")
    if base is None:
        typer.echo(f"  {path}")
        typer.echo("  after bayar's address (set BAYAR_PUBLIC_URL to print the whole URL)")
    else:
        typer.echo(f"  {base}{path}")


class _Refused(Exception):
    """A command cannot do what was asked; the message says why in plain words."""


# -- bayar product add|list|set|archive: the owner's catalog ---------------------------------------
# The rules are bayar.payments.catalog's, the same the admin pages and /api/admin/products follow.


def _price(text: str) -> int:
    from bayar.payments.money import MoneyError, parse_rupiah_input

    try:
        return parse_rupiah_input(text)
    except MoneyError as error:
        raise typer.BadParameter(str(error)) from None


def _catalog(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(db)` on the configured database (migrated first); a refused change is one line
    on stderr and exit status 1."""
    from bayar.payments.errors import PaymentError
    from bayar.storage.db import Database

    settings = _settings()
    _upgrade(settings)

    async def run() -> T:
        db = Database(settings.database())
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except PaymentError as error:
        typer.echo(f"bayar: {error.message}", err=True)
        raise typer.Exit(1) from None


def _product_line(product: Any, held: int = 0) -> str:
    from bayar.payments.money import display

    state = "archived" if product.archived else ("on sale" if product.active else "hidden")
    stock = f"{product.stock} for sale" + (f" ({held} held)" if held else "")
    category = f"  [{product.category}]" if product.category else ""
    return f"{product.id:<20} {product.name:<28} {display(product.price):>12}  {stock:<18} {state}{category}"


@product_cli.command("add")
def product_add(
    name: str,
    price: Annotated[str, typer.Option(help="whole rupiah: 9000, 9.000 or 'Rp 9.000'")],
    stock: Annotated[int, typer.Option(help="units for sale in the shop")] = 0,
    product_id: Annotated[
        str, typer.Option("--id", help="the product's id (default: made of the name)")
    ] = "",
    category: Annotated[str, typer.Option(help="shown with the product in the shop")] = "",
    description: Annotated[str, typer.Option(help="a line or two for the shop")] = "",
    hidden: Annotated[bool, typer.Option("--hidden", help="add it off sale")] = False,
) -> None:
    """Add a product to the catalog (on sale at once unless --hidden)."""
    from bayar.payments import catalog

    amount = _price(price)
    product = _catalog(
        lambda db: catalog.add(
            db,
            name=name,
            price=amount,
            stock=stock,
            product_id=product_id or None,
            category=category,
            description=description,
            active=not hidden,
        )
    )
    typer.echo(f"product {product.id} added")
    typer.echo(_product_line(product))


@product_cli.command("list")
def product_list(
    archived: Annotated[bool, typer.Option("--archived", help="the archived ones too")] = False,
) -> None:
    """The catalog: id, name, price, stock and whether it is on sale, hidden or archived."""
    from bayar.payments import catalog

    entries = _catalog(lambda db: catalog.listing(db, archived=archived))
    if not entries:
        typer.echo("the catalog is empty: add a product with `bayar product add`")
    for entry in entries:
        typer.echo(_product_line(entry.product, entry.held))


@product_cli.command("set")
def product_set(
    product_id: str,
    name: Annotated[str | None, typer.Option(help="a new name")] = None,
    price: Annotated[str | None, typer.Option(help="a new price in whole rupiah")] = None,
    stock: Annotated[int | None, typer.Option(help="units for sale in the shop")] = None,
    category: Annotated[str | None, typer.Option(help="'' removes it")] = None,
    description: Annotated[str | None, typer.Option(help="'' removes it")] = None,
    show: Annotated[
        bool | None, typer.Option("--show/--hide", help="put it on sale, or take it off")
    ] = None,
) -> None:
    """Change a product: what is not given stays as it is."""
    from bayar.payments import catalog

    changes = catalog.Changes(
        name=name,
        price=None if price is None else _price(price),
        stock=stock,
        category=category,
        description=description,
        active=show,
    )
    if changes == catalog.Changes():
        raise typer.BadParameter("nothing to change: give --name, --price, --stock, … or --show")
    entry = _catalog(lambda db: catalog.change(db, product_id, changes))
    typer.echo(f"product {product_id} changed")
    typer.echo(_product_line(entry.product, entry.held))


@product_cli.command("archive")
def product_archive(
    product_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Take a product off sale for good; its old orders and the reports keep it."""
    from bayar.payments import catalog

    if not yes:
        typer.confirm(
            f"Archive {product_id}? It leaves sale for good (this cannot be undone)", abort=True
        )
    product = _catalog(lambda db: catalog.archive(db, product_id))
    typer.echo(f"product {product.id} archived: off sale for good, kept on its old orders")


# -- end of bayar product -------------------------------------------------------------------------


def main() -> None:
    logging.captureWarnings(True)
    cli()
