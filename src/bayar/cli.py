"""The `bayar` command."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import typer
import uvicorn

from bayar import logs
from bayar.config import ConfigError, Settings

cli = typer.Typer(
    help="bayar: payments for QRIS kiosks and online checkouts.", no_args_is_help=True
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")

HOST = typer.Option("127.0.0.1", help="address to listen on")


def _settings() -> Settings:
    try:
        settings = Settings()
        settings.server_key()
        settings.client_key()
    except ConfigError as error:
        typer.echo(f"bayar: {error}", err=True)
        raise typer.Exit(2) from None
    settings.bayar_var_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _shown(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104


def _serve(app: Any, host: str, port: int) -> None:
    logs.configure()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


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

    settings = _settings()
    _upgrade(settings)
    base = _shown(host, port)
    app = create_app(settings, public_url=base)
    typer.echo(f"bayar is starting on {base}/")
    typer.echo(f"  products API        {base}/api/products")
    if settings.bayar_sandbox:
        typer.echo(f"  sandbox simulator   {base}{SANDBOX_PATH}/")
        typer.echo(f"  Midtrans API base   {base}{SANDBOX_PATH}/midtrans")
    typer.echo(f"  API documentation   {base}/docs")
    typer.echo(
        f"  demo kiosk          {base}/kiosk/{DEMO_MACHINE[0]}?token={_demo_token(settings)}"
    )
    _serve(app, host, port)


@cli.command()
def serve(host: str = HOST, port: int = typer.Option(8000, help="port to listen on")) -> None:
    """The web application and API only (run `bayar db upgrade` and `bayar worker` beside it)."""
    from bayar.app import create_app

    _serve(create_app(_settings(), public_url=_shown(host, port), run_worker=False), host, port)


@cli.command()
def worker() -> None:
    """Reconciliation and expiry of open orders. Several may run against one PostgreSQL."""
    from bayar.app import build_context
    from bayar.worker.runner import Worker

    settings = _settings()
    logs.configure()
    base = (settings.bayar_public_url or "http://127.0.0.1:8000").rstrip("/")

    async def run() -> None:
        context = build_context(settings, base_url=base)
        try:
            await Worker(
                context.payments, context.vending, interval=settings.bayar_worker_interval
            ).run()
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
    typer.echo(f"bayar sandbox on {_shown(host, port)}/sandbox/ (API base /sandbox/midtrans)")
    _serve(standalone_app(settings), host, port)


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


def main() -> None:
    logging.captureWarnings(True)
    cli()
