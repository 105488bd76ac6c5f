"""The official npm `midtrans-client` (pinned in tests/sandbox/node/package.json, installed from its
lock, which records no registry address) runs unchanged against the sandbox: tests/sandbox/node/check.js.

Needs node and npm (and, the first time, the npm registry through npm's own configuration): skipped
without them locally, failing under CI=true like the service markers of tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

NODE_DIR = Path(__file__).parent / "node"
INSTALL_TIMEOUT = 300
RUN_TIMEOUT = 120


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI=true and node/npm are required: {reason}", pytrace=False)
    pytest.skip(f"node/npm unavailable: {reason} (this fails under CI=true)")


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with midtrans-client installed in tests/sandbox/node/node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("no node or npm on PATH")
    assert node is not None
    assert npm is not None
    if not (NODE_DIR / "node_modules" / "midtrans-client" / "package.json").is_file():
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"npm ci took longer than {INSTALL_TIMEOUT} s")
        if done.returncode != 0:
            _unavailable(f"npm ci failed: {done.stderr.strip()[-500:]}")
    return node


def _run(node: str, sandbox_url: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "SANDBOX_URL": sandbox_url,
        "SERVER_KEY": SERVER_KEY,
        "CLIENT_KEY": CLIENT_KEY,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    done = subprocess.run(
        [node, "check.js"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_official_node_client_runs_unchanged(node: str, sandbox_url: str) -> None:
    out = _run(node, sandbox_url)

    charge = out["charge"]
    assert charge["status_code"] == "201"
    assert charge["transaction_status"] == "pending"
    assert charge["qr_string"]
    assert out["status"]["transaction_status"] == "pending"
    assert out["status"]["order_id"] == charge["order_id"]
    assert out["settled"]["transaction_status"] == "settlement"

    refund = out["refund"]
    assert refund["status_code"] == "200"
    assert refund["transaction_status"] == "refund"
    assert refund["refund_amount"] == "12000.00"
    assert refund["refund_key"] == f"{charge['order_id']}-refund"

    created, got = out["subscription"], out["subscription_get"]
    assert created["status"] == "active"
    assert got["id"] == created["id"]
    assert got["status"] == "active"
    assert got["schedule"]["interval_unit"] == "month"
    assert out["subscription_missing"]["httpStatusCode"] == 404
    assert "Subscription doesn't exist." in out["subscription_missing"]["message"]

    link = out["link"]
    assert (link["status_code"], link["account_status"]) == ("201", "PENDING")
    assert out["link_get"]["account_status"] == "PENDING"
    assert out["approve_status"] == 303
    linked = out["linked_get"]
    assert (linked["status_code"], linked["account_status"]) == ("200", "ENABLED")
    assert {o["name"] for o in linked["metadata"]["payment_options"]} == {
        "GOPAY_WALLET",
        "PAY_LATER",
    }
