"""The files of deploy/ say what bayar understands: every setting they name is a setting of bayar,
the nginx configuration is valid for Debian's nginx (`nginx -t`), and `make fleet` renders it
with its own ports and nothing else changed."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bayar.config import Settings

DEPLOY = Path(__file__).parents[2] / "deploy"
SETTING = re.compile(r"\b((?:BAYAR|MIDTRANS)_[A-Z_]+|DATABASE_URL|REDIS_URL)\b")


def _supervisor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_fleet", DEPLOY / "fleet.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_setting_named_in_deploy_is_one_of_bayar() -> None:
    known = {name.upper() for name in Settings.model_fields}
    files = [DEPLOY / "compose.yaml", DEPLOY / "fleet.py", *sorted((DEPLOY / "systemd").iterdir())]
    named = {(f.name, m) for f in files for m in SETTING.findall(f.read_text())}
    assert {m for _, m in named} >= {"BAYAR_TRUSTED_PROXIES", "MIDTRANS_CORE_BASE_URL"}
    assert sorted((f, m) for f, m in named if m not in known) == []


def test_make_fleet_renders_the_shipped_nginx_config_with_its_ports_only() -> None:
    shipped = (DEPLOY / "nginx" / "bayar.conf").read_text()

    rendered = _supervisor().render_nginx(
        shipped, listen="127.0.0.1:9000", serve=[9001, 9002, 9003], sandbox=9010
    )

    servers = re.findall(r"^\s*server 127\.0\.0\.1:(\d+)(.*);$", rendered, re.MULTILINE)
    assert [port for port, _ in servers] == ["9001", "9002", "9003", "9010"]
    assert servers[0][1] == servers[2][1] == " max_fails=1 fail_timeout=3s"
    assert "listen 127.0.0.1:9000;" in rendered
    kept = [line for line in shipped.splitlines() if not re.match(r"\s*(server 127|listen )", line)]
    assert [
        line for line in rendered.splitlines() if not re.match(r"\s*(server 127|listen )", line)
    ] == kept


def test_the_nginx_config_is_valid(tmp_path: Path, nginx: str) -> None:
    supervisor = _supervisor()
    include = tmp_path / "bayar.conf"
    include.write_text(
        supervisor.render_nginx(
            (DEPLOY / "nginx" / "bayar.conf").read_text(),
            listen="127.0.0.1:9000",
            serve=[9001],
            sandbox=9010,
        )
    )
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "nginx-temp" / kind).mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(supervisor.nginx_main(tmp_path, include))

    checked = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("ci", "outcome"), [("true", "fail"), ("", "skip")])
def test_without_nginx_the_nginx_tests_fail_under_ci_and_skip_otherwise(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(shutil, "which", lambda _name: None)  # no nginx on this machine
    monkeypatch.setattr(os, "access", lambda _path, _mode: False)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception

    with pytest.raises(expected, match="nginx is not installed"):
        request.getfixturevalue("nginx")
