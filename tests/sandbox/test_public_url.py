"""The sandbox hands out URLs under BAYAR_PUBLIC_URL when set (a fleet's nginx, which browsers
reach), whatever internal address its caller used; without it, the address it was called on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bayar.config import DEMO_SERVER_KEY, Settings
from bayar.sandbox.app import standalone_app

INTERNAL = "http://sandbox.internal:8001"
PUBLIC = "https://pay.example.com"


async def _answers(tmp_path: Path, public_url: str | None) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path,
        bayar_sandbox_state_file=Path(":memory:"),
        bayar_public_url=public_url,
    )
    app = standalone_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=INTERNAL, auth=(DEMO_SERVER_KEY, "")
    ) as client:
        snap = await client.post(
            "/sandbox/midtrans/snap/v1/transactions",
            json={"transaction_details": {"order_id": "pub-1", "gross_amount": 5000}},
        )
        qris = await client.post(
            "/sandbox/midtrans/v2/charge",
            json={
                "payment_type": "qris",
                "transaction_details": {"order_id": "pub-2", "gross_amount": 5000},
            },
        )
    assert snap.status_code == 201, snap.text
    assert qris.status_code == 200, qris.text
    return {"redirect_url": snap.json()["redirect_url"], "actions": qris.json()["actions"]}


@pytest.mark.parametrize(("public_url", "base"), [(PUBLIC, PUBLIC), (None, INTERNAL)])
async def test_handed_out_urls_are_under_the_public_url(
    tmp_path: Path, public_url: str | None, base: str
) -> None:
    answers = await _answers(tmp_path, public_url)

    assert answers["redirect_url"].startswith(f"{base}/sandbox/midtrans/snap/v2/vtweb/")
    assert answers["actions"]
    assert all(action["url"].startswith(f"{base}/sandbox/") for action in answers["actions"])
