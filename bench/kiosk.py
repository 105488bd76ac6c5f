"""Kiosk WebSocket: pay-to-screen latency, idle connections per process, and event fan-out.

    .venv/bin/python bench/kiosk.py [--payments 200] [--connections 5000] [--backends sqlite,postgres]

Goals (2-core machine): p99 under 100 ms from the sandbox settling a payment to the kiosk receiving
`PAYMENT_SUCCESS`; at least 5,000 idle kiosk connections held by one process.

What one run does, per backend, all on loopback, all cleaned up at the end (processes stopped,
databases dropped, temporary directory removed):

- backends: `sqlite` is `bayar up` as the README runs it (SQLite file, in-process bus, worker and
  sandbox); `postgres` is the same `bayar up` with DATABASE_URL on a fresh PostgreSQL database and
  REDIS_URL (Redis bus and presence); `pg-memory` is PostgreSQL with the in-process bus. The demo
  machine's slots get a stock of 100,000 first, and a second machine `bench-2` is registered.
1. pay -> screen: one kiosk WebSocket as `demo-1`. Per payment: ORDER (a new request_id) ->
   ORDER_CREATED; t0 just before `POST /sandbox/_control/midtrans/{order_id}/pay`; then the times
   at which PAYMENT_SUCCESS and DISPENSE arrive on the socket; DISPENSE is answered at once with
   DISPENSE_RESULT ok and DISPENSED awaited, so every order completes before the next one.
   Pay -> PAYMENT_SUCCESS covers the sandbox's signed notification to bayar's webhook (in-process),
   the signature check, the confirmation by the status API, the DB transition, the bus and the
   socket; it is split at bayar's log line "order pending -> paid (webhook)". A few warm-up
   payments are not counted.
2. idle connections: K more sockets as `demo-1`, opened in steps from client processes (spawned,
   asyncio + websockets, permessage-deflate offered as a browser does) with a bounded number of
   handshakes in flight. Each counts once its STATE frame has arrived. After each step the server
   is left to settle and its VmRSS read: memory per connection is the least-squares slope of RSS
   over connections (and the plain difference / K). PING -> PONG round trips with 1 and K + 1
   sockets show whether the idle sockets slow the event loop.
3. fan-out: an order of `demo-1` is paid; every one of the K + 1 sockets of `demo-1` must get
   PAYMENT_SUCCESS. Times (one monotonic clock shared by the processes) from the pay call to each
   arrival: p50 and the last one. With --dispensed, the socket that received the single DISPENSE
   then answers it and the DISPENSED fan-out is timed the same way (by default the DISPENSE stays
   unanswered, which saves a second fan-out of the same cost).
4. pay -> screen again, on another machine (`bench-2`, its own socket) while the K sockets of
   `demo-1` stay connected and idle: what a big fleet costs every other kiosk.

Time is taken on the client side; the clients share the two cores with bayar (and PostgreSQL
and Redis), and their CPU time is printed next to bayar's, with what the rest of the machine
used meanwhile (the machine is shared: other people's tests move the tail latencies).
--profile runs py-spy (GIL-holding samples) on bayar in each phase and appends the hot frames.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import platform
import resource
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop
from websockets.asyncio.client import ClientConnection, connect

from benchlib import (
    CLK_TCK,
    HOST,
    PG_BASE,
    BayarProcess,
    bayar_env,
    create_db,
    drop_db,
    own_cpu,
    proc_ticks,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS = Path(__file__).parent / "results" / "kiosk.txt"
GOAL_P99_MS = 100.0
GOAL_CONNECTIONS = 5000
DEMO = "demo-1"
OTHER = "bench-2"
FRAME_TIMEOUT = 30.0
# Put on bayar's PYTHONPATH (not in the project): logs every full (generation 2) garbage
# collection, which stops the event loop for as long as it takes.
GC_PROBE = """\
import gc, os, time
_path = os.environ.get("KIOSK_BENCH_GC_LOG")
if _path:
    _log = open(_path, "a", buffering=1)
    _started = [0.0]

    def _kiosk_bench_gc(phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            _started[0] = time.perf_counter()
        else:
            ms = (time.perf_counter() - _started[0]) * 1000
            _log.write(f"{time.time():.3f} {ms:.1f} {info['collected']}\\n")

    gc.callbacks.append(_kiosk_bench_gc)
"""


# -- small helpers --------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def frame(event: str, values: dict[str, Any] | None = None) -> str:
    return json.dumps({"event": event, "values": values or {}}, separators=(",", ":"))


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


# -- the server -----------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str  # one of BACKENDS
    database: str | None = None  # the PostgreSQL database, created and dropped here
    redis: bool = False

    @property
    def label(self) -> str:
        return BACKENDS[self.name]


BACKENDS = {
    "sqlite": "SQLite, memory bus",
    "postgres": "PostgreSQL, Redis bus",
    "pg-memory": "PostgreSQL, memory bus",
}


class Server(BayarProcess):
    """One `bayar up` process on a free port, in its own directory."""

    def __init__(self, backend: Backend, workdir: Path, *, gc_log: bool = True) -> None:
        self.backend = backend
        directory = workdir / f"up-{backend.name}"
        self.var = directory / "var"
        self.var.mkdir(parents=True, exist_ok=True)
        # A fan-out to thousands of sockets can outlast the default 30 s; the DISPENSE is
        # answered only once every socket has its PAYMENT_SUCCESS (see fan_out_once).
        env = bayar_env(self.var, BAYAR_DISPENSE_TIMEOUT="900")
        if backend.database:
            env.update(DATABASE_URL=f"{PG_BASE}/{backend.database}")
        if backend.redis:
            env.update(REDIS_URL=REDIS_URL)
        self.gc_log = directory / "gc.log" if gc_log else None
        if self.gc_log is not None:
            probe = directory / "gcprobe"
            probe.mkdir(parents=True, exist_ok=True)
            (probe / "sitecustomize.py").write_text(GC_PROBE)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(probe), env.get("PYTHONPATH")) if p)
            env["KIOSK_BENCH_GC_LOG"] = str(self.gc_log)
        super().__init__("up", directory, env, preexec_fn=raise_nofile)
        self.ws_base = f"ws://{HOST}:{self.port}/ws/kiosk"

    @property
    def database_url(self) -> str:
        if self.backend.database:
            return f"{PG_BASE}/{self.backend.database}"
        return f"sqlite:///{self.var / 'bayar.sqlite3'}"

    def token(self) -> str:
        return (self.var / "demo-kiosk.token").read_text().strip()

    async def ready(
        self,
        client: httpx.AsyncClient,
        within: float = 60,
        also: Callable[[], bool] = lambda: True,
        path: str = "/healthz",
    ) -> None:
        """Ready, and the demo kiosk's token written (the signature of the method it overrides)."""
        token = self.var / "demo-kiosk.token"
        await super().ready(client, within, also=lambda: token.is_file() and also(), path=path)

    def paid_times(self) -> dict[str, float]:
        """When bayar logged "order pending -> paid (webhook)", per order (epoch seconds)."""
        found: dict[str, float] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "pending -> paid (webhook)" not in line:
                continue
            with contextlib.suppress(ValueError, KeyError):
                record = json.loads(line)
                found[record["order_id"]] = datetime.fromisoformat(record["time"]).timestamp()
        return found

    def gc_pauses(self) -> list[tuple[float, float]]:
        """(epoch seconds, ms) of each full garbage collection bayar made."""
        if self.gc_log is None or not self.gc_log.is_file():
            return []
        pauses = []
        for line in self.gc_log.read_text().splitlines():
            with contextlib.suppress(ValueError, IndexError):
                at, ms, _collected = line.split()
                pauses.append((float(at), float(ms)))
        return pauses

    def errors(self) -> Counter[str]:
        """The error lines bayar logged, by message and the exception's last line."""
        found: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{") or '"level": "error"' not in line:
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                last = str(record.get("exception", "")).strip().splitlines()[-1:] or [""]
                found[f"{record.get('logger')}: {record.get('message', '').strip()} {last[0]}"] += 1
        return found


async def services_up(*, redis: bool) -> str | None:
    """Why the postgres backend cannot run, or None."""
    try:
        conn = await asyncpg.connect(f"{PG_BASE}/postgres", timeout=3)
        await conn.close()
    except Exception as error:
        return f"PostgreSQL unreachable ({type(error).__name__})"
    if not redis:
        return None
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, 6379), 3)
        writer.close()
    except Exception as error:
        return f"Redis unreachable ({type(error).__name__})"
    return None


async def prepare_machines(server: Server) -> str:
    """Raise demo-1's stock; add machine bench-2 (same slots, stock 100,000). bench-2's token."""
    from bayar.storage.db import Database
    from bayar.vending.machines import DEMO_SLOTS, create_machine

    stock = 100_000
    if server.backend.database:
        conn = await asyncpg.connect(server.database_url)
        try:
            await conn.execute("UPDATE slots SET stock = $1, capacity = $1", stock)
        finally:
            await conn.close()
    else:
        path = server.var / "bayar.sqlite3"
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as lite:
            lite.execute("UPDATE slots SET stock = ?, capacity = ?", (stock, stock))
            lite.commit()
    db = Database(server.database_url)
    try:
        slots = [(code, product, stock, stock) for code, product, _, _ in DEMO_SLOTS]
        return await create_machine(db, OTHER, "Bench Kiosk 2", "Bench", slots)
    finally:
        await db.close()


async def settle(pid: int, within: float = 15.0, idle_share: float = 0.05) -> None:
    """Wait until the server uses less than idle_share of a core over 0.3 s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = proc_ticks(pid)
        await asyncio.sleep(0.3)
        if (proc_ticks(pid) - before) / CLK_TCK < 0.3 * idle_share:
            return


class Profiler:
    """py-spy on the server during one phase (with --profile): where its CPU time went."""

    def __init__(self, args: argparse.Namespace, pid: int, path: Path) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.path = path
        self.lines: list[str] = []
        if not args.profile:
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.process = subprocess.Popen(
            [
                *(spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking", "--gil"),
                *("--format", "raw", "--output", str(path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self, top: int = 10) -> list[str]:
        if self.process is None:
            return []
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.path.is_file():
            return ["(py-spy wrote nothing)"]
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in self.path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [short_frame(f) for f in stack.split(";")[1:]]
            if frames:
                own[frames[-1]] += n
            for name in set(frames):
                inclusive[name] += n
        if not total:
            return ["(no samples)"]
        lines = [f"{total} samples at 100/s of the thread holding the GIL; self time:"]
        lines += [f"  {n * 100 / total:5.1f}%  {name}" for name, n in own.most_common(top)]
        lines.append("inclusive, bayar frames (entry points left out):")
        ours = [
            (name, n)
            for name, n in inclusive.most_common()
            if "bayar/" in name and not any(e in name for e in ENTRY_FRAMES)
        ]
        lines += [f"  {n * 100 / total:5.1f}%  {name}" for name, n in ours[: top * 2]]
        return lines


ENTRY_FRAMES = ("bayar/cli.py", "bayar/__main__.py", "bayar/admin/security.py", "kiosk/routes.py")


def short_frame(text: str) -> str:
    """'func (/…/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py)'."""
    name, _, where = text.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, steal included)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class Ticks:
    """CPU seconds used by a process over a span."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = proc_ticks(pid)

    def seconds(self) -> float:
        return (proc_ticks(self.pid) - self.start) / CLK_TCK


# -- one kiosk, driven step by step --------------------------------------------------------------


class Kiosk:
    """A kiosk socket whose frames are timestamped (time.monotonic) as they arrive."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> Kiosk:
        ws = await connect(url, ping_interval=None, open_timeout=60, max_size=2**22)
        kiosk = cls(ws)
        await kiosk.expect("STATE")
        return kiosk

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self.frames.put_nowait((time.monotonic(), json.loads(raw)))

    async def send(self, event: str, values: dict[str, Any] | None = None) -> float:
        sent = time.monotonic()
        await self.ws.send(frame(event, values))
        return sent

    async def expect(self, event: str, order_id: str | None = None) -> tuple[float, dict[str, Any]]:
        """The next frame named `event` (of `order_id`), skipping others; ERROR raises."""
        deadline = time.monotonic() + FRAME_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (self.reader.done() and self.frames.empty()):
                raise TimeoutError(f"no {event} for {order_id} in {FRAME_TIMEOUT:g} s")
            try:
                at, message = await asyncio.wait_for(self.frames.get(), timeout=left)
            except TimeoutError:
                continue
            values = message.get("values") or {}
            if message.get("event") == "ERROR":
                raise RuntimeError(f"ERROR frame while waiting for {event}: {values}")
            if message.get("event") == event and (
                order_id is None or values.get("order_id") == order_id
            ):
                return at, values

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def ping_probe(kiosk: Kiosk, seconds: float, hz: float = 20.0) -> list[float]:
    """PING -> PONG round trips (ms) at `hz` for `seconds`: how promptly the event loop answers."""
    rtts: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sent = await kiosk.send("PING")
        at, _ = await kiosk.expect("PONG")
        rtts.append((at - sent) * 1000)
        await asyncio.sleep(max(0.0, 1 / hz - (time.monotonic() - sent)))
    return rtts


@dataclass
class Latency:
    label: str
    order: list[float] = field(default_factory=list)  # ORDER -> ORDER_CREATED
    pay_call: list[float] = field(default_factory=list)  # the pay call's round trip
    success: list[float] = field(default_factory=list)  # pay -> PAYMENT_SUCCESS
    dispense: list[float] = field(default_factory=list)  # pay -> DISPENSE
    dispensed: list[float] = field(default_factory=list)  # DISPENSE_RESULT -> DISPENSED
    # Split at bayar's log line "order pending -> paid (webhook)" (ms clock of the log):
    to_paid: list[float] = field(default_factory=list)  # pay -> the transition is logged
    paid_to_screen: list[float] = field(default_factory=list)  # that line -> PAYMENT_SUCCESS
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0  # every process on the machine, bayar and this one included
    seconds: float = 0.0


async def pay_to_screen(
    server: Server,
    http: httpx.AsyncClient,
    machine: str,
    token: str,
    count: int,
    warmup: int,
    label: str,
) -> Latency:
    kiosk = await Kiosk.open(f"{server.ws_base}/{machine}?token={token}")
    result = Latency(label)
    to_wall = time.time() - time.monotonic()
    marks: dict[str, tuple[float, float]] = {}  # order_id -> (pay, PAYMENT_SUCCESS), wall clock
    products = ["cola", "lemon", "teh-manis", "kopi-susu", "air-mineral", "jeruk"]
    try:
        for i in range(warmup + count):
            if i == warmup:
                ticks, cpu, started = Ticks(server.pid), own_cpu(), time.monotonic()
                busy = machine_busy()
            sent = await kiosk.send(
                "ORDER", {"id": products[i % 6], "total": 1, "request_id": uuid.uuid4().hex}
            )
            created_at, created = await kiosk.expect("ORDER_CREATED")
            order_id = created["order_id"]
            t0 = time.monotonic()
            reply = await http.post(f"{server.url}/sandbox/_control/midtrans/{order_id}/pay")
            answered = time.monotonic()
            if reply.status_code != 200:
                raise RuntimeError(f"pay {order_id}: {reply.status_code} {reply.text[:200]}")
            success_at, _ = await kiosk.expect("PAYMENT_SUCCESS", order_id)
            dispense_at, command = await kiosk.expect("DISPENSE", order_id)
            result_sent = await kiosk.send(
                "DISPENSE_RESULT",
                {"order_id": order_id, "dispense_id": command["dispense_id"], "ok": True},
            )
            done_at, _ = await kiosk.expect("DISPENSED", order_id)
            if i >= warmup:
                result.order.append((created_at - sent) * 1000)
                result.pay_call.append((answered - t0) * 1000)
                result.success.append((success_at - t0) * 1000)
                result.dispense.append((dispense_at - t0) * 1000)
                result.dispensed.append((done_at - result_sent) * 1000)
                marks[order_id] = (t0 + to_wall, success_at + to_wall)
        result.server_cpu = ticks.seconds()
        result.client_cpu = own_cpu() - cpu
        result.machine_cpu = machine_busy() - busy
        result.seconds = time.monotonic() - started
    finally:
        await kiosk.close()
    for order_id, paid_at in server.paid_times().items():
        if order_id in marks:
            pay, screen = marks[order_id]
            result.to_paid.append((paid_at - pay) * 1000)
            result.paid_to_screen.append((screen - paid_at) * 1000)
    return result


# -- the client processes that hold the idle sockets ----------------------------------------------


class Holder:
    """The sockets of one client process, with the arrival time of each (event, order_id)."""

    def __init__(self, url: str, deflate: bool) -> None:
        self.url = url
        self.deflate = deflate
        self.socks: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.arrivals: list[dict[tuple[str, str], float]] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self.changed = asyncio.Event()
        self.dispense: dict[str, tuple[int, dict[str, Any]]] = {}
        self.closed = 0

    async def _read(self, index: int, ws: ClientConnection, state: asyncio.Future[None]) -> None:
        seen = self.arrivals[index]
        try:
            async for raw in ws:
                at = time.monotonic()
                message = json.loads(raw)
                event = message.get("event", "")
                values = message.get("values") or {}
                if event == "STATE" and not state.done():
                    state.set_result(None)
                    continue
                key = (event, str(values.get("order_id", "")))
                if key not in seen:
                    seen[key] = at
                    self.counts[key] += 1
                    self.changed.set()
                if event == "DISPENSE":
                    self.dispense[values["order_id"]] = (index, values)
        except Exception:  # noqa: S110 (a dropped socket is counted below)
            pass
        finally:
            self.closed += 1
            self.changed.set()
            if not state.done():
                state.set_exception(ConnectionError("closed before STATE"))

    async def _open_one(self, gate: asyncio.Semaphore) -> float:
        async with gate:
            started = time.monotonic()
            ws = await connect(
                self.url,
                ping_interval=None,
                open_timeout=120,
                max_size=2**22,
                compression="deflate" if self.deflate else None,
            )
            index = len(self.socks)
            self.socks.append(ws)
            self.arrivals.append({})
            state: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.readers.append(asyncio.create_task(self._read(index, ws, state)))
            await asyncio.wait_for(state, 120)
            return time.monotonic() - started

    async def open(self, count: int, in_flight: int) -> dict[str, Any]:
        gate = asyncio.Semaphore(max(1, in_flight))
        started = time.monotonic()
        results = await asyncio.gather(
            *(self._open_one(gate) for _ in range(count)), return_exceptions=True
        )
        times = [r * 1000 for r in results if isinstance(r, float)]
        errors = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
        return {
            "opened": len(times),
            "errors": dict(errors),
            "seconds": time.monotonic() - started,
            "connect_ms": times,
        }

    async def wait(self, events: list[str], order_id: str, within: float) -> dict[str, Any]:
        """Until every live socket saw one of `events` for order_id (or `within` s): arrivals."""
        deadline = time.monotonic() + within
        while True:
            got = sum(self.counts[(e, order_id)] for e in events)
            if got >= len(self.socks) - self.closed or time.monotonic() >= deadline:
                break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
        times: list[float] = []
        which: Counter[str] = Counter()
        for seen in self.arrivals:
            hits = [(seen[(e, order_id)], e) for e in events if (e, order_id) in seen]
            if hits:
                at, event = min(hits)
                times.append(at)
                which[event] += 1
        return {
            "times": times,
            "which": dict(which),
            "missing": len(self.socks) - len(times),
            "closed": self.closed,
            "dispense": order_id in self.dispense,
        }

    async def answer(self, order_id: str) -> float | None:
        if order_id not in self.dispense:
            return None
        index, command = self.dispense[order_id]
        sent = time.monotonic()
        await self.socks[index].send(
            frame(
                "DISPENSE_RESULT",
                {"order_id": order_id, "dispense_id": command["dispense_id"], "ok": True},
            )
        )
        return sent

    async def close(self) -> None:
        gate = asyncio.Semaphore(200)

        async def one(ws: ClientConnection) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 5)

        await asyncio.gather(*(one(ws) for ws in self.socks))
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


def client_main(pipe: Pipe, url: str, deflate: bool) -> None:
    """A client process: obeys commands from the pipe until "quit"."""
    raise_nofile()

    async def run() -> None:
        holder = Holder(url, deflate)
        loop = asyncio.get_running_loop()
        while True:
            command, *params = await loop.run_in_executor(None, pipe.recv)
            if command == "open":
                reply: Any = await holder.open(*params)
            elif command == "wait":
                reply = await holder.wait(*params)
            elif command == "answer":
                reply = await holder.answer(*params)
            elif command == "cpu":
                reply = own_cpu()
            elif command == "close":
                await holder.close()
                reply = own_cpu()
            else:
                pipe.send(None)
                return
            pipe.send(reply)

    uvloop.run(run())


class Clients:
    """The client processes, driven over pipes."""

    def __init__(self, count: int, url: str, deflate: bool) -> None:
        context = mp.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs: list[Any] = []
        for _ in range(count):
            mine, theirs = context.Pipe()
            proc = context.Process(target=client_main, args=(theirs, url, deflate), daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(mine)
            self.procs.append(proc)

    async def call(self, *command: Any, only: int | None = None) -> list[Any]:
        loop = asyncio.get_running_loop()
        pipes = self.pipes if only is None else [self.pipes[only]]
        for pipe in pipes:
            pipe.send(command)
        return list(await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in pipes)))

    async def call_each(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        return list(await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in self.pipes)))

    async def cpu(self) -> float:
        return float(sum(await self.call("cpu")))

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            with contextlib.suppress(Exception):
                pipe.send(("quit",))
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)


# -- idle connections and fan-out -----------------------------------------------------------------


@dataclass
class Step:
    connections: int
    rss_mb: float
    open_seconds: float
    opened: int
    errors: dict[str, int]
    connect_ms: list[float]
    server_cpu: float
    settle_seconds: float


@dataclass
class FanOut:
    label: str
    receivers: int
    arrivals_ms: list[float]
    missing: int
    which: dict[str, int]
    server_cpu: float
    client_cpu: float
    machine_cpu: float = 0.0
    seconds: float = 0.0

    @property
    def elsewhere(self) -> float:
        """Cores busy with other processes meanwhile (PostgreSQL and Redis included)."""
        others = max(0.0, self.machine_cpu - self.server_cpu - self.client_cpu)
        return others / self.seconds if self.seconds else float("nan")


@dataclass
class Fleet:
    connections: int = 0
    rss_start: float = 0.0
    fds_start: int = 0
    fds_end: int = 0
    steps: list[Step] = field(default_factory=list)
    idle_cpu_share: float = 0.0
    ping_alone: list[float] = field(default_factory=list)
    ping_loaded: list[float] = field(default_factory=list)
    fanouts: list[FanOut] = field(default_factory=list)
    busy_latency: Latency | None = None
    rss_closed: float = 0.0
    close_seconds: float = 0.0
    note: str = ""


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def fan_out_once(
    server: Server,
    http: httpx.AsyncClient,
    clients: Clients,
    control: Kiosk,
    receivers: int,
    index: int,
    within: float,
    dispensed: bool,
) -> list[FanOut]:
    await control.send("ORDER", {"id": "cola", "total": 1, "request_id": uuid.uuid4().hex})
    _, created = await control.expect("ORDER_CREATED")
    order_id = created["order_id"]
    await settle(server.pid, within=5)
    ticks, client_cpu, own = Ticks(server.pid), await clients.cpu(), own_cpu()
    busy, t0 = machine_busy(), time.monotonic()
    reply = await http.post(f"{server.url}/sandbox/_control/midtrans/{order_id}/pay")
    if reply.status_code != 200:
        raise RuntimeError(f"pay {order_id}: {reply.status_code} {reply.text[:200]}")
    replies, control_got = await asyncio.gather(
        clients.call("wait", ["PAYMENT_SUCCESS"], order_id, within),
        first_of(control, ["PAYMENT_SUCCESS"], order_id, within),
    )
    times = [t for r in replies for t in r["times"]]
    if control_got is not None:
        times.append(control_got[0])
    success = FanOut(
        f"#{index} PAYMENT_SUCCESS",
        receivers,
        [(t - t0) * 1000 for t in times],
        sum(r["missing"] for r in replies) + (control_got is None),
        {"PAYMENT_SUCCESS": len(times)},
        ticks.seconds(),
        await clients.cpu() - client_cpu + own_cpu() - own,
        machine_busy() - busy,
        time.monotonic() - t0,
    )
    if not dispensed:
        return [success]  # the order stays paid, its DISPENSE unanswered: no more doorbells
    # The one DISPENSE went to whichever socket claimed it first: that socket answers.
    await settle(server.pid, within=5)
    ticks, client_cpu, own = Ticks(server.pid), await clients.cpu(), own_cpu()
    busy = machine_busy()
    sent: float | None = None
    with contextlib.suppress(TimeoutError):
        _, command = await asyncio.wait_for(control.expect("DISPENSE", order_id), 0.2)
        sent = await control.send(
            "DISPENSE_RESULT",
            {"order_id": order_id, "dispense_id": command["dispense_id"], "ok": True},
        )
    if sent is None:
        sent = next((t for t in await clients.call("answer", order_id) if t is not None), None)
    if sent is None:
        return [success]  # nobody got the DISPENSE (the sweeper refunds the order)
    outcomes = ["DISPENSED", "REFUNDED", "MANUAL_REFUND"]
    replies, control_done = await asyncio.gather(
        clients.call("wait", outcomes, order_id, within),
        first_of(control, outcomes, order_id, within),
        return_exceptions=False,
    )
    times = [t for r in replies for t in r["times"]]
    which: Counter[str] = Counter()
    for r in replies:
        which.update(r["which"])
    if control_done is not None:
        times.append(control_done[0])
        which[control_done[1]] += 1
    done = FanOut(
        f"#{index} {'/'.join(sorted(which)) or 'DISPENSED'}",
        receivers,
        [(t - sent) * 1000 for t in times],
        sum(r["missing"] for r in replies) + (control_done is None),
        dict(which),
        ticks.seconds(),
        await clients.cpu() - client_cpu + own_cpu() - own,
        machine_busy() - busy,
        time.monotonic() - sent,
    )
    return [success, done]


async def first_of(
    kiosk: Kiosk, events: list[str], order_id: str, within: float
) -> tuple[float, str] | None:
    """The arrival of the first of `events` for order_id on kiosk, or None after `within` s."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            at, message = await asyncio.wait_for(kiosk.frames.get(), left)
        except TimeoutError:
            return None
        values = message.get("values") or {}
        if message.get("event") in events and values.get("order_id") == order_id:
            return at, str(message["event"])
    return None


async def fleet(
    server: Server,
    http: httpx.AsyncClient,
    args: argparse.Namespace,
    other_token: str,
    say: Callable[[str], None],
    hot: dict[str, list[str]],
    marks: list[tuple[str, float]],
) -> Fleet:
    out = Fleet()
    where = server.dir
    url = f"{server.ws_base}/{DEMO}?token={server.token()}"
    clients = Clients(args.client_procs, url, not args.no_deflate)
    control: Kiosk | None = None
    try:
        await clients.cpu()  # the client processes are up
        control = await Kiosk.open(url)
        await settle(server.pid)
        out.rss_start, out.fds_start = rss_mb(server.pid), fd_count(server.pid)
        say(f"    RSS with 1 socket: {out.rss_start:.1f} MB")
        out.ping_alone = await ping_probe(control, 3)
        total = 0
        steps = max(1, args.steps)
        marks.append(("opening sockets", time.time()))
        profiler = Profiler(args, server.pid, where / "profile-open.txt")
        for share in split(args.connections, steps):
            ticks = Ticks(server.pid)
            commands = [
                ("open", n, max(1, round(args.in_flight * n / share)) if share else 1)
                for n in split(share, args.client_procs)
            ]
            replies = await clients.call_each(commands)
            opened = sum(r["opened"] for r in replies)
            errors: Counter[str] = Counter()
            for r in replies:
                errors.update(r["errors"])
            seconds = max(r["seconds"] for r in replies)
            cpu = ticks.seconds()
            settle_started = time.monotonic()
            await settle(server.pid)
            total += opened
            step = Step(
                total,
                rss_mb(server.pid),
                seconds,
                opened,
                dict(errors),
                [t for r in replies for t in r["connect_ms"]],
                cpu,
                time.monotonic() - settle_started,
            )
            out.steps.append(step)
            say(
                f"    {total:5d} sockets: +{opened} in {seconds:.1f} s"
                f" ({opened / seconds if seconds else 0:.0f}/s), RSS {step.rss_mb:.1f} MB,"
                f" server CPU {cpu:.1f} s{', errors ' + str(dict(errors)) if errors else ''}"
            )
        hot[f"opening {total} sockets"] = profiler.stop()
        out.connections = total
        out.fds_end = fd_count(server.pid)
        marks.append(("idle", time.time()))
        ticks, started = Ticks(server.pid), time.monotonic()
        out.ping_loaded = await ping_probe(control, 3)  # about 1% of a core itself
        out.idle_cpu_share = ticks.seconds() / (time.monotonic() - started)
        marks.append(("fan-out", time.time()))
        profiler = Profiler(args, server.pid, where / "profile-fanout.txt")
        for i in range(1, args.fanouts + 1):
            results = await fan_out_once(
                server, http, clients, control, total + 1, i, args.fanout_timeout, args.dispensed
            )
            for r in results:
                say(
                    f"    fan-out {r.label}: {len(r.arrivals_ms)}/{r.receivers} sockets,"
                    f" p50 {pct(r.arrivals_ms, 0.5):.0f} ms, last {max(r.arrivals_ms, default=0):.0f} ms,"
                    f" server CPU {r.server_cpu:.1f} s"
                )
            out.fanouts.extend(results)
        hot[f"fan-outs to {total + 1} sockets"] = profiler.stop()
        if args.busy_payments:
            await settle(server.pid)
            marks.append((f"pay -> screen on {OTHER}", time.time()))
            say(f"    pay -> screen on {OTHER} with {total + 1} idle sockets on {DEMO}")
            try:
                out.busy_latency = await pay_to_screen(
                    server,
                    http,
                    OTHER,
                    other_token,
                    args.busy_payments,
                    3,
                    f"{OTHER}, {total + 1} idle on {DEMO}",
                )
            except Exception as error:
                out.note = f"pay -> screen on {OTHER} failed: {type(error).__name__}: {error}"
                say(f"    {out.note}")
        marks.append(("closing sockets", time.time()))
        started = time.monotonic()
        await control.close()
        control = None
        await clients.call("close")
        out.close_seconds = time.monotonic() - started
        await settle(server.pid)
        await asyncio.sleep(1)
        out.rss_closed = rss_mb(server.pid)
    finally:
        if control is not None:
            with contextlib.suppress(Exception):
                await control.close()
        clients.stop()
    return out


# -- one backend, the whole run, the report ------------------------------------------------------


@dataclass
class Run:
    backend: Backend
    latency: Latency | None = None
    fleet: Fleet | None = None
    rss_idle: float = 0.0
    skipped: str | None = None
    failed: str | None = None
    errors_logged: Counter[str] = field(default_factory=Counter)
    marks: list[tuple[str, float]] = field(default_factory=list)  # phase, epoch start
    gc_pauses: list[tuple[float, float]] = field(default_factory=list)  # epoch, ms
    hotspots: dict[str, list[str]] = field(default_factory=dict)


async def run_backend(
    backend: Backend, args: argparse.Namespace, workdir: Path, say: Callable[[str], None]
) -> Run:
    run = Run(backend)
    if backend.database:
        await create_db(backend.database)
    run.marks.append(("start-up", time.time()))
    server = Server(backend, workdir, gc_log=not args.no_gc_log)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            await server.ready(http)
            other_token = await prepare_machines(server)
            await settle(server.pid)
            run.rss_idle = rss_mb(server.pid)
            say(f"  bayar up (pid {server.pid}) on {server.url}, RSS {run.rss_idle:.1f} MB")
            say(f"  pay -> screen, {args.payments} payments (+{args.warmup} warm-up)")
            run.marks.append((f"pay -> screen on {DEMO}", time.time()))
            profiler = Profiler(args, server.pid, server.dir / "profile-pay.txt")
            run.latency = await pay_to_screen(
                server, http, DEMO, server.token(), args.payments, args.warmup, "demo-1, alone"
            )
            run.hotspots["pay -> screen"] = profiler.stop()
            lat = run.latency
            say(
                f"    PAYMENT_SUCCESS p50 {pct(lat.success, 0.5):.1f} ms,"
                f" p99 {pct(lat.success, 0.99):.1f} ms, max {max(lat.success):.1f} ms"
            )
            if args.connections:
                say(f"  {args.connections} idle sockets in {args.steps} steps")
                run.fleet = await fleet(
                    server, http, args, other_token, say, run.hotspots, run.marks
                )
    except Exception as error:
        run.failed = f"{type(error).__name__}: {error}"
        say(f"  FAILED: {run.failed}\n{server.tail(15)}")
    finally:
        run.marks.append(("stopping", time.time()))
        server.stop()
        run.errors_logged = server.errors()
        run.gc_pauses = server.gc_pauses()
        if args.keep:
            say(f"  log kept: {server.log_path}")
        if backend.database:
            with contextlib.suppress(Exception):
                await drop_db(backend.database)
    return run


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def versions() -> str:
    from importlib.metadata import version

    names = ("uvicorn", "websockets", "starlette", "sqlalchemy", "redis", "uvloop")
    return ", ".join(f"{n} {version(n)}" for n in names)


def command_line() -> str:
    argv = [".venv/bin/python", "bench/kiosk.py", *sys.argv[1:]]
    return " ".join(shlex.quote(a) for a in argv)


def gc_report(runs: list[Run], out: Callable[[str], None]) -> None:
    if not any(run.gc_pauses for run in runs):
        return
    out("")
    out("4. full garbage collections in bayar (generation 2: the event loop stops meanwhile)")
    out(f"  {'backend':<24}{'phase':<28}{'count':>6}{'max ms':>8}{'total ms':>10}")
    for run in runs:
        if not run.gc_pauses:
            continue
        first = True
        bounds = [*run.marks, ("", float("inf"))]
        for (name, start), (_, end) in itertools.pairwise(bounds):
            pauses = [ms for at, ms in run.gc_pauses if start <= at < end]
            if not pauses:
                continue
            out(
                f"  {run.backend.label if first else '':<24}{name:<28}{len(pauses):>6}"
                f"{max(pauses):>8.0f}{sum(pauses):>10.0f}"
            )
            first = False


def lat_row(label: str, lat: Latency) -> list[str]:
    def q(values: list[float]) -> str:
        top = max(values, default=float("nan"))
        return f"{pct(values, 0.5):7.1f}{pct(values, 0.9):7.1f}{pct(values, 0.99):7.1f}{top:7.1f}"

    rate = len(lat.success) / lat.seconds if lat.seconds else 0.0
    rows = [
        ("PAYMENT_SUCCESS", lat.success),
        ("DISPENSE", lat.dispense),
        ("  pay->paid (log)", lat.to_paid),
        ("  paid->screen", lat.paid_to_screen),
        ("pay call return", lat.pay_call),
        ("ORDER->CREATED", lat.order),
        ("RESULT->DISPENSED", lat.dispensed),
    ]
    lines = [
        f"  {label if i == 0 else '':<36}{len(lat.success) if i == 0 else '':>5}  {name:<18}{q(values)}"
        for i, (name, values) in enumerate(rows)
    ]
    others = max(0.0, lat.machine_cpu - lat.server_cpu - lat.client_cpu)
    lines.append(
        f"  {'':<36}{'':>5}  {lat.seconds:.1f} s, {rate:.1f} payments/s; CPU s: bayar"
        f" {lat.server_cpu:.1f} ({lat.server_cpu * 1000 / max(1, len(lat.success)):.0f} ms a payment,"
        f" ORDER included), this client {lat.client_cpu:.1f}, rest of the machine {others:.1f}"
        f" (= {others / lat.seconds if lat.seconds else 0:.1f} cores busy elsewhere)"
    )
    return lines


def report(
    args: argparse.Namespace, runs: list[Run], started: datetime, load: str, seconds: float
) -> str:
    lines: list[str] = []
    out = lines.append
    out(f"bench/kiosk.py — {started:%Y-%m-%d %H:%M} UTC")
    out(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}")
    out(f"python {platform.python_version()}; {versions()}")
    load_end = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    out(f"load average at start: {load}, at the end: {load_end}; the run took {seconds:.0f} s")
    out(f"command: {command_line()}")
    out(
        f"clients: {args.client_procs} processes for the idle sockets (+ this one), "
        f"{args.in_flight} handshakes in flight, permessage-deflate"
        f" {'NOT offered' if args.no_deflate else 'offered (as browsers do)'}; uvicorn defaults "
        "(websockets-sansio, 20 s keepalive pings)"
    )
    out("")
    out(
        "1. pay -> screen: ms from POST /sandbox/_control/midtrans/{id}/pay to the frame on the kiosk"
    )
    out(f"  {'backend / kiosk':<36}{'n':>5}  {'ms':<18}{'p50':>7}{'p90':>7}{'p99':>7}{'max':>7}")
    for run in runs:
        if run.skipped or run.latency is None:
            out(f"  {run.backend.label:<36}skipped: {run.skipped or run.failed}")
            continue
        lines.extend(lat_row(run.backend.label, run.latency))
        if run.fleet and run.fleet.busy_latency:
            lines.extend(lat_row(f"  {run.fleet.busy_latency.label}", run.fleet.busy_latency))
    out("")
    out("2. idle kiosk sockets held by one bayar process (all as demo-1)")
    out(
        f"  {'backend':<24}{'sockets':>8}{'open s':>8}{'opens/s':>8}{'conn p50':>9}{'conn p99':>9}"
        f"{'RSS MB':>8}{'KB/sock':>9}{'fds':>7}{'bayar CPU s':>12}"
    )
    for run in runs:
        fl = run.fleet
        if fl is None:
            if run.latency is not None:
                out(f"  {run.backend.label:<24}not run{': ' + run.failed if run.failed else ''}")
            continue
        prev, rss_prev = 0, fl.rss_start
        for s in fl.steps:
            added = s.connections - prev
            per = (s.rss_mb - rss_prev) * 1024 / added if added else float("nan")
            errs = f"  errors {s.errors}" if s.errors else ""
            out(
                f"  {run.backend.label if s is fl.steps[0] else '':<24}{s.connections:>8}{s.open_seconds:>8.1f}"
                f"{s.opened / s.open_seconds if s.open_seconds else 0:>8.0f}{pct(s.connect_ms, 0.5):>9.0f}"
                f"{pct(s.connect_ms, 0.99):>9.0f}{s.rss_mb:>8.1f}{per:>9.1f}{'':>7}{s.server_cpu:>12.1f}{errs}"
            )
            prev, rss_prev = s.connections, s.rss_mb
        points = [(0.0, fl.rss_start)] + [(float(s.connections), s.rss_mb) for s in fl.steps]
        total_open = sum(s.open_seconds for s in fl.steps)
        last = fl.steps[-1] if fl.steps else None
        delta = (
            (last.rss_mb - fl.rss_start) * 1024 / fl.connections
            if last and fl.connections
            else float("nan")
        )
        out(
            f"  {'':<24}{fl.connections:>8}{total_open:>8.1f}{fl.connections / total_open if total_open else 0:>8.0f}"
            f"{'':>18}{last.rss_mb if last else float('nan'):>8.1f}{delta:>9.1f}{fl.fds_end:>7}"
            f"{sum(s.server_cpu for s in fl.steps):>12.1f}  (total)"
        )
        out(
            f"  {'':<24}memory per socket: {slope(points) * 1024:.1f} KB (least-squares slope over the steps),"
            f" {delta:.1f} KB (difference / K); RSS with 1 socket {fl.rss_start:.1f} MB,"
            f" after all closed {fl.rss_closed:.1f} MB (closing took {fl.close_seconds:.1f} s)"
        )
        out(
            f"  {'':<24}idle with {fl.connections + 1} sockets: bayar uses {fl.idle_cpu_share * 100:.1f}% of a core;"
            f" fds {fl.fds_start} -> {fl.fds_end}"
        )
        for label, rtts in (
            ("1 socket", fl.ping_alone),
            (f"{fl.connections + 1} sockets", fl.ping_loaded),
        ):
            out(
                f"  {'':<24}PING -> PONG with {label}: p50 {pct(rtts, 0.5):.1f} ms,"
                f" p99 {pct(rtts, 0.99):.1f} ms, max {max(rtts, default=float('nan')):.1f} ms ({len(rtts)} pings)"
            )
        if any(s.errors for s in fl.steps):
            out(f"  {'':<24}(failed handshakes make the memory figures meaningless here)")
        if fl.note:
            out(f"  {'':<24}{fl.note}")
    out("")
    out("3. fan-out: one event to every socket of demo-1; ms from the pay call (PAYMENT_SUCCESS)")
    out("   or from DISPENSE_RESULT (DISPENSED) to each socket's arrival")
    out(
        f"  {'backend':<24}{'event':<22}{'got':>12}{'p50':>8}{'p90':>8}{'p99':>8}{'last':>8}"
        f"{'bayar CPU s':>12}{'clients CPU s':>14}{'cores elsewhere':>16}"
    )
    for run in runs:
        if run.fleet is None:
            continue
        for f in run.fleet.fanouts:
            got = f"{len(f.arrivals_ms)}/{f.receivers}"
            out(
                f"  {run.backend.label if f is run.fleet.fanouts[0] else '':<24}{f.label:<22}{got:>12}"
                f"{pct(f.arrivals_ms, 0.5):>8.0f}{pct(f.arrivals_ms, 0.9):>8.0f}{pct(f.arrivals_ms, 0.99):>8.0f}"
                f"{max(f.arrivals_ms, default=float('nan')):>8.0f}{f.server_cpu:>12.1f}{f.client_cpu:>14.1f}"
                f"{f.elsewhere:>16.1f}"
            )
    gc_report(runs, out)
    out("")
    for run in runs:
        if run.failed:
            out(f"  {run.backend.label}: FAILED {run.failed}")
        if run.errors_logged:
            total = sum(run.errors_logged.values())
            out(f"  {run.backend.label}: bayar logged {total} errors:")
            for text, n in run.errors_logged.most_common(5):
                out(f"    {n:6d} x {text[:160]}")
    out("goals:")
    for run in runs:
        if run.latency is None:
            continue
        p99 = pct(run.latency.success, 0.99)
        ok = "met" if p99 < GOAL_P99_MS else "NOT met"
        out(
            f"  {run.backend.label:<24} pay -> PAYMENT_SUCCESS p99 {p99:.1f} ms < {GOAL_P99_MS:.0f} ms: {ok}"
        )
        fl = run.fleet
        if fl is not None:
            clean = all(not s.errors for s in fl.steps) and fl.connections >= GOAL_CONNECTIONS
            delivered = all(f.missing == 0 for f in fl.fanouts)
            verdict = "met" if clean and delivered else "NOT met"
            out(
                f"  {'':<24} {fl.connections} idle sockets in one process (>= {GOAL_CONNECTIONS}),"
                f" every fan-out delivered to all: {verdict}"
            )
    for run in runs:
        for phase, hot in run.hotspots.items():
            if hot:
                out("")
                out(f"py-spy, {run.backend.label}, {phase}:")
                lines.extend(f"  {line}" for line in hot)
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--payments", type=int, default=200, help="measured payments (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="payments not counted (default 5)")
    parser.add_argument("--connections", type=int, default=5000, help="idle sockets (default 5000)")
    parser.add_argument("--steps", type=int, default=5, help="ramp steps, RSS read after each")
    parser.add_argument(
        "--in-flight", type=int, default=50, help="handshakes in flight (default 50)"
    )
    parser.add_argument("--client-procs", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--fanouts", type=int, default=1, help="paid orders fanned out (default 1)")
    parser.add_argument("--fanout-timeout", type=float, default=60.0, help="seconds per fan-out")
    parser.add_argument(
        "--dispensed",
        action="store_true",
        help="after each fan-out answer the DISPENSE and time the DISPENSED fan-out too",
    )
    parser.add_argument(
        "--busy-payments", type=int, default=30, help="payments on bench-2 while the sockets idle"
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="any of sqlite (SQLite + memory bus), postgres (PostgreSQL + Redis bus),"
        " pg-memory (PostgreSQL + memory bus)",
    )
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="idle sockets do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument(
        "--no-gc-log",
        action="store_true",
        help="do not log bayar's full garbage collections (a sitecustomize on its PYTHONPATH)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server in each phase (slower)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and logs")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    raise_nofile()
    started = datetime.now(UTC)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def say(text: str) -> None:
        print(text, flush=True)

    async def run_all(workdir: Path) -> list[Run]:
        runs: list[Run] = []
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if name not in BACKENDS:
                raise SystemExit(f"unknown backend {name!r}")
            backend = Backend(
                name,
                f"bayar_kiosk_{os.getpid()}" if name != "sqlite" else None,
                redis=name == "postgres",
            )
            say(f"{backend.label}")
            if name != "sqlite":
                why = await services_up(redis=backend.redis)
                if why:
                    say(f"  skipped: {why}")
                    runs.append(Run(backend, skipped=why))
                    continue
            runs.append(await run_backend(backend, args, workdir, say))
        return runs

    workdir = Path(tempfile.mkdtemp(prefix="bayar-kiosk-bench-"))
    clock = time.monotonic()
    try:
        runs = uvloop.run(run_all(workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(args, runs, started, load, time.monotonic() - clock)
    print()
    print(text, end="")
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
