"""The API as `/openapi.json` declares it, tried by schemathesis (issue 8, problem 14): generated
requests, valid and invalid, against the whole app on SQLite and PostgreSQL. No answer may be a 5xx,
have a status the route does not declare, or a body or content type outside the declared schema.

Bounded and repeatable: a fixed number of examples per operation and mode, derandomized, and no
example database left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from harness import ADMIN_TOKEN, PUBLIC_URL, make_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bayar.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 25  # per operation and generation mode: ~1,000 requests per database
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # so the admin routes get past their check


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    """The app as `bayar up` builds it (sandbox included); schemathesis runs its lifespan.
    Hypothesis keeps its caches under the test's own directory, not in the working tree."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    app = create_app(
        make_settings(database_url, tmp_path / "var"), public_url=PUBLIC_URL, run_worker=False
    )
    try:
        yield app
    finally:
        shutdown_lifespans()
        set_hypothesis_home_dir(None)


def test_every_answer_of_the_api_is_declared_and_none_is_a_5xx(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "an operation schemathesis cannot read"
    assert len(operations) >= 8, [op.label for op in operations]
    failures: dict[str, str] = {}

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Case[Any]) -> None:
                response = case.call(headers=HEADERS)
                case.validate_response(response, checks=CHECKS, headers=HEADERS)

            try:
                exercise()
            except Unsatisfiable:
                # Nothing to get wrong: no parameters (or no constraint) to break in this mode.
                continue
            except Exception as failure:
                failures[f"{operation.label} ({mode.value})"] = str(failure)[:2000]

    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
