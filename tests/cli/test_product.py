"""`bayar product add|list|set|archive`: the owner's catalog from the command line, under the
same rules as the admin pages and the admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayar.cli import cli
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import Product


def _on_sale(env: Path) -> dict[str, Product]:
    async def read() -> dict[str, Product]:
        db = Database(f"sqlite:///{env / 'var' / 'bayar.sqlite3'}")
        try:
            async with db.session() as session:
                return {p.id: p for p in await repo.products(session)}
        finally:
            await db.close()

    return asyncio.run(read())


def test_add_list_set_and_archive_a_product(env: Path) -> None:
    runner = CliRunner()

    added = runner.invoke(
        cli,
        [
            "product",
            "add",
            "Es Teh Tarik",
            "--price",
            "Rp 9.000",
            "--stock",
            "12",
            "--category",
            "Minuman dingin",
            "--description",
            "Teh susu dingin",
        ],
    )

    assert added.exit_code == 0, added.output
    assert "product es-teh-tarik added" in added.output
    product = _on_sale(env)["es-teh-tarik"]
    assert (product.name, product.price, product.stock, product.category, product.description) == (
        "Es Teh Tarik",
        9000,
        12,
        "Minuman dingin",
        "Teh susu dingin",
    )

    changed = runner.invoke(
        cli, ["product", "set", "es-teh-tarik", "--price", "9500", "--name", "Es Teh", "--hide"]
    )
    assert changed.exit_code == 0, changed.output
    assert "es-teh-tarik" not in _on_sale(env)
    listed = runner.invoke(cli, ["product", "list"])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if x.startswith("es-teh-tarik"))
    assert "Es Teh" in line
    assert "Rp 9.500" in line
    assert "12 for sale" in line
    assert "hidden" in line
    shown = runner.invoke(cli, ["product", "set", "es-teh-tarik", "--show"])
    assert shown.exit_code == 0, shown.output
    assert _on_sale(env)["es-teh-tarik"].price == 9500

    archived = runner.invoke(cli, ["product", "archive", "es-teh-tarik", "--yes"])

    assert archived.exit_code == 0, archived.output
    assert "es-teh-tarik" not in _on_sale(env)
    assert "es-teh-tarik" not in runner.invoke(cli, ["product", "list"]).output
    everything = runner.invoke(cli, ["product", "list", "--archived"]).output
    assert "archived" in next(x for x in everything.splitlines() if x.startswith("es-teh-tarik"))


def test_archive_asks_first(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["product", "add", "Kopi", "--price", "5000"]).exit_code == 0

    declined = runner.invoke(cli, ["product", "archive", "kopi"], input="n\n")

    assert declined.exit_code == 1
    assert "kopi" in _on_sale(env)
    accepted = runner.invoke(cli, ["product", "archive", "kopi"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "kopi" not in _on_sale(env)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["product", "add", "Kopi", "--price", "5000"], "a product 'kopi' exists already"),
        (["product", "add", "Gratis", "--price", "0"], "the price must be between"),
        (["product", "add", "Kopi", "--price", "5.5"], "whole rupiah"),
        (["product", "set", "teh", "--price", "5000"], "no product 'teh'"),
        (["product", "set", "kopi"], "nothing to change"),
        (["product", "archive", "teh", "--yes"], "no product 'teh'"),
    ],
)
def test_a_refused_change_says_why_in_one_line(env: Path, args: list[str], says: str) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["product", "add", "Kopi", "--price", "5000"]).exit_code == 0

    result = runner.invoke(cli, args)

    assert result.exit_code != 0
    assert says in result.output, result.output
    assert "Traceback" not in result.output
