"""What the bench scripts share: starting a bayar process on a free port with a clean
environment, scratch PostgreSQL databases, and reading a process's CPU time from /proc.
Imported by the scripts in this folder (`python bench/<script>.py` puts it on the path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg
import httpx

HOST = "127.0.0.1"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def proc_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def own_cpu() -> float:
    """This process's CPU seconds so far (user + system: its system calls count)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def postgres_ticks() -> int:
    """CPU ticks of every PostgreSQL process, with the backends that have exited (the postmaster
    reaps them: their time is in its cutime + cstime)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks


async def create_db(name: str) -> None:
    """A new, empty scratch database (an old one of that name is dropped first)."""
    conn = await asyncpg.connect(f"{PG_BASE}/postgres", timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_db(name: str) -> None:
    conn = await asyncpg.connect(f"{PG_BASE}/postgres", timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def bayar_env(var_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without any bayar or Midtrans setting of the caller's, in sandbox mode,
    with its data under `var_dir`, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("BAYAR_", "MIDTRANS_"))
        and k.upper() not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(BAYAR_SANDBOX="true", BAYAR_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


class BayarProcess:
    """`python -m bayar <command>` on a free port, in `directory`, its output in a log file."""

    def __init__(
        self,
        command: str,
        directory: Path,
        env: dict[str, str],
        *,
        preexec_fn: Callable[[], None] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        """`prefix`: what runs the process (valgrind, say)."""
        self.command = command
        self.port = free_port()
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{command}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                "-m",
                "bayar",
                command,
                "--host",
                HOST,
                "--port",
                str(self.port),
            ],
            env=env,
            cwd=self.dir,  # no stray .env
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
        self.url = f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ready(
        self,
        client: httpx.AsyncClient,
        within: float = 60,
        also: Callable[[], bool] = lambda: True,
        path: str = "/healthz",
    ) -> None:
        """Wait for `path` (/healthz) to answer 200 (and `also()` to hold)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"bayar {self.command} exited ({self.process.returncode}):\n{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{self.url}{path}")).status_code == 200 and also():
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"bayar {self.command} did not become healthy:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


class SandboxProcess(BayarProcess):
    """`bayar sandbox`, its state in memory, its own notifications sent to `notification_url`:
    the gateway of a bench's serve processes, as the one `bayar sandbox` of a fleet."""

    def __init__(self, workdir: Path, notification_url: str) -> None:
        directory = workdir / "sandbox"
        env = bayar_env(
            directory / "var",
            BAYAR_SANDBOX_STATE_FILE=":memory:",
            BAYAR_SANDBOX_NOTIFICATION_URL=notification_url,
        )
        super().__init__("sandbox", directory, env)
