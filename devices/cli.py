"""`minegate simulate PROFILE`: serve a simulated device (or the whole demo plant) until stopped.

Mounted by the main CLI either as a sub-app (`app.add_typer(devices.cli.app, name="simulate")`)
or as a command (`app.command("simulate")(devices.cli.simulate)`); both give
`minegate simulate PROFILE [--port N] [--seed S] [--speed X]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from devices.profiles.spec import load_spec
from devices.simulators import DEFAULT_PLANT, Plant, Simulator, simulated_profiles, start_plant, start_simulator

app = typer.Typer(add_completion=False, help="Serve simulated mine and plant devices over their real protocols.")

PLANT = "plant"
_PLAIN = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*|\d+(\.\d+)?(ms|s|m|h|d))$")
DEFAULT_PORTS = {"modbus": 5020, "opcua": 4840, "s7": 1102}
"""Unprivileged stand-ins for 502, 4840 and 102 when no --port is given."""


def _flow(value: Any) -> str:
    """A value as YAML flow text (enough for config snippets: str, numbers, bools, mappings)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return text if _PLAIN.match(text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gateway_yaml(devices: list[dict[str, Any]], gateway_id: str = "gw-sim-01", enterprise: str = "E000000000") -> str:
    lines = [
        "# Gateway config for the simulated devices: add a northbound section to publish.",
        "gateway:",
        f"  id: {gateway_id}",
        f"  enterprise: {enterprise}",
        "devices:",
    ]
    lines += [f"  - {_flow(d)}" for d in devices]
    return "\n".join(lines) + "\n"


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time (e.g. 2026-03-02T10:00:00+08:00)") from None
    if dt.tzinfo is None:
        from zoneinfo import ZoneInfo

        dt = dt.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return dt


async def _serve(profile: str, port: int | None, host: str, seed: int, speed: float, start: datetime | None,
                 night_ban: tuple[str, str] | None, duration: float | None, config: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before anything listens: Ctrl-C always stops cleanly
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        running: Simulator | Plant
        if profile == PLANT:
            running = await start_plant(host=host, base_port=port, seed=seed, speed=speed, start=start,
                                        night_ban=night_ban)
            sims = list(running)
        else:
            driver = load_spec(profile).driver
            running = await start_simulator(profile, port=DEFAULT_PORTS[driver] if port is None else port,
                                            host=host, seed=seed, speed=speed, start=start, night_ban=night_ban)
            sims = [running]
        try:
            _announce(sims, seed, speed, config)
            if duration is None:
                await stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=duration)
        finally:
            await running.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def _announce(sims: list[Simulator], seed: int, speed: float, config: Path | None) -> None:
    for sim in sims:
        typer.echo(f"{sim.name} ({sim.profile.name}, {sim.driver}) listening on {sim.endpoint}")
    first = sims[0]
    local = first.now.astimezone(first.model.schedule.tz)
    typer.echo(f"seed {seed}, speed {speed:g}x, simulated time {local.isoformat(timespec='seconds')}; "
               "Ctrl-C to stop")
    snippet = gateway_yaml([s.device_config() for s in sims])
    if config is not None:
        config.write_text(snippet, encoding="utf-8")
        typer.echo(f"gateway config written to {config}")
    else:
        typer.echo(snippet.rstrip("\n"))
    sys.stdout.flush()


@app.callback(invoke_without_command=True, context_settings={"allow_interspersed_args": True})
def simulate(
    profile: str = typer.Argument(..., help=f"Profile to serve, or '{PLANT}' for the whole demo site."),
    port: int | None = typer.Option(None, "--port", "-p", help="TCP port (0 = any free port). Default: "
                                    "5020 Modbus, 4840 OPC UA, 1102 S7; for 'plant' free ports, or N, N+1, ..."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed and start give the same values."),
    speed: float = typer.Option(1.0, "--speed", help="Simulated seconds per real second (0 = frozen)."),
    start: str | None = typer.Option(None, "--start", help="Simulated start time, ISO 8601 (default: now; "
                                     "no offset = Asia/Shanghai)."),
    no_night_ban: bool = typer.Option(False, "--no-night-ban", help="Produce around the clock (default: no "
                                      "production 00:00-08:00 Asia/Shanghai)."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this many real seconds."),
    config: Path | None = typer.Option(None, "--config", help="Write a gateway config for the served devices "
                                       "to this file instead of printing it."),
) -> None:
    """Serve a simulated device over its real protocol (Modbus TCP, OPC UA or S7) until Ctrl-C."""
    choices = [*simulated_profiles(), PLANT]
    if profile not in choices:
        typer.echo(f"unknown profile {profile!r} (allowed: {', '.join(choices)})", err=True)
        raise typer.Exit(2)
    if speed < 0:
        typer.echo(f"--speed must be >= 0, got {speed:g}", err=True)
        raise typer.Exit(2)
    if port is not None and not 0 <= port <= 65535 - (len(DEFAULT_PLANT) if profile == PLANT else 0):
        typer.echo(f"--port {port} is out of range (allowed: 0-65535)", err=True)
        raise typer.Exit(2)
    try:
        asyncio.run(_serve(profile, port, host, seed, speed, _parse_start(start),
                           None if no_night_ban else ("00:00", "08:00"), duration, config))
    except (OSError, RuntimeError) as exc:
        typer.echo(f"cannot serve {profile}: {exc}", err=True)
        raise typer.Exit(1) from None
