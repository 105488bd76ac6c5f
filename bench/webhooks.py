"""Webhook throughput and latency of `bayar serve` on PostgreSQL, against `pgbench -N` as the ceiling.

    .venv/bin/python bench/webhooks.py [--seconds 15] [--rate 1000] [--workers 1,2] [--concurrency 32]

Goal (2-core machine): bayar's closed-loop notifications/s >= 40% of pgbench -N tps at the same
concurrency, and p99 < 25 ms with notifications arriving open-loop at 1,000/s.

What one run does, all on loopback, all cleaned up at the end (databases dropped, processes stopped,
temporary directory removed):

1. `pgbench -i` into a scratch database and `pgbench -N -c C -j 2 -T S` on the same PostgreSQL:
   the ceiling, measured before and after the bayar phases (the machine is shared and noisy).
2. For each process count K in --workers: a fresh database `bayar_bench_<pid>_k<K>`, `bayar db
   upgrade`, one `bayar sandbox` (the gateway of every process, as in a fleet), K `bayar serve`
   processes on free ports (sandbox mode, demo keys, no worker). The
   sandbox's own notifications go to a sink in this process, so only ours reach bayar. Orders are
   made through `POST /api/payments/create-transaction` (qris), each owned by one process.
3. Signed Midtrans notifications built here (the sandbox's status body of the order,
   status_message "midtrans payment notification", signature_key = sha512(order_id + status_code +
   gross_amount + server key), a `custom_field1` that makes each new body unique). The mix: new
   "pending" notifications (a new inbox row each, the order stays pending) and duplicates
   (an already acknowledged body sent again). "pending" never calls the status API, so the
   `bayar_confirm_paid` setting does not touch the main mix.
   - closed loop: C connections, each sends its next notification when the last one is answered;
   - open loop: notifications scheduled at --rate/s whatever the answers; latency is counted from
     the scheduled time (no coordinated omission), over a fixed pool of keep-alive connections.
4. With the first K only: a settlement run with confirmation on (the default): the orders are paid
   in the sandbox first, then "settlement" notifications arrive; each makes bayar ask the status
   API (the sandbox process) before the order becomes paid.

The load generator is this process (a raw asyncio HTTP/1.1 keep-alive client on uvloop, a few
tens of microseconds of CPU per request); it shares the cores with bayar and PostgreSQL, and its
CPU use is printed. Every answer must be 200 with the expected outcome ("no_change" or "applied"
for a new body, "duplicate" for a repeat).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import uvloop

from bayar.config import DEMO_SERVER_KEY
from benchlib import (
    CLK_TCK,
    HOST,
    PG_BASE,
    BayarProcess,
    SandboxProcess,
    bayar_env,
    create_db,
    drop_db,
    free_port,
    own_cpu,
    postgres_ticks,
    proc_ticks,
)

NOTIFICATION_PATH = "/api/payments/notification"
RESULTS = Path(__file__).parent / "results" / "webhooks.txt"
GOAL_RATIO = 0.40
GOAL_P99_MS = 25.0
GOAL_SETTLED_RATIO = 0.15
SETTLED_CLOSED = "settlement + confirm, closed loop"
APPLIED_OR_SAME = {"applied", "no_change"}
TPS_RE = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
LAT_RE = re.compile(r"latency average = ([0-9.]+) ms")


# -- a minimal HTTP/1.1 keep-alive client (httpx costs several times more CPU per request) --------


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time. Answers must carry Content-Length."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports are no asyncio.Transport subclass
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, HOST, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            self._answer()

    def _answer(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(ConnectionError("answer without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop > 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        if b"\r\nconnection: close" in head:
            self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((int(head[9:12]), body))

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(f"connection lost: {exc}"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


class Pool:
    """A fixed set of open connections to one server; callers queue when all are busy."""

    def __init__(self, port: int, connections: list[Connection]) -> None:
        self.port = port
        self.all = list(connections)
        self.idle = list(connections)
        self.waiters: deque[asyncio.Future[Connection]] = deque()

    @classmethod
    async def open(cls, port: int, size: int) -> Pool:
        return cls(port, list(await asyncio.gather(*(Connection.open(port) for _ in range(size)))))

    async def acquire(self) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            # uvicorn closes keep-alive connections idle for 5 s: replace them.
            self.all.remove(conn)
            conn = await Connection.open(self.port)
            self.all.append(conn)
            return conn
        waiter: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    async def release(self, conn: Connection) -> None:
        if conn.closed:
            self.all.remove(conn)
            conn = await Connection.open(self.port)
            self.all.append(conn)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def close(self) -> None:
        for conn in self.all:
            conn.close()


# -- notifications -----------------------------------------------------------------------------


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def notification_base(status_body: dict[str, Any]) -> dict[str, Any]:
    """A notification as the sandbox would send it, from the sandbox's status body of the order;
    the signature is computed here (and must equal the sandbox's own)."""
    body = dict(status_body)
    body.pop("custom_field1", None)
    body["status_code"] = "200" if body["transaction_status"] == "settlement" else "201"
    body["status_message"] = "midtrans payment notification"
    mine = signature(body["order_id"], body["status_code"], body["gross_amount"], DEMO_SERVER_KEY)
    if body["status_code"] == status_body.get("status_code"):
        assert mine == status_body["signature_key"], "our signature differs from the sandbox's"
    body["signature_key"] = mine
    return body


def http_request(port: int, body: bytes) -> bytes:
    head = (
        f"POST {NOTIFICATION_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nUser-Agent: Veritrans\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Feed:
    """Notifications for the orders of one server: new bodies and repeats of acknowledged ones."""

    port: int
    bases: list[dict[str, Any]]
    dup_ratio: float
    rng: random.Random
    tag: str
    once: bool = False  # each base once, no duplicates: then `exhausted`
    seq: int = 0
    acked: list[bytes] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.once and self.seq >= len(self.bases)

    def next(self) -> tuple[bytes, bool]:
        if not self.once and self.acked and self.rng.random() < self.dup_ratio:
            return self.rng.choice(self.acked[-5000:]), True
        base = self.bases[self.seq % len(self.bases)]
        self.seq += 1
        body = dict(base, custom_field1=f"{self.tag}-{self.seq}")
        return http_request(self.port, json.dumps(body, separators=(",", ":")).encode()), False

    def acknowledged(self, request: bytes) -> None:
        self.acked.append(request)
        if len(self.acked) > 20000:
            del self.acked[:10000]


# -- measuring ------------------------------------------------------------------------------------


def machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class Cpu:
    """CPU use over a phase, in % of one core (the machine as % of all cores)."""

    client: float
    bayar: float
    postgres: float
    machine: float
    sandbox: float = 0.0


class CpuMeter:
    def __init__(self, pids: Iterable[int], sandbox: int | None = None) -> None:
        self.pids = list(pids)
        self.sandbox_pid = sandbox
        self.started = time.monotonic()
        self.client = own_cpu()
        self.children = self._children()
        self.bayar = {pid: proc_ticks(pid) for pid in self.pids}
        self.sandbox = proc_ticks(sandbox) if sandbox is not None else 0
        self.pg = postgres_ticks()
        self.machine = machine_ticks()

    @staticmethod
    def _children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def stop(self, *, client_is_child: bool = False) -> Cpu:
        wall = time.monotonic() - self.started
        client = (self._children() - self.children) if client_is_child else own_cpu() - self.client
        bayar = sum(proc_ticks(pid) - self.bayar[pid] for pid in self.pids) / CLK_TCK
        pg = (postgres_ticks() - self.pg) / CLK_TCK
        busy, total = machine_ticks()
        machine = (busy - self.machine[0]) / max(total - self.machine[1], 1)
        sandbox = (
            (proc_ticks(self.sandbox_pid) - self.sandbox) / CLK_TCK if self.sandbox_pid else 0.0
        )
        return Cpu(
            100 * client / wall,
            100 * bayar / wall,
            100 * pg / wall,
            100 * machine,
            100 * sandbox / wall,
        )


@dataclass
class Phase:
    label: str
    procs: int
    load: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # ms
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    new: int = 0
    dups: int = 0
    lag_ms: float = 0.0  # open loop: how late the generator sent, at worst
    reconnects: int = 0  # open loop: requests sent again on a new connection
    cpu: Cpu | None = None
    instructions: int | None = None  # --callgrind: the serve processes' over the phase

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def record(
        self, started: float, status: int, answer: bytes, dup: bool, expected: set[str]
    ) -> bool:
        self.latencies.append((asyncio.get_running_loop().time() - started) * 1000)
        if dup:
            self.dups += 1
        else:
            self.new += 1
        try:
            outcome = str(json.loads(answer).get("status"))
        except ValueError:
            outcome = "unreadable"
        self.outcomes[outcome] += 1
        if status != 200:
            self.errors[f"http {status} {outcome}"] += 1
            return False
        if (outcome != "duplicate") if dup else (outcome not in expected):
            self.errors[f"unexpected {outcome} for a {'duplicate' if dup else 'new body'}"] += 1
        return True


# -- load -----------------------------------------------------------------------------------------


async def closed_loop(
    phase: Phase, feeds: list[Feed], concurrency: int, seconds: float, expected: set[str]
) -> Phase:
    loop = asyncio.get_running_loop()
    conns = await asyncio.gather(
        *(Connection.open(feeds[i % len(feeds)].port) for i in range(concurrency))
    )
    deadline = loop.time() + seconds

    async def worker(i: int) -> None:
        feed, conn = feeds[i % len(feeds)], conns[i]
        while loop.time() < deadline and not feed.exhausted:
            data, dup = feed.next()
            started = loop.time()
            try:
                status, answer = await conn.request(data)
            except ConnectionError as error:
                phase.errors[f"connection: {error}"] += 1
                conn = await Connection.open(feed.port)
                continue
            if phase.record(started, status, answer, dup, expected) and not dup:
                feed.acknowledged(data)

    started = loop.time()
    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    _, late = await asyncio.wait(tasks, timeout=seconds + 15)
    for task in late:
        task.cancel()
    phase.errors["unfinished (timeout)"] += len(late)
    phase.elapsed = loop.time() - started
    for conn in conns:
        conn.close()
    if not phase.errors["unfinished (timeout)"]:
        del phase.errors["unfinished (timeout)"]
    return phase


async def open_loop(
    phase: Phase,
    feeds: list[Feed],
    rate: float,
    seconds: float,
    connections: int,
    expected: set[str],
    drain: float = 5.0,
) -> Phase:
    loop = asyncio.get_running_loop()
    pools = [await Pool.open(f.port, max(1, connections // len(feeds))) for f in feeds]
    total = int(rate * seconds)
    interval = 1.0 / rate
    tasks: set[asyncio.Task[None]] = set()
    lag = 0.0

    async def fire(feed: Feed, pool: Pool, data: bytes, dup: bool, scheduled: float) -> None:
        conn = await pool.acquire()
        try:
            try:
                status, answer = await conn.request(data)
            except ConnectionError:
                # Closed by the server's keep-alive timeout as we sent: once more, on a new one.
                phase.reconnects += 1
                conn.close()
                conn = await Connection.open(pool.port)
                pool.all.append(conn)
                status, answer = await conn.request(data)
        except ConnectionError as error:
            phase.errors[f"connection: {error}"] += 1
            return
        finally:
            await pool.release(conn)
        if phase.record(scheduled, status, answer, dup, expected) and not dup:
            feed.acknowledged(data)

    start = loop.time() + 0.05
    sent = 0
    while sent < total:
        now = loop.time()
        due = start + sent * interval
        if due > now:
            await asyncio.sleep(due - now)
            continue
        lag = max(lag, now - due)
        while sent < total and start + sent * interval <= now:
            feed_index = sent % len(feeds)
            feed = feeds[feed_index]
            data, dup = feed.next()
            task = loop.create_task(
                fire(feed, pools[feed_index], data, dup, start + sent * interval)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
    if tasks:
        _, late = await asyncio.wait(set(tasks), timeout=drain)
        for task in late:
            task.cancel()
        if late:
            phase.errors[f"unanswered {drain:.0f} s after the last send"] += len(late)
            await asyncio.wait(late, timeout=5)
    phase.elapsed = max(loop.time() - start, 1e-9)
    phase.lag_ms = lag * 1000
    for pool in pools:
        pool.close()
    return phase


async def measured(
    phase: Phase,
    pids: list[int],
    load: Awaitable[Phase],
    sandbox: int | None = None,
    counted: Callgrind | None = None,
) -> Phase:
    if counted is not None:
        await counted.start(pids)
    meter = CpuMeter(pids, sandbox)
    await load
    phase.cpu = meter.stop()
    if counted is not None:
        phase.instructions = await counted.stop(pids)
    return phase


class Callgrind:
    """--callgrind: each serve process runs under valgrind's callgrind, its instrumentation off
    but during the measured phases; a phase's figure is the instructions the serve processes ran
    in it. Instructions do not move with the machine's other load, as CPU time does; under
    callgrind a process runs some 50 times slower, so rates and latencies mean nothing then."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def prefix(self) -> list[str]:
        out = self.workdir / "callgrind.out.%p"
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]

    async def start(self, pids: list[int]) -> None:
        for pid in pids:
            await _control("-i", "on", str(pid))
            await _control("-z", str(pid))

    async def stop(self, pids: list[int]) -> int:
        total = 0
        for pid in pids:
            before = set(self.workdir.glob(f"callgrind.out.{pid}*"))
            await _control("-d", str(pid))
            await _control("-i", "off", str(pid))
            dumped = sorted(set(self.workdir.glob(f"callgrind.out.{pid}*")) - before)
            for path in dumped:
                found = re.search(r"^summary:\s*(\d+)", path.read_text(), re.MULTILINE)
                total += int(found.group(1)) if found else 0
                path.unlink()
        return total


async def _control(*args: str) -> None:
    done = await asyncio.create_subprocess_exec(
        "callgrind_control", *args, stdout=asyncio.subprocess.DEVNULL
    )
    if await done.wait() != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)} failed")


# -- processes and databases -------------------------------------------------------------------


class Server(BayarProcess):
    """One `bayar serve` process, its gateway the sandbox process at `gateway`."""

    def __init__(
        self, database: str, workdir: Path, index: int, gateway: str, prefix: list[str]
    ) -> None:
        directory = workdir / f"serve-{index}"
        env = bayar_env(
            directory / "var",
            DATABASE_URL=f"{PG_BASE}/{database}",
            MIDTRANS_CORE_BASE_URL=f"{gateway}/sandbox/midtrans",
            BAYAR_CREATE_RATE_LIMIT="0",  # the orders all come from this one address
        )
        super().__init__("serve", directory, env, prefix=prefix)


def _deploy_fleet() -> Any:
    """deploy/fleet.py (`make fleet`): its rendering of deploy/nginx/bayar.conf."""
    spec = importlib.util.spec_from_file_location(
        "deploy_fleet", Path(__file__).parents[1] / "deploy" / "fleet.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Nginx:
    """Debian's nginx with the shipped deploy/nginx/bayar.conf, as `make fleet` renders it, in
    front of the serve processes (and the sandbox)."""

    def __init__(self, workdir: Path, servers: list[Server], sandbox: SandboxProcess) -> None:
        fleet = _deploy_fleet()
        self.dir = workdir / "nginx"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / "nginx-temp" / kind).mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        include = self.dir / "bayar.conf"
        include.write_text(
            fleet.render_nginx(
                fleet.NGINX_CONF.read_text(),
                listen=f"{HOST}:{self.port}",
                serve=[s.port for s in servers],
                sandbox=sandbox.port,
            )
        )
        main = self.dir / "nginx.conf"
        main.write_text(fleet.nginx_main(self.dir, include))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.log = (self.dir / "logs" / "stdout.log").open("wb")
        self.process = subprocess.Popen(
            [nginx, "-c", str(main), "-p", str(self.dir)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ready(self, client: httpx.AsyncClient, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.process.returncode}): see {self.dir}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{self.url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"nginx did not answer: see {self.dir}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


async def quiesce(pids: list[int], within: float = 10.0) -> None:
    """Wait until the servers are idle (still finishing requests a phase gave up on)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = sum(proc_ticks(p) for p in pids)
        await asyncio.sleep(0.3)
        if (sum(proc_ticks(p) for p in pids) - before) / CLK_TCK < 0.3 * 0.1 * len(pids):
            return


# -- the sink that takes the sandbox's own notifications ------------------------------------------


class Sink:
    """Answers 200 to the sandbox's own notifications and counts them."""

    def __init__(self) -> None:
        self.received = 0
        self.changed = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, HOST, 0)
        self.url = f"http://{HOST}:{self.server.sockets[0].getsockname()[1]}/sink"

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def wait_for(self, count: int, within: float = 120.0) -> bool:
        """False if fewer than `count` have come within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.received < count:
                    self.changed.clear()
                    await self.changed.wait()
        return self.received >= count

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if match:
                    await reader.readexactly(int(match.group(1)))
                self.received += 1
                self.changed.set()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                    b"Content-Type: application/json\r\n\r\n{}"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


# -- setup of one configuration -----------------------------------------------------------------


@dataclass
class Setup:
    database: str
    sandbox: SandboxProcess
    servers: list[Server]
    pending: list[list[dict[str, Any]]]  # per server: notification bases of pending orders
    settle: list[list[dict[str, Any]]]  # per server: orders to be paid in the settlement run
    nginx: Nginx | None = None  # --nginx: every notification goes through it
    counted: Callgrind | None = None  # --callgrind

    def port_of(self, server: Server) -> int:
        """Where the notifications of `server`'s orders are sent: to it, or to nginx."""
        return self.nginx.port if self.nginx is not None else server.port

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for server in self.servers:
            server.stop()
        self.sandbox.stop()


class Reachable(Protocol):
    """A server or a sandbox, as far as making orders goes: where it answers."""

    url: str


async def make_orders(
    client: httpx.AsyncClient,
    server: Reachable,
    sandbox: Reachable,
    products: list[str],
    count: int,
) -> list[dict[str, Any]]:
    """`count` qris orders through the API; the sandbox's status body of each."""
    bodies: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with gate:
            made = await client.post(
                f"{server.url}/api/payments/create-transaction",
                json={
                    "items": [{"product_id": products[i % len(products)], "quantity": 1}],
                    "payment_type": "qris",
                },
            )
            if made.status_code != 201:
                raise RuntimeError(f"create-transaction: {made.status_code} {made.text[:300]}")
            order = made.json()
            status = await client.get(
                f"{sandbox.url}/sandbox/_control/midtrans/{order['order_id']}"
            )
            status.raise_for_status()
            txn = status.json()["transaction"]
            assert txn["transaction_id"] == order["payment"]["transaction_id"]
            assert txn["gross_amount"] == f"{order['gross_amount']}.00"
            bodies.append(txn)

    await asyncio.gather(*(one(i) for i in range(count)))
    return bodies


async def setup(
    args: argparse.Namespace, procs: int, workdir: Path, sink_url: str, client: httpx.AsyncClient
) -> Setup:
    database = f"bayar_bench_{os.getpid()}_k{procs}"
    await create_db(database)
    env = bayar_env(workdir / "migrate-var", DATABASE_URL=f"{PG_BASE}/{database}")
    upgraded = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bayar",
        "seed",  # migrates, then the demo catalog (`bayar serve` seeds nothing)
        env=env,
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await upgraded.communicate()
    if upgraded.returncode != 0:
        raise RuntimeError(f"bayar seed failed:\n{out.decode(errors='replace')}")
    servers: list[Server] = []
    sandbox = SandboxProcess(workdir / f"k{procs}", sink_url)
    counted = Callgrind(workdir) if args.callgrind else None
    result = Setup(database, sandbox, servers, [], [], counted=counted)
    try:
        await sandbox.ready(client, path="/sandbox/_control/config")
        for index in range(procs):
            prefix = counted.prefix() if counted is not None else []
            server = Server(database, workdir / f"k{procs}", index, sandbox.url, prefix)
            servers.append(server)
            await server.ready(client, within=600 if counted is not None else 60)
        conn = await asyncpg.connect(f"{PG_BASE}/{database}")
        try:
            await conn.execute("UPDATE products SET stock = 1000000")
        finally:
            await conn.close()
        products = [p["id"] for p in (await client.get(f"{servers[0].url}/api/products")).json()]
        settle_each = (
            args.settle_orders // procs
            if args.settle_seconds > 0 and procs == args.workers[0]
            else 0
        )
        for server in servers:
            bases = await make_orders(client, server, sandbox, products, args.orders // procs)
            result.pending.append([notification_base(b) for b in bases])
            result.settle.append(
                await make_orders(client, server, sandbox, products, settle_each)
                if settle_each
                else []
            )
        if args.nginx:
            result.nginx = Nginx(workdir / f"k{procs}", servers, sandbox)
            await result.nginx.ready(client)
    except BaseException:
        result.stop()
        raise
    return result


async def pay_in_sandbox(
    client: httpx.AsyncClient, sandbox: SandboxProcess, orders: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(8)
    bases: list[dict[str, Any]] = []

    async def one(order: dict[str, Any]) -> None:
        async with gate:
            paid = await client.post(
                f"{sandbox.url}/sandbox/_control/midtrans/{order['order_id']}/pay"
            )
            paid.raise_for_status()
            bases.append(notification_base(paid.json()))

    await asyncio.gather(*(one(o) for o in orders))
    return bases


# -- pgbench --------------------------------------------------------------------------------------


@dataclass
class Pgbench:
    label: str
    tps: float
    latency_ms: float
    cpu: Cpu


def pgbench_run(database: str, concurrency: int, seconds: int, label: str) -> Pgbench:
    meter = CpuMeter([])
    done = subprocess.run(
        [
            "pgbench",
            "-h",
            HOST,
            "-U",
            "postgres",
            "-N",
            "-c",
            str(concurrency),
            "-j",
            "2",
            "-T",
            str(seconds),
            database,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    cpu = meter.stop(client_is_child=True)
    tps = TPS_RE.search(done.stdout)
    if done.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    latency = LAT_RE.search(done.stdout)
    return Pgbench(
        label, float(tps.group(1)), float(latency.group(1)) if latency else float("nan"), cpu
    )


def pgbench_init(database: str) -> None:
    subprocess.run(
        ["pgbench", "-h", HOST, "-U", "postgres", "-i", "-q", "-s", "1", database],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


# -- the run --------------------------------------------------------------------------------------


def background_load(seconds: float = 1.0) -> float:
    busy, total = machine_ticks()
    time.sleep(seconds)
    busy2, total2 = machine_ticks()
    return 100 * (busy2 - busy) / max(total2 - total, 1)


async def run(args: argparse.Namespace) -> tuple[list[Pgbench], list[Phase], float]:
    workdir = Path(tempfile.mkdtemp(prefix="bayar-bench-"))
    rng = random.Random(args.seed)
    phases: list[Phase] = []
    ceilings: list[Pgbench] = []
    background = background_load()
    pg_db = f"bayar_bench_{os.getpid()}_pgbench"
    sink = Sink()
    await sink.start()
    created: list[str] = [pg_db]
    say = args.say
    try:
        await create_db(pg_db)
        say(f"pgbench -i -s 1 {pg_db}")
        await asyncio.to_thread(pgbench_init, pg_db)
        say(f"pgbench -N -c {args.concurrency} -j 2 -T {args.pgbench_seconds}  (before)")
        ceilings.append(
            await asyncio.to_thread(
                pgbench_run, pg_db, args.concurrency, args.pgbench_seconds, "before"
            )
        )
        say(f"  {ceilings[-1].tps:.0f} tps")
        async with httpx.AsyncClient(timeout=30) as client:
            for procs in args.workers:
                say(f"setup: {procs} bayar serve process(es), {args.orders} orders")
                created.append(f"bayar_bench_{os.getpid()}_k{procs}")
                ready = await setup(args, procs, workdir, sink.url, client)
                try:
                    await pending_phases(args, ready, rng, phases)
                    if any(ready.settle):
                        await settlement(args, ready, rng, client, sink, phases)
                finally:
                    ready.stop()
                    await drop_db(ready.database)
        say(f"pgbench -N -c {args.concurrency} -j 2 -T {args.pgbench_seconds}  (after)")
        ceilings.append(
            await asyncio.to_thread(
                pgbench_run, pg_db, args.concurrency, args.pgbench_seconds, "after"
            )
        )
        say(f"  {ceilings[-1].tps:.0f} tps")
    finally:
        sink.close()
        for name in created:
            with contextlib.suppress(Exception):
                await drop_db(name)
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ceilings, phases, background


async def pending_phases(
    args: argparse.Namespace, ready: Setup, rng: random.Random, phases: list[Phase]
) -> None:
    """The main mix: new "pending" notifications and duplicates, closed loop then open loop."""
    procs, pids, say = len(ready.servers), [s.pid for s in ready.servers], args.say
    feeds = [
        Feed(ready.port_of(s), bases, args.dup_ratio, rng, f"k{procs}s{i}")
        for i, (s, bases) in enumerate(zip(ready.servers, ready.pending, strict=True))
    ]
    expected = {"no_change"}
    say("  warm-up 2 s")
    await closed_loop(Phase("warm-up", procs, ""), feeds, args.concurrency, 2, expected)
    await quiesce(pids)
    closed = Phase("pending, closed loop", procs, f"c={args.concurrency}")
    say(f"  {closed.label}, {args.seconds} s")
    load = closed_loop(closed, feeds, args.concurrency, args.seconds, expected)
    phases.append(await measured(closed, pids, load, ready.sandbox.pid, ready.counted))
    say(f"    {closed.rate:.0f}/s, p99 {closed.pct(0.99):.1f} ms")
    await quiesce(pids)
    if ready.counted is not None:
        return  # an open loop's rate means nothing under callgrind
    opened = Phase("pending, open loop", procs, f"{args.rate:g}/s")
    say(f"  {opened.label} at {args.rate:g}/s, {args.seconds} s")
    load = open_loop(opened, feeds, args.rate, args.seconds, args.connections, expected)
    phases.append(await measured(opened, pids, load, ready.sandbox.pid))
    say(f"    {opened.rate:.0f}/s, p99 {opened.pct(0.99):.1f} ms")
    await quiesce(pids)
    if args.below and procs == args.workers[0] and closed.rate > 0:
        # Latency where bayar keeps up: open loop at a share of what the closed loop reached.
        rate = max(1.0, round(closed.rate * args.below, -1) or 1.0)
        below = Phase("pending, open loop (below capacity)", procs, f"{rate:g}/s")
        say(f"  {below.label} at {rate:g}/s, {args.below_seconds} s")
        load = open_loop(below, feeds, rate, args.below_seconds, args.connections, expected)
        phases.append(await measured(below, pids, load, ready.sandbox.pid))
        say(f"    {below.rate:.0f}/s, p99 {below.pct(0.99):.1f} ms")
        await quiesce(pids)


async def settlement(
    args: argparse.Namespace,
    ready: Setup,
    rng: random.Random,
    client: httpx.AsyncClient,
    sink: Sink,
    phases: list[Phase],
) -> None:
    """Orders paid in the sandbox, then "settlement" notifications: bayar confirms each new one
    with the status API (the sandbox process) before the order becomes paid. The open loop
    mixes first settlements, later bodies for paid orders and duplicates; the closed loop sends
    one settlement per order, each confirmed and applied."""
    procs, pids, say = len(ready.servers), [s.pid for s in ready.servers], args.say
    before = sink.received
    bases = [await pay_in_sandbox(client, ready.sandbox, orders) for orders in ready.settle]
    # The sandbox's own settlement notifications (to the sink) are out before we start.
    expected = before + sum(len(b) for b in bases)
    if not await sink.wait_for(expected):
        # The sandbox still sending its own would take CPU from the status calls measured.
        say(f"  !! only {sink.received - before} of the sandbox's notifications came in")
    await quiesce(pids)
    # Under callgrind only the closed loop runs: each settlement once, its instructions counted.
    first = 0 if ready.counted else int(args.settle_rate * args.settle_seconds) // procs
    feeds = [
        Feed(ready.port_of(s), b[:first], args.dup_ratio, rng, f"settle{i}")
        for i, (s, b) in enumerate(zip(ready.servers, bases, strict=True))
    ]
    if ready.counted is None:
        opened = Phase("settlement + confirm, open loop", procs, f"{args.settle_rate:g}/s")
        say(f"  {opened.label} at {args.settle_rate:g}/s, {args.settle_seconds} s")
        load = open_loop(
            opened, feeds, args.settle_rate, args.settle_seconds, args.connections, APPLIED_OR_SAME
        )
        phases.append(await measured(opened, pids, load, ready.sandbox.pid))
        say(f"    {opened.rate:.0f}/s, p99 {opened.pct(0.99):.1f} ms")
        await quiesce(pids)
    once = [
        Feed(ready.port_of(s), b[first:], 0.0, rng, f"once{i}", once=True)
        for i, (s, b) in enumerate(zip(ready.servers, bases, strict=True))
    ]
    closed = Phase(SETTLED_CLOSED, procs, f"c={args.concurrency}")
    say(f"  {closed.label}, {sum(len(f.bases) for f in once)} orders")
    load = closed_loop(closed, once, args.concurrency, 60, {"applied"})
    phases.append(await measured(closed, pids, load, ready.sandbox.pid, ready.counted))
    say(f"    {closed.rate:.0f}/s, p99 {closed.pct(0.99):.1f} ms")
    await quiesce(pids)


# -- report ---------------------------------------------------------------------------------------


def pg_version() -> str:
    done = subprocess.run(
        ["psql", "-h", HOST, "-U", "postgres", "-d", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() or "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def command_line() -> str:
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(Path.cwd())
    return shlex.join([str(exe), *sys.argv])


def report(
    args: argparse.Namespace, ceilings: list[Pgbench], phases: list[Phase], background: float
) -> str:
    lines: list[str] = []
    out = lines.append
    out(f"bayar webhook bench, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    out(f"command:  {command_line()}")
    out(
        f"machine:  nproc={os.cpu_count()} ({cpu_model()}), Python {platform.python_version()}, "
        f"PostgreSQL {pg_version()} (fsync and synchronous_commit as configured), {platform.system()} {platform.release()}"
    )
    out(
        f"setup:    {args.orders} qris orders, {args.dup_ratio:.0%} duplicates, sandbox mode (demo keys), "
        "no worker, in-process bus; bayar's pools: 20 SQLAlchemy and 10 asyncpg connections per process; "
        "one `bayar sandbox` process is the gateway of all; notifications sent "
        + (
            "through nginx (deploy/nginx/bayar.conf, 1 worker process) balancing the serve processes"
            if args.nginx
            else "to the process that made the order"
        )
    )
    out(
        "client:   this process (raw asyncio HTTP/1.1 keep-alive on uvloop); it shares the "
        f"{os.cpu_count()} cores with bayar and PostgreSQL. Other load before start: {background:.0f}% of all cores."
    )
    out("")
    out("ceiling: pgbench -N, scale 1, same server, same concurrency")
    for c in ceilings:
        out(
            f"  {c.label:<7} -c {args.concurrency} -j 2 -T {args.pgbench_seconds}: {c.tps:8.0f} tps, "
            f"latency avg {c.latency_ms:.1f} ms; CPU % of a core: pgbench {c.cpu.client:.0f}, "
            f"postgres {c.cpu.postgres:.0f}; machine {c.cpu.machine:.0f}% busy"
        )
    ceiling = sum(c.tps for c in ceilings) / len(ceilings) if ceilings else float("nan")
    out(f"  mean    {ceiling:.0f} tps")
    out("")
    header = (
        f"{'phase':<34}{'procs':>5}  {'load':<8}{'done/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'errors':>7}  {'new/dup':>11}  {'CPU% client/bayar/sandbox/pg':>29}  {'mach%':>5}"
        f"  {'bayar CPU ms/notif':>18}"
    )
    out(header)
    out("-" * len(header))
    for p in phases:
        cpu = p.cpu or Cpu(0, 0, 0, 0)
        out(
            f"{p.label:<34}{p.procs:>5}  {p.load:<8}{p.rate:8.0f}{p.pct(0.5):8.1f}{p.pct(0.99):8.1f}"
            f"{max(p.latencies, default=float('nan')):8.1f}{sum(p.errors.values()):7d}  "
            f"{f'{p.new}/{p.dups}':>11}  "
            f"{f'{cpu.client:.0f}/{cpu.bayar:.0f}/{cpu.sandbox:.0f}/{cpu.postgres:.0f}':>29}  "
            f"{cpu.machine:5.0f}  {cpu.bayar / 100 / p.rate * 1000 if p.rate else float('nan'):18.2f}"
        )
    out("")
    out(
        "  done/s: answers per second. Latency: closed loop from the send, open loop from the scheduled"
    )
    out(
        "  send (queueing in the client counts). errors: not 200, an unexpected outcome, or no answer"
    )
    out(
        "  5 s after the last send. CPU in % of one core; bayar CPU ms/notif = bayar CPU / answers."
    )
    out("")
    counted = [p for p in phases if p.instructions is not None]
    if counted:
        out("instructions (callgrind; rates, latencies and CPU above mean nothing under it):")
        for p in counted:
            each = (p.instructions or 0) / p.done if p.done else float("nan")
            out(
                f"  {p.label} ({p.procs} proc): {each / 1e6:.2f} M instructions of bayar serve "
                f"per answer, over {p.done} answers"
            )
        out("")
    for p in phases:
        detail = ", ".join(f"{k} {v}" for k, v in p.outcomes.most_common())
        extra = (
            f"; generator late by {p.lag_ms:.1f} ms at worst; {p.reconnects} resent on a new connection"
            if "open" in p.label
            else ""
        )
        out(f"  {p.label} ({p.procs} proc): outcomes {detail}{extra}")
        for error, count in p.errors.most_common(5):
            out(f"      error: {error} x{count}")
    out("")
    out(f"goals (ratio to the mean pgbench tps; p99 at {args.rate:g}/s, every answer 200):")
    for p in phases:
        if p.label == "pending, closed loop":
            ratio = p.rate / ceiling if ceiling else float("nan")
            verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
            out(
                f"  {p.procs} process(es): {p.rate:.0f}/s = {ratio:.0%} of pgbench "
                f"(goal >= {GOAL_RATIO:.0%}): {verdict}"
            )
        if p.label == SETTLED_CLOSED:
            ratio = p.rate / ceiling if ceiling else float("nan")
            verdict = "met" if ratio >= GOAL_SETTLED_RATIO and not p.errors else "NOT met"
            out(
                f"  {p.procs} process(es): {p.rate:.0f} settlements confirmed and applied/s = "
                f"{ratio:.0%} of pgbench (goal >= {GOAL_SETTLED_RATIO:.0%}, the sandbox a process"
                f" of its own): {verdict}"
            )
        if p.label == "pending, open loop":
            ok = p.pct(0.99) < GOAL_P99_MS and not p.errors and p.rate >= 0.97 * args.rate
            out(
                f"  {p.procs} process(es): p99 {p.pct(0.99):.1f} ms at {args.rate:g}/s offered, "
                f"{p.rate:.0f}/s answered, {sum(p.errors.values())} errors "
                f"(goal p99 < {GOAL_P99_MS:g} ms): {'met' if ok else 'NOT met'}"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=int, default=15, help="length of each measured pending phase"
    )
    parser.add_argument(
        "--rate", type=float, default=1000, help="open-loop notifications per second"
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="bayar serve processes, a comma list runs each (load spread by order owner)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="closed-loop connections = pgbench -c"
    )
    parser.add_argument(
        "--connections", type=int, default=128, help="open-loop connection pool (total)"
    )
    parser.add_argument("--orders", type=int, default=400, help="pending orders notified about")
    parser.add_argument(
        "--dup-ratio", type=float, default=0.3, help="share of duplicate notifications"
    )
    parser.add_argument("--pgbench-seconds", type=int, default=None, help="default: --seconds")
    parser.add_argument(
        "--below",
        type=float,
        default=0.5,
        help="also an open loop at this share of the closed-loop rate (first --workers only; 0: no)",
    )
    parser.add_argument("--below-seconds", type=int, default=10)
    parser.add_argument("--settle-seconds", type=int, default=6, help="0 skips the settlement run")
    parser.add_argument(
        "--settle-rate", type=float, default=50, help="open-loop settlement notifications/s"
    )
    parser.add_argument(
        "--settle-orders",
        type=int,
        default=1500,
        help="orders paid for the settlement runs (the open loop takes --settle-rate x"
        " --settle-seconds of them, the closed loop settles each of the others once)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--nginx",
        action="store_true",
        help="send every notification through nginx (deploy/nginx/bayar.conf) balancing the"
        " serve processes, as in production; results go to webhooks-nginx.txt",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="run each serve process under valgrind's callgrind and count the instructions it"
        " runs per answer in each closed loop (the open loops are skipped): a figure the"
        " machine's noise does not move. Results go to webhooks-callgrind.txt",
    )
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (server logs)"
    )
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    if not args.workers or min(args.workers) < 1:
        parser.error("--workers must be positive integers, e.g. 1 or 1,2")
    if args.pgbench_seconds is None:
        args.pgbench_seconds = args.seconds
    return args


def main() -> None:
    args = parse_args()
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    args.say = say
    for tool in ("pgbench", "psql"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    ceilings, phases, background = uvloop.run(run(args))
    text = report(args, ceilings, phases, background)
    text += f"(wall time {time.monotonic() - started:.0f} s)\n"
    print(text)
    if not args.no_write:
        results = RESULTS
        if args.nginx or args.callgrind:
            results = RESULTS.with_name(f"webhooks-{'nginx' if args.nginx else 'callgrind'}.txt")
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(text)
        say(f"written to {results}")


if __name__ == "__main__":
    main()
