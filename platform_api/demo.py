"""`minegate demo`: a simulated plant, a gateway and the platform with three seeded enterprises.

The platform runs in this process (SQLite under `./data/demo/`); the simulators and the gateway
are child processes of the `minegate` command itself (this package never imports the gateway or
the drivers). The gateway posts to the platform's `POST /api/v1/ingest` through its `http`
sink, so nothing else (broker, database server) is needed. Ctrl-C stops the children first (the
gateway flushes its buffer), then the platform; a rerun reuses `./data/demo` (`--reset` starts
afresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unicodedata
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

GATEWAY_ID = "gw-xt-01"
MARKER = "seeded.json"
STOP_GRACE = 10.0
START_TIMEOUT = 60.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Children get SIGTERM if the demo itself dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """A `minegate ...` subprocess with its output in a log file."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self._out = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minegate_cli", *args], stdout=self._out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGINT (the commands' own clean stop), then SIGKILL after `grace` seconds."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, grace)
            if self.alive():
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
        self._out.close()
        return self.proc.returncode


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _prepare(data: Path, reset: bool) -> bool:
    """Make the data folder; True when it already holds a complete seed to reuse."""
    marker = data / MARKER
    if reset or (data.exists() and not marker.exists()):
        shutil.rmtree(data, ignore_errors=True)  # a half-seeded folder from an interrupted first run
    data.mkdir(parents=True, exist_ok=True)
    (data / "logs").mkdir(exist_ok=True)
    return marker.exists()


def _seed_or_load(app: Any, data: Path, reused: bool, months: int) -> dict[str, Any]:
    from platform_api.auth import create_token
    from platform_api.demo_data.history import enterprises
    from platform_api.demo_data.seed import MINE_GATEWAY, seed

    marker = data / MARKER
    if reused:
        tokens: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        if app.state.tokens.lookup(tokens.get("gateway", "")) is not None:
            return tokens
        typer.echo("stored demo tokens are no longer valid: making new ones")
        engine = app.state.engine
        tokens.update(
            regulator=create_token(engine, "regulator", label="demo regulator"),
            district_regulator=create_token(engine, "regulator", district="海南区", label="demo regulator 海南区"),
            admin=create_token(engine, "admin", label="demo admin"),
            enterprises={e["code"]: create_token(engine, "enterprise", enterprise=e["code"]) for e in enterprises()},
            gateway=create_token(engine, "gateway", enterprise=enterprises()[0]["code"], gateway=MINE_GATEWAY),
        )
    else:
        typer.echo(f"seeding {data}: three enterprises with {months} months of history (first run only) ...")
        started = time.monotonic()
        tokens = asdict(seed(app, months=months))
        typer.echo(f"seeded in {time.monotonic() - started:.0f} s")
    # the demo's own login tokens, kept beside its database so a rerun prints the same ones
    marker.write_text(json.dumps(tokens, ensure_ascii=False, indent=1), encoding="utf-8")
    os.chmod(marker, 0o600)
    return tokens


def gateway_yaml(plant_yaml: str, *, enterprise: str, port: int, buffer: Path) -> str:
    """The gateway config: the simulated plant's devices, the demo buffer and the `http` sink."""
    devices = [line for line in plant_yaml.splitlines() if line.startswith("  - ")]
    return "\n".join([
        "# Made by `minegate demo`: the simulated plant polled by the mine's gateway, which posts",
        "# to the platform's ingest API (no broker needed). The token comes from the environment.",
        "gateway:",
        f"  id: {GATEWAY_ID}",
        f"  enterprise: {enterprise}",
        f"  buffer: {{path: {json.dumps(str(buffer))}, max_mb: 64, max_age: 1d}}",
        "devices:",
        *devices,
        "northbound:",
        f"  - {{type: http, url: \"http://127.0.0.1:{port}\", token: \"${{MINEGATE_GATEWAY_TOKEN}}\", "
        "retry_min: 200ms, retry_max: 5s}",
        "",
    ])


def _pad(text: str, width: int) -> str:
    """Pad to a display width: Chinese characters take two columns in a terminal."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - shown)


def _banner(url: str, tokens: dict[str, Any], data: Path, devices: int) -> str:
    from platform_api.demo_data.history import enterprises

    ents = {e["code"]: e for e in enterprises()}
    width = 36
    lines = [
        "",
        "=" * 78,
        f"minegate demo is running: {url}",
        "=" * 78,
        "Sign in with one of these tokens (paste it into the login form):",
        f"  {_pad('regulator, all districts', width)}{tokens['regulator']}",
        f"  {_pad('regulator, 海南区 only', width)}{tokens['district_regulator']}",
    ]
    for code, token in tokens["enterprises"].items():
        e = ents.get(code, {})
        label = f"{e.get('name', code)} {code} {e.get('district', '')}"
        lines.append(f"  {_pad(label, width)}{token}")
    lines += [
        f"  {_pad('admin', width)}{tokens['admin']}",
        "",
        f"Live: {devices} simulated devices -> gateway {GATEWAY_ID} -> {url}api/v1/ingest (鑫泰煤矿, 实时监测).",
        f"Data and logs in {data} (reused next time; --reset starts afresh). Ctrl-C stops everything.",
        "=" * 78,
    ]
    return "\n".join(lines)


async def _run(host: str, port: int, data: Path, reused: bool, months: int, seed_value: int, speed: float) -> int:
    import uvicorn

    from platform_api.app import create_app
    from platform_api.demo_data.history import MINE
    from platform_api.settings import PlatformSettings

    settings = PlatformSettings(database_url=f"sqlite:///{data / 'platform.db'}",
                                signing_key_path=data / "signing-key.pem", job_interval=60.0, mqtt_url=None)
    app = await asyncio.to_thread(create_app, settings)
    tokens = await asyncio.to_thread(_seed_or_load, app, data, reused, months)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:  # the demo handles Ctrl-C itself, children first
            yield

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                   lifespan="on"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve(), name="platform")
    children: list[Child] = []
    code = 0
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if serving.done() or time.monotonic() > deadline or stop.is_set():
                typer.echo(f"error: the platform did not start on {host}:{port}", err=True)
                return 1
            await asyncio.sleep(0.05)
        url = f"http://{host}:{port}/"
        plant_file = data / "plant.yaml"
        plant_file.unlink(missing_ok=True)
        sims = Child("simulators", ["simulate", "plant", "--seed", str(seed_value), "--speed", f"{speed:g}",
                                    "--config", str(plant_file)], data / "logs" / "simulators.log")
        children.append(sims)
        while not (plant_file.exists() and "devices:" in plant_file.read_text(encoding="utf-8")):
            if not sims.alive() or time.monotonic() > deadline or stop.is_set():
                typer.echo(f"error: the simulated plant did not start:\n{sims.tail()}", err=True)
                return 1
            await asyncio.sleep(0.1)
        plant = plant_file.read_text(encoding="utf-8")
        gw_file = data / "gateway.yaml"
        gw_file.write_text(gateway_yaml(plant, enterprise=MINE, port=port, buffer=data / "buffer.db"),
                           encoding="utf-8")
        gw = Child("gateway", ["gateway", "run", "-c", str(gw_file)], data / "logs" / "gateway.log",
                   env={"MINEGATE_GATEWAY_TOKEN": tokens["gateway"]})
        children.append(gw)
        devices = sum(1 for line in plant.splitlines() if line.startswith("  - "))
        typer.echo(_banner(url, tokens, data, devices))
        typer.echo(f"children: simulators pid {sims.pid}, gateway pid {gw.pid}")
        sys.stdout.flush()
        while not stop.is_set():
            for c in children:
                if not c.alive():
                    typer.echo(f"error: the {c.name} stopped (exit {c.proc.returncode}); its log {c.log}:\n"
                               f"{c.tail()}", err=True)
                    stop.set()
                    code = 1
            if serving.done():
                stop.set()
                code = 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        typer.echo("stopping: gateway, simulators, platform ...")
        return code
    finally:
        for c in reversed(children):  # the gateway first: it flushes to the platform still running
            await c.stop()
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(serving, 15)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        typer.echo("stopped")


def demo(
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port of the web pages and API."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    data_dir: Path = typer.Option(Path("data/demo"), "--data-dir", help="Where the demo keeps its database, "
                                  "buffer, configs and logs."),
    reset: bool = typer.Option(False, "--reset", help="Delete the demo data and seed it again."),
    months: int = typer.Option(5, "--months", min=1, max=24, help="Months of ledger history to seed."),
    seed_value: int = typer.Option(1, "--seed", help="Random seed of the simulated plant."),
    speed: float = typer.Option(1.0, "--speed", min=0.0, help="Simulated seconds per real second."),
) -> None:
    """Simulated plant + gateway + platform on embedded defaults; prints the URL and login tokens."""
    for noisy in ("httpx", "alembic", "uvicorn.error"):
        if logging.getLogger(noisy).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not _port_free(host, port):
        typer.echo(f"error: {host}:{port} is in use (choose another with --port)", err=True)
        raise typer.Exit(1)
    data = data_dir.resolve()
    reused = _prepare(data, reset)
    try:
        code = asyncio.run(_run(host, port, data, reused, months, seed_value, speed))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        code = 130
    raise typer.Exit(code)
