"""The sandbox's CPU per Midtrans status call, through `StatusLane` and through the routes.

One `bayar sandbox` process, a few QRIS charges, then rounds of `GET /v2/{id}/status` over
keep-alive connections, alternated: plain (the lane answers) and with a query string (which keeps
the lane out, so the routes answer). The sandbox's CPU comes from /proc; both kinds run in the same
sitting, so their ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import tempfile
from pathlib import Path

import aiohttp
import httpx

from bayar.config import DEMO_SERVER_KEY
from benchlib import CLK_TCK, BayarProcess, SandboxProcess, proc_ticks

RESULTS = Path(__file__).parent / "results" / "sandbox-status.txt"
KINDS = {"lane": "", "routes": "?via=routes"}
CONNECTIONS = 16  # keep-alive, each making its calls one after another


async def calls(
    session: aiohttp.ClientSession, sandbox: BayarProcess, ids: list[str], query: str, count: int
) -> float:
    """Sandbox CPU µs per call over `count` status calls on `CONNECTIONS` connections."""

    async def one_connection(first: int) -> None:
        for n in range(first, count, CONNECTIONS):
            url = f"{sandbox.url}/sandbox/midtrans/v2/{ids[n % len(ids)]}/status{query}"
            async with session.get(url) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"status call answered {answer.status}")

    before = proc_ticks(sandbox.pid)
    await asyncio.gather(*(one_connection(k) for k in range(CONNECTIONS)))
    return (proc_ticks(sandbox.pid) - before) / CLK_TCK / count * 1e6


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    directory = Path(tempfile.mkdtemp(prefix="bayar-bench-"))
    sandbox = SandboxProcess(directory, "http://127.0.0.1:9/nobody")  # charges notify nobody
    key = base64.b64encode(f"{DEMO_SERVER_KEY}:".encode()).decode()
    try:
        async with httpx.AsyncClient() as client:
            await sandbox.ready(client, path="/sandbox/")
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Basic {key}"},
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
        ) as session:
            ids = [f"bench-{n}" for n in range(100)]
            for order_id in ids:
                body = {
                    "payment_type": "qris",
                    "transaction_details": {"order_id": order_id, "gross_amount": 10000},
                }
                charge = f"{sandbox.url}/sandbox/midtrans/v2/charge"
                async with session.post(charge, json=body) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"charge answered {answer.status}")
            for query in KINDS.values():  # warm-up
                await calls(session, sandbox, ids, query, 1000)
            results: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for _ in range(args.rounds):
                for kind, query in KINDS.items():
                    results[kind].append(await calls(session, sandbox, ids, query, args.calls))
            return results
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds of each kind")
    parser.add_argument("--calls", type=int, default=4000, help="status calls per round")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    lines = [
        f"sandbox CPU per status call, {args.rounds} alternated rounds of {args.calls} calls"
        f" ({CONNECTIONS} keep-alive connections):"
    ]
    for kind, figures in results.items():
        shown = ", ".join(f"{f:.0f}" for f in figures)
        lines.append(f"  {kind:7} median {statistics.median(figures):4.0f} µs  ({shown})")
    ratio = statistics.median(results["lane"]) / statistics.median(results["routes"])
    lines.append(f"  the lane takes {ratio:.0%} of the routes' CPU")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
