"""`make drills`' table printer (tests/drills/report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report import main


def test_the_table_shows_each_drill_and_the_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "drills.jsonl"
    balanced = {"scenario": "last units", "backend": "sqlite", "orders": 10, "wrong": 0}
    astray = {"scenario": "late payment", "backend": "sqlite", "orders": 1, "wrong": 1}
    failed = {"scenario": "kiosk token", "backend": "sqlite", "orders": None, "wrong": None}
    rows.write_text(
        "\n".join(
            json.dumps(row)
            for row in (
                {**balanced, "astray": 0, "converge": 0.014},
                {**astray, "astray": 1_507_000, "converge": None},
                {**failed, "astray": None, "converge": None},
            )
        )
    )
    assert main(["report.py", str(rows)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("|")[1:-1] == [
        " scenario     ",
        " backend ",
        " orders ",
        " wrong final states ",
        " money astray (Rp) ",
        " converge (s) ",
    ]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:5]]
    assert cells == [
        ["last units", "sqlite", "10", "0", "0", "0.01"],
        ["late payment", "sqlite", "1", "1", "1.507.000", "never"],
        ["kiosk token", "sqlite", "-", "-", "-", "failed"],
    ]
    assert lines[-1] == "3 drills: 1 wrong final states, Rp 1.507.000 astray, 2 not balanced"


def test_no_rows_no_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report.py", str(tmp_path / "missing.jsonl")]) == 0
    assert capsys.readouterr().out == "no drill recorded a row\n"
