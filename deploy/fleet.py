"""`make fleet`: bayar's production layout on one machine, for trying it and for demos.

    nginx (deploy/nginx/bayar.conf) ─┬─▶ bayar serve ×N ──┬─▶ PostgreSQL (DATABASE_URL)
                                      │                    ├─▶ Redis (REDIS_URL)
                                      └─▶ bayar sandbox ◀──┴── bayar worker
                                           (the one gateway of the fleet; its webhooks go to nginx)

It migrates the database (creating it if it does not exist), adds the demo catalog and kiosk,
starts a `bayar sandbox`, N `bayar serve`, one `bayar worker` and nginx on the given port, prints
the URLs, and then supervises: a process that exits is started again on its port (as systemd's
Restart=always or compose's restart policy would), so a SIGTERM to one `bayar serve` is a rolling
restart of it. Ctrl-C (or SIGTERM) stops everything.

What it runs, and where, is written to `<dir>/fleet.json` (URLs, ports, process ids), and each
process's output to `<dir>/logs/<name>.log`. Settings come from the environment, as for any bayar
process: DATABASE_URL and REDIS_URL (defaults: a `bayar_fleet` database on local PostgreSQL and
local Redis), BAYAR_ADMIN_TOKEN, BAYAR_ADMIN_PASSWORD, BAYAR_SANDBOX_TOKEN and the rest are passed
on to every process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

HERE = Path(__file__).resolve().parent
NGINX_CONF = HERE / "nginx" / "bayar.conf"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/bayar_fleet"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
START_WITHIN = 60.0  # seconds a process may take to be ready (a busy two-core machine)
RESTART_AFTER = 0.5  # seconds between a process's exit and its restart


def render_nginx(conf: str, *, listen: str, serve: list[int], sandbox: int) -> str:
    """deploy/nginx/bayar.conf with this fleet's ports: its `listen` line, and the `server` lines
    of its two upstreams (the first line's parameters kept for every process)."""
    out: list[str] = []
    upstream: str | None = None
    done: set[str] = set()
    for line in conf.splitlines():
        opened = re.match(r"\s*upstream (\w+) \{", line)
        if opened:
            upstream = opened.group(1)
        elif upstream is not None and line.strip() == "}":
            upstream = None
        server = re.match(r"(\s*)server 127\.0\.0\.1:\d+(.*)$", line)
        if upstream is not None and server:
            if upstream not in done:
                ports = serve if upstream == "bayar_serve" else [sandbox]
                indent, rest = server.groups()
                out.extend(f"{indent}server 127.0.0.1:{port}{rest}" for port in ports)
                done.add(upstream)
            continue
        out.append(re.sub(r"^(\s*)listen \S+;", rf"\1listen {listen};", line))
    if done != {"bayar_serve", "bayar_sandbox"}:
        raise SystemExit(f"{NGINX_CONF}: its upstreams bayar_serve and bayar_sandbox are gone")
    return "\n".join(out) + "\n"


def nginx_main(run: Path, include: Path) -> str:
    """The nginx.conf of a fleet on one machine: its own pid, logs and temporary files under
    `run`, in the foreground, and the rendered bayar.conf inside its http block."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # its files live where root put them
    temp = "\n".join(
        f"    {kind}_temp_path {run / 'nginx-temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# written by deploy/fleet.py
{user}worker_processes 1;
daemon off;
pid {run / "nginx.pid"};
error_log {run / "logs" / "nginx-error.log"} warn;
events {{
    worker_connections 4096;
}}
http {{
    log_format fleet '$remote_addr "$request" $status $upstream_addr $request_time';
    access_log {run / "logs" / "nginx-access.log"} fleet;
    # Which process answered (a demo fleet only: it shows the balancing at work).
    add_header X-Bayar-Upstream $upstream_addr always;
{temp}
    include {include};
}}
"""


@dataclass
class Child:
    """One process of the fleet, started again whenever it exits (until the fleet stops)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    ready_url: str | None = None
    url: str | None = None  # where it answers HTTP itself (nginx: the fleet's URL)
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _out: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._out = self.log.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 (bayar's own commands and nginx)
            self.args, env=self.env, stdout=self._out, stderr=subprocess.STDOUT, cwd=self.log.parent
        )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_WITHIN
        while self.ready_url is not None:
            code = self.exited()
            if code is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"{self.name} exited ({code}) while starting:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name} not ready within {START_WITHIN:.0f} s: {self.log}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, within: float = 30.0) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=within)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self._out is not None:
            self._out.close()
            self._out = None


def _prepare_database(url: str, var_dir: Path) -> tuple[str, str]:
    """Create the database if missing, migrate it, add the demo catalog and kiosk: the demo
    machine's id and token."""
    from bayar.storage.db import Database
    from bayar.storage.migrate import upgrade
    from bayar.storage.seed import seed_demo_catalog
    from bayar.vending.machines import ensure_demo_machine

    asyncio.run(_create_database(url))
    upgrade(url)

    async def seed() -> tuple[str, str]:
        db = Database(url)
        try:
            await seed_demo_catalog(db)
            return await ensure_demo_machine(db, var_dir)
        finally:
            await db.close()

    return asyncio.run(seed())


async def _create_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    import asyncpg

    plain = parsed.set(drivername="postgresql")
    try:
        connection = await asyncpg.connect(plain.render_as_string(hide_password=False))
    except asyncpg.InvalidCatalogNameError:
        server = plain.set(database="postgres").render_as_string(hide_password=False)
        connection = await asyncpg.connect(server)
        await connection.execute(f'CREATE DATABASE "{parsed.database}"')
    await connection.close()


class Fleet:
    def __init__(self, args: argparse.Namespace) -> None:
        self.run = Path(args.dir).resolve()
        self.port = args.port
        self.url = f"http://{args.host}:{args.port}"
        self.database = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
        self.redis = os.environ.get("REDIS_URL") or DEFAULT_REDIS
        self.sandbox_port = args.sandbox_port or args.base_port
        self.serve_ports = (
            [int(p) for p in args.serve_ports.split(",")]
            if args.serve_ports
            else [args.base_port + 1 + i for i in range(args.serve)]
        )
        self.sandbox_token = os.environ.get("BAYAR_SANDBOX_TOKEN") or secrets.token_urlsafe(16)
        # One cookie-signing secret for every serve: an admin logged in on one is logged in on
        # all (nginx may send the next request to any). Made once per layout, kept in its dir.
        self.session_secret = os.environ.get("BAYAR_SESSION_SECRET") or _kept_secret(
            self.run / "session.secret"
        )
        self.children: dict[str, Child] = {}
        self.stopping = False
        self.kiosk = ""
        self.host = args.host

    def env(self, name: str, **extra: str) -> dict[str, str]:
        sandbox = f"http://127.0.0.1:{self.sandbox_port}/sandbox/midtrans"
        return {
            **os.environ,
            "DATABASE_URL": self.database,
            "REDIS_URL": self.redis,
            "BAYAR_SANDBOX": "true",
            "MIDTRANS_CORE_BASE_URL": sandbox,  # one gateway for every process
            # Browsers reach the sandbox through nginx (/sandbox/), never at its own port: the
            # shop's snap.js, and (BAYAR_PUBLIC_URL) every URL the sandbox hands out.
            "MIDTRANS_SNAP_JS_URL": f"{self.url}/sandbox/midtrans/snap/snap.js",
            "BAYAR_PUBLIC_URL": self.url,
            "BAYAR_TRUSTED_PROXIES": "127.0.0.1",  # nginx, and only nginx
            "BAYAR_SANDBOX_TOKEN": self.sandbox_token,
            "BAYAR_SESSION_SECRET": self.session_secret,
            "BAYAR_VAR_DIR": str(self.run / f"{name}-var"),
            # Product pictures: one directory for every process (an upload is everyone's).
            "BAYAR_MEDIA_DIR": str(self.run / "media"),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def child(
        self, name: str, args: list[str], env: dict[str, str], url: str, ready: str | None
    ) -> Child:
        made = Child(name, args, env, self.run / "logs" / f"{name}.log", ready, url)
        self.children[name] = made
        return made

    def start(self) -> None:
        (self.run / "logs").mkdir(parents=True, exist_ok=True)
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run / "nginx-temp" / kind).mkdir(parents=True, exist_ok=True)
        machine_id, token = _prepare_database(self.database, self.run / "serve-var")
        self.kiosk = f"{self.url}/kiosk/{machine_id}?token={token}"
        bayar = [sys.executable, "-m", "bayar"]
        sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.child(
            "sandbox",
            [*bayar, "sandbox", "--port", str(self.sandbox_port)],
            self.env(
                "sandbox",
                BAYAR_SANDBOX_NOTIFICATION_URL=f"{self.url}/api/payments/notification",
                BAYAR_SANDBOX_XENDIT_CALLBACK_URL=f"{self.url}/api/payments/xendit/callback",
                BAYAR_SANDBOX_STATE_FILE=str(self.run / "sandbox.sqlite3"),
            ),
            sandbox,
            f"{sandbox}/sandbox/_control/config",
        )
        for index, port in enumerate(self.serve_ports):
            name = f"serve-{chr(ord('a') + index)}"
            self.child(
                name,
                [*bayar, "serve", "--port", str(port)],
                self.env(name),
                f"http://127.0.0.1:{port}",
                f"http://127.0.0.1:{port}/readyz",
            )
        self.child("worker", [*bayar, "worker"], self.env("worker"), "", None)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        include = self.run / "bayar.conf"
        include.write_text(
            render_nginx(
                NGINX_CONF.read_text(),
                listen=f"{self.host}:{self.port}",
                serve=self.serve_ports,
                sandbox=self.sandbox_port,
            )
        )
        main = self.run / "nginx.conf"
        main.write_text(nginx_main(self.run, include))
        self.child(
            "nginx",
            [nginx, "-c", str(main), "-p", str(self.run)],
            dict(os.environ),
            self.url,
            f"{self.url}/readyz",
        )
        for child in self.children.values():  # in order: the sandbox first, nginx last
            child.start()
            child.wait_ready()
        self.write_state()

    def write_state(self) -> None:
        state: dict[str, Any] = {
            "url": self.url,
            "sandbox": f"http://127.0.0.1:{self.sandbox_port}",
            "database": self.database,
            "kiosk": self.kiosk,
            "processes": {
                name: {
                    "pid": child.pid,
                    "starts": child.starts,
                    "url": child.url,
                    "log": str(child.log),
                }
                for name, child in self.children.items()
            },
        }
        temporary = self.run / "fleet.json.tmp"
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.run / "fleet.json")

    def banner(self) -> None:
        print(f"bayar fleet on {self.url}/ (nginx; {len(self.serve_ports)} bayar serve)")
        print(f"  shop                {self.url}/")
        print(f"  admin               {self.url}/admin")
        print(f"  demo kiosk          {self.kiosk}")
        print(f"  sandbox simulator   {self.url}/sandbox/?token={self.sandbox_token}")
        print(f"  readiness           {self.url}/readyz")
        print(f"  database            {_no_password(self.database)}")
        print(f"  redis               {self.redis}")
        print(f"  processes, logs     {self.run / 'fleet.json'}, {self.run / 'logs'}/")
        print("Ctrl-C stops the fleet.", flush=True)

    def supervise(self) -> None:
        """Start again every process that exits, on its port, until the fleet stops."""
        while not self.stopping:
            for child in self.children.values():
                code = child.exited()
                if code is None or self.stopping:
                    continue
                print(f"{child.name} exited ({code}); starting it again", flush=True)
                child.stop()
                time.sleep(RESTART_AFTER)
                if self.stopping:
                    break
                child.start()
                with contextlib.suppress(SystemExit):
                    child.wait_ready()
                self.write_state()
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopping = True
        order = ["nginx", *(n for n in self.children if n.startswith("serve-")), "worker"]
        for name in [*order, "sandbox"]:
            child = self.children.get(name)
            if child is not None:
                child.stop(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)


def _kept_secret(path: Path) -> str:
    """The secret kept in `path` (only its owner may read it), made on first use."""
    if path.is_file():
        kept = path.read_text().strip()
        if kept:
            return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(made + "\n")
    return made


def _no_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="nginx's address")
    parser.add_argument("--serve", type=int, default=2, help="bayar serve processes (default 2)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8100,
        help="the sandbox's port; the serve processes take the next ones (default 8100)",
    )
    parser.add_argument("--sandbox-port", type=int, help="the sandbox's port (over --base-port)")
    parser.add_argument("--serve-ports", help="comma-separated ports of the serve processes")
    parser.add_argument("--dir", default="var/fleet", help="runtime files (default var/fleet)")
    args = parser.parse_args()
    fleet = Fleet(args)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        fleet.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        fleet.start()
        fleet.banner()
        fleet.supervise()
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
