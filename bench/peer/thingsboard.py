"""ThingsBoard IoT Gateway 3.8.5 as the peer of the end-to-end benchmark.

It pins pymodbus 3.9.2, so it lives in its own virtual environment (`bench/.peer-venv`, made on
first use from PyPI). Its config folder is built from the package's own `config/`: the broker
is the local Mosquitto, no remote configuration or shell, statistics off, log levels INFO, and
one Modbus connector with one slave per simulated device and one timeseries entry per tag (the
same tags, types, byte order and scaling minegate reads). It reads one tag per request, sharing
one TCP connection per host:port, and publishes on `v1/gateway/telemetry`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
VENV = BENCH / ".peer-venv"
VERSION = "3.8.5"
PACKAGES = [f"thingsboard-gateway=={VERSION}", "pymodbus==3.9.2", "pyserial", "pyserial-asyncio"]
TB_TYPES = {"uint32": "32uint", "float32": "32float", "int16": "16int", "uint16": "16uint", "int32": "32int"}


class PeerUnavailable(RuntimeError):
    """The peer cannot be run here; the message says exactly why."""


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(log: Any = print) -> Path:
    """The peer's interpreter, installing it into `bench/.peer-venv` when missing."""
    exe = python()
    if exe.exists() and _has_package(exe):
        return exe
    log(f"peer: installing {', '.join(PACKAGES)} into {VENV} (once)")
    try:
        if not exe.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, text=True,
                           timeout=300)
        subprocess.run([str(exe), "-m", "pip", "install", "-q", *PACKAGES], check=True, capture_output=True,
                       text=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        raise PeerUnavailable(f"cannot install the peer into {VENV}: `{' '.join(map(str, exc.cmd))}` failed: "
                              f"{(exc.stderr or exc.stdout or '').strip()[-800:]}") from None
    except subprocess.TimeoutExpired as exc:
        raise PeerUnavailable(f"installing the peer into {VENV} took over {exc.timeout:.0f} s") from None
    if not _has_package(exe):
        raise PeerUnavailable(f"{VENV} has no importable thingsboard_gateway {VERSION} after installing it")
    return exe


def _has_package(exe: Path) -> bool:
    probe = ("import thingsboard_gateway, pymodbus, importlib.metadata as m;"
             f"assert m.version('thingsboard-gateway') == '{VERSION}' and pymodbus.__version__ == '3.9.2'")
    return subprocess.run([str(exe), "-c", probe], capture_output=True, timeout=120).returncode == 0


def package_config(exe: Path) -> Path:
    out = subprocess.run([str(exe), "-c", "import thingsboard_gateway, os; "
                          "print(os.path.join(os.path.dirname(thingsboard_gateway.__file__), 'config'))"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise PeerUnavailable(f"cannot locate thingsboard_gateway's config folder: {out.stderr.strip()[-500:]}")
    return Path(out.stdout.strip())


def slave(name: str, port: int, tags: list[Any], poll_ms: int = 1000) -> dict[str, Any]:
    """One device of `modbus.json`: the same tags minegate reads, one timeseries entry each."""
    series = []
    for t in tags:
        entry: dict[str, Any] = {"tag": t.name, "type": TB_TYPES[t.kind], "functionCode": 3,
                                 "objectsCount": t.registers, "address": t.address}
        if t.scale is not None:
            entry["multiplier"] = t.scale
        series.append(entry)
    return {
        "host": "127.0.0.1", "port": port, "type": "tcp", "method": "socket", "unitId": 1,
        "deviceName": name, "deviceType": "default", "timeout": 1, "byteOrder": "BIG", "wordOrder": "BIG",
        "retries": 1, "retryOnEmpty": True, "retryOnInvalid": True, "pollPeriod": poll_ms,
        "connectAttemptTimeMs": 5000, "connectAttemptCount": 5, "waitAfterFailedAttemptsMs": 5000,
        "attributes": [], "timeseries": series, "attributeUpdates": [], "rpc": [],
    }


@dataclass(frozen=True, slots=True)
class PeerRun:
    cmd: list[str]
    env: dict[str, str]
    cwd: Path


def prepare(workdir: Path, exe: Path, devices: list[tuple[str, int]], tags: list[Any],
            broker: tuple[str, int] = ("127.0.0.1", 1883)) -> PeerRun:
    """Write the peer's config folder under `workdir` and return how to start it."""
    if workdir.exists():
        shutil.rmtree(workdir)
    config = workdir / "config"
    shutil.copytree(package_config(exe), config)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    gw = json.loads((config / "tb_gateway.json").read_text())
    tb = gw["thingsboard"]
    tb.update(host=broker[0], port=broker[1], remoteShell=False, remoteConfiguration=False,
              security={"type": "accessToken", "accessToken": "e2e-bench"})
    tb.setdefault("statistics", {})["enable"] = False
    gw["connectors"] = [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}]
    (config / "tb_gateway.json").write_text(json.dumps(gw, indent=2))
    logs = json.loads((config / "logs.json").read_text())
    for logger in logs.get("loggers", {}).values():
        logger["level"] = "INFO"
    for handler in logs.get("handlers", {}).values():  # absolute paths: the run's own logs/ folder
        if "filename" in handler:
            handler["filename"] = str(workdir / "logs" / Path(handler["filename"]).name)
    (config / "logs.json").write_text(json.dumps(logs, indent=2))
    slaves = [slave(name, port, tags) for name, port in devices]
    (config / "modbus.json").write_text(json.dumps({"master": {"slaves": slaves}}))
    env = {**os.environ, "TB_GW_CONFIG_DIR": str(config) + os.sep, "PYTHONUNBUFFERED": "1"}
    return PeerRun([str(exe), "-m", "thingsboard_gateway.tb_gateway"], env, workdir)
