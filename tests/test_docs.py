"""The README's copies of generated facts stay equal to the code."""

from __future__ import annotations

import re
from pathlib import Path

from bayar.payments.states import markdown_table

README = Path(__file__).parents[1] / "README.md"


def test_readme_state_table_is_the_code_table() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- state-table:start -->\n(.*?)\n<!-- state-table:end -->", text, re.S)
    assert found, "the README lost its state-table markers"
    assert found.group(1).strip() == markdown_table()


def test_readme_links_only_to_files_that_exist() -> None:
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs|src|bench)/[^)#]+)\)", text):
        assert (README.parent / target).exists(), target
