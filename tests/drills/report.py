"""Print the drills' table from the JSON-lines file the `drill` fixture writes (tests/drills/conftest.py).

    python tests/drills/report.py ROWS.jsonl

One row per drill: scenario, backend, orders, wrong final states, money astray (Rp), time to
converge (s). A drill that failed before its books shows "-" where it has nothing to count and
"failed" as its time; "never" is a drill whose books did not balance in time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (
    "scenario",
    "backend",
    "orders",
    "wrong final states",
    "money astray (Rp)",
    "converge (s)",
)


def rupiah(amount: int) -> str:
    """12345 as "12.345", as Indonesians write it."""
    return f"{amount:,}".replace(",", ".")


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    def count(value: Any) -> str:
        return "-" if value is None else str(value)

    astray = "-" if row["astray"] is None else rupiah(row["astray"])
    if row["converge"] is not None:
        converge = f"{row['converge']:.2f}"
    else:
        converge = "never" if row["orders"] is not None else "failed"
    return (
        row["scenario"],
        row["backend"],
        count(row["orders"]),
        count(row["wrong"]),
        astray,
        converge,
    )


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table (the README shows it as is)."""
    body = [cells(r) for r in rows]
    widths = [max(len(c) for c in column) for column in zip(COLUMNS, *body, strict=False)]

    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join(
        [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)]
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    rows = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if path.exists()
        else []
    )
    if not rows:
        print("no drill recorded a row")
        return 0
    print(table(rows))
    wrong = sum(r["wrong"] or 0 for r in rows)
    astray = sum(r["astray"] or 0 for r in rows)
    unbalanced = sum(1 for r in rows if r["converge"] is None)
    money = rupiah(astray)
    print(
        f"\n{len(rows)} drills: {wrong} wrong final states, Rp {money} astray,"
        f" {unbalanced} not balanced"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
