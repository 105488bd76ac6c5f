"""The production layout under load: pay-to-screen latency of a kiosk while webhooks pour in, all
through nginx in front of 2 `bayar serve`, with pgbench on the same PostgreSQL in the same run.

    .venv/bin/python bench/nginx_fleet.py [--seconds 20] [--rate 300] [--payments 60]

What one run does, all on loopback, all cleaned up at the end:

1. `pgbench -N -c C -j 2 -T S` on a scratch database: the ceiling of this PostgreSQL, now.
2. The layout of `make fleet` (deploy/fleet.py: nginx, 2 `bayar serve`, a worker, one
   `bayar sandbox`, on a fresh PostgreSQL database and Redis), `--orders` pending qris orders made
   through nginx, and a kiosk (a machine of its own) connected through nginx.
3. For `--seconds`: signed "pending" notifications (and 30 % duplicates) open-loop at `--rate`/s
   to nginx's /api/payments/notification (bench/webhooks.py's generator), while the kiosk buys
   and pays one drink after another: t0 just before the sandbox is told to settle, t1 when
   PAYMENT_SUCCESS reaches the kiosk's socket (the sandbox's webhook through nginx to either
   process, the status API, the database, the Redis bus, the socket through nginx). DISPENSE is
   answered at once, so each order completes before the next.
4. The same pay-to-screen loop with no webhook load, for comparison.

Results: bench/results/fleet.txt. The machine is shared: the printed CPU use of the rest of the
machine says how much others moved the tail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect

import webhooks
from bayar.sandbox.notify import QUEUE_LATENCY
from bayar.storage.db import Database
from bayar.storage.models import Product
from bayar.vending.machines import create_machine
from benchlib import PG_BASE, create_db, drop_db, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "fleet.txt"
SETTLE_CALLS: list[float] = []  # ms the sandbox took to answer each settle call (inside t0 -> t1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Layout:
    """deploy/fleet.py as `make fleet` runs it, on `database`."""

    def __init__(self, workdir: Path, database: str) -> None:
        self.workdir = workdir
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().startswith(("BAYAR_", "MIDTRANS_"))
            and k.upper() not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(
            DATABASE_URL=f"{PG_BASE}/{database}",
            BAYAR_CREATE_RATE_LIMIT="0",
            BAYAR_SANDBOX_RETRY_JITTER="false",
        )
        self.log = (workdir / "supervisor.log").open("wb")
        ports = [free_port() for _ in range(3)]
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "deploy" / "fleet.py"),
                "--port",
                str(free_port()),
                "--sandbox-port",
                str(ports[0]),
                "--serve-ports",
                f"{ports[1]},{ports[2]}",
                "--dir",
                str(workdir),
            ],
            env=env,
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def state(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.workdir / "fleet.json").read_text())
        return found

    async def ready(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the fleet stopped: see {self.workdir / 'supervisor.log'}")
                if (self.workdir / "fleet.json").is_file():
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{self.state()['url']}/readyz")).status_code == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError("the fleet did not come up")

    def pids(self) -> list[int]:
        processes = self.state()["processes"]
        return [int(p["pid"]) for name, p in processes.items() if name.startswith("serve-")]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Endpoint:
    """What bench/webhooks.py's order maker needs of a server or a sandbox: its URL."""

    def __init__(self, url: str) -> None:
        self.url = url


async def recv_event(ws: ClientConnection, event: str, order_id: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        values: dict[str, Any] = frame.get("values") or {}
        if frame.get("event") == event and values.get("order_id") == order_id:
            return values


async def pay_to_screen(
    client: httpx.AsyncClient,
    layout: Layout,
    machine: tuple[str, str],
    count: int,
    until: asyncio.Event | None = None,
) -> list[float]:
    """Kiosk orders paid one after another; ms from the settle call to PAYMENT_SUCCESS."""
    state = layout.state()
    url, sandbox = state["url"], state["sandbox"]
    machine_id, token = machine
    ws_url = f"{url.replace('http', 'ws', 1)}/ws/kiosk/{machine_id}?token={token}"
    times: list[float] = []
    async with connect(ws_url, open_timeout=10, ping_interval=None) as ws:
        for _ in range(count):
            if until is not None and until.is_set():
                break
            made = await client.post(
                f"{url}/api/payments/create-transaction",
                json={
                    "items": [{"product_id": "cola", "quantity": 1}],
                    "payment_type": "qris",
                    "machine_id": machine_id,
                },
                headers={"X-Kiosk-Token": token},
            )
            made.raise_for_status()
            order_id = made.json()["order_id"]
            started = time.perf_counter()
            paid = await client.post(f"{sandbox}/sandbox/_control/midtrans/{order_id}/pay")
            paid.raise_for_status()
            answered = time.perf_counter()
            await recv_event(ws, "PAYMENT_SUCCESS", order_id)
            times.append((time.perf_counter() - started) * 1000)
            SETTLE_CALLS.append((answered - started) * 1000)
            command = await recv_event(ws, "DISPENSE", order_id)
            await ws.send(
                json.dumps(
                    {
                        "event": "DISPENSE_RESULT",
                        "values": {
                            "order_id": order_id,
                            "dispense_id": command["dispense_id"],
                            "ok": True,
                        },
                    }
                )
            )
            await recv_event(ws, "DISPENSED", order_id)
    return times


async def run(args: argparse.Namespace) -> str:
    say = args.say
    workdir = Path(tempfile.mkdtemp(prefix="bayar-bench-fleet-"))
    stamp = os.getpid()
    pg_db, fleet_db = f"bayar_bench_{stamp}_pgbench", f"bayar_bench_{stamp}_fleet"
    lines: list[str] = []
    layout: Layout | None = None
    try:
        await create_db(pg_db)
        await create_db(fleet_db)
        say("pgbench ceiling")
        await asyncio.to_thread(webhooks.pgbench_init, pg_db)
        ceiling = await asyncio.to_thread(
            webhooks.pgbench_run, pg_db, args.concurrency, args.pgbench_seconds, "before"
        )
        say(f"  {ceiling.tps:.0f} tps")
        say("make fleet layout")
        layout = Layout(workdir, fleet_db)
        await layout.ready()
        db = Database(f"{PG_BASE}/{fleet_db}")
        try:
            async with db.session() as session, session.begin():
                await session.execute(update(Product).values(stock=1_000_000))
            machine_id = f"bench-{stamp}"
            token = await create_machine(
                db, machine_id, "Bench", "Lab", [("A1", "cola", 100_000, 100_000)]
            )
        finally:
            await db.close()
        state = layout.state()
        nginx_port = int(state["url"].rsplit(":", 1)[1])
        async with httpx.AsyncClient(timeout=30) as client:
            say(f"{args.orders} pending orders through nginx")
            bodies = await webhooks.make_orders(
                client,
                Endpoint(state["url"]),
                Endpoint(state["sandbox"]),
                ["cola"],
                args.orders,
            )
            bases = [webhooks.notification_base(b) for b in bodies]
            say("warm-up")
            await pay_to_screen(client, layout, (machine_id, token), 5)
            say(f"pay -> screen, quiet, {args.payments} payments")
            quiet = await pay_to_screen(client, layout, (machine_id, token), args.payments)
            say(f"  p99 {pct(quiet, 0.99):.1f} ms")
            say(
                f"webhooks at {args.rate:g}/s through nginx for {args.seconds} s, and pay -> screen"
            )
            phase = webhooks.Phase("pending via nginx, open loop", 2, f"{args.rate:g}/s")
            feed = webhooks.Feed(nginx_port, bases, 0.3, random.Random(7), "fleet")
            done = asyncio.Event()
            meter = webhooks.CpuMeter(layout.pids())
            load = asyncio.create_task(
                webhooks.open_loop(
                    phase, [feed], args.rate, args.seconds, args.connections, {"no_change"}
                )
            )
            load.add_done_callback(lambda _: done.set())
            loaded = await pay_to_screen(
                client, layout, (machine_id, token), args.payments * 100, until=done
            )
            await load
            cpu = meter.stop()
        say(
            f"  {phase.rate:.0f}/s, p99 {phase.pct(0.99):.1f} ms; pay -> screen p99 {pct(loaded, 0.99):.1f} ms"
        )
        lines += [
            f"bayar fleet bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"command:  {webhooks.command_line()}",
            f"machine:  nproc={os.cpu_count()}, PostgreSQL {webhooks.pg_version()}",
            "layout:   make fleet (deploy/fleet.py): nginx (deploy/nginx/bayar.conf, 1 worker) in"
            " front of 2 bayar serve, a bayar worker, one bayar sandbox; PostgreSQL + Redis bus",
            "",
            f"ceiling:  pgbench -N -c {args.concurrency} -j 2 -T {args.pgbench_seconds}:"
            f" {ceiling.tps:.0f} tps (same PostgreSQL, same run)",
            "",
            "webhooks through nginx, open loop (new 'pending' bodies + 30% duplicates):",
            f"  offered {args.rate:g}/s for {args.seconds} s: answered {phase.rate:.0f}/s"
            f" = {phase.rate / ceiling.tps:.0%} of pgbench; p50 {phase.pct(0.5):.1f} ms,"
            f" p99 {phase.pct(0.99):.1f} ms, max {phase.pct(1.0):.1f} ms;"
            f" errors {sum(phase.errors.values())}",
            f"  CPU % of a core: bayar serve x2 {cpu.bayar:.0f}, PostgreSQL {cpu.postgres:.0f},"
            f" this client {cpu.client:.0f}; the machine {cpu.machine:.0f}% busy",
            "",
            "pay -> screen (sandbox settles -> PAYMENT_SUCCESS on the kiosk's socket via nginx):",
            f"  quiet:          n={len(quiet)}  p50 {pct(quiet, 0.5):.1f} ms"
            f"  p99 {pct(quiet, 0.99):.1f} ms  max {max(quiet, default=float('nan')):.1f} ms",
            f"  webhook load:   n={len(loaded)}  p50 {pct(loaded, 0.5):.1f} ms"
            f"  p99 {pct(loaded, 0.99):.1f} ms  max {max(loaded, default=float('nan')):.1f} ms",
            f"  of which the sandbox's answer to the settle call: p50 {pct(SETTLE_CALLS, 0.5):.1f}"
            f" ms, p99 {pct(SETTLE_CALLS, 0.99):.1f} ms (its state is a SQLite file, as make"
            " fleet runs it)",
            f"  and the sandbox's queue: its notifications leave {QUEUE_LATENCY * 1000:.0f} ms"
            " after the call's answer, as Midtrans' own queue takes (sandbox/notify.py)",
        ]
    finally:
        if layout is not None:
            layout.stop()
        for name in (pg_db, fleet_db):
            with contextlib.suppress(Exception):
                await drop_db(name)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=20, help="webhook load length")
    parser.add_argument("--rate", type=float, default=300, help="webhooks/s offered")
    parser.add_argument("--payments", type=int, default=60, help="quiet pay -> screen payments")
    parser.add_argument("--orders", type=int, default=300, help="pending orders notified about")
    parser.add_argument("--concurrency", type=int, default=32, help="pgbench -c")
    parser.add_argument("--connections", type=int, default=64, help="webhook connections")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the runtime directory")
    args = parser.parse_args()
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    args.say = say
    text = uvloop.run(run(args))
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        say(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
