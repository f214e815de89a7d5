"""`minegate gateway ...`: check, read, write, browse and run a gateway config (CONTRACTS §4)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from devices.model import DeviceSpec, Sample
from drivers.base import Driver, TagError
from gateway.config import ConfigError, load_config
from gateway.runtime import Gateway, default_factory
from gateway.settings import GatewayConfig

app = typer.Typer(help="Run and inspect a site gateway.", no_args_is_help=True)
log = logging.getLogger("minegate.gateway")
err = Console(stderr=True)

ConfigOpt = typer.Option(..., "--config", "-c", help="gateway YAML file", exists=False)


def _load(path: Path) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {path}", file=sys.stderr)
        raise typer.Exit(2) from None


@app.command()
def check(config: Path = ConfigOpt) -> None:
    """Validate a config file: exit 0, or print every problem as FILE:LINE and exit 2."""
    cfg = _load(config)
    tags = sum(len(d.tags) for d in cfg.devices)
    print(f"{config}: ok ({len(cfg.devices)} devices, {tags} tags, {len(cfg.northbound)} northbound sinks)")


async def _read_device(spec: DeviceSpec) -> list[Sample]:
    readable = [t for t in spec.tags if t.readable]
    driver = default_factory(spec)
    try:
        await asyncio.wait_for(driver.connect(), timeout=max(3 * spec.timeout, 5.0))
        return await asyncio.wait_for(driver.read(readable), timeout=max(10 * spec.timeout, 10.0))
    except Exception as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
        return [Sample.bad(spec.name, t.name, reason) for t in readable]
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(driver.close(), timeout=5)


@contextlib.asynccontextmanager
async def connected(spec: DeviceSpec) -> AsyncIterator[Driver]:
    """A connected driver for one-shot commands, closed whatever happens."""
    driver = default_factory(spec)
    try:
        await asyncio.wait_for(driver.connect(), timeout=max(3 * spec.timeout, 5.0))
        yield driver
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(driver.close(), timeout=5)


def _pick(cfg: GatewayConfig, device: str | None) -> list[DeviceSpec]:
    if device is None:
        return list(cfg.devices)
    try:
        return [cfg.device(device)]
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        raise typer.Exit(2) from None


@app.command()
def read(
    config: Path = ConfigOpt,
    device: str | None = typer.Option(None, "--device", "-d", help="only this device"),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl | table"),
) -> None:
    """One read of every tag; one sample per line. Exit 0 even when some samples are bad."""
    if fmt not in ("jsonl", "table"):
        print(f"error: --format {fmt!r} is not allowed (allowed: jsonl, table)", file=sys.stderr)
        raise typer.Exit(2)
    cfg = _load(config)
    specs = _pick(cfg, device)

    async def main() -> list[list[Sample]]:
        return await asyncio.gather(*(_read_device(s) for s in specs))

    results = asyncio.run(main())
    if fmt == "jsonl":
        out = sys.stdout
        for samples in results:
            for s in samples:
                out.write(orjson.dumps(s.to_dict()).decode() + "\n")
        return
    table = Table("device", "tag", "value", "quality", "ts", "error")
    for samples in results:
        for s in samples:
            d = s.to_dict()
            table.add_row(s.device, s.tag, "" if d["value"] is None else str(d["value"]), s.quality, d["ts"],
                          s.error or "")
    Console().print(table)


@app.command()
def write(
    device: str = typer.Argument(..., help="device name"),
    tag: str = typer.Argument(..., help="tag name"),
    value: str = typer.Argument(..., help="value in engineering units"),
    config: Path = ConfigOpt,
) -> None:
    """Write one tag (engineering units) and read it back."""
    cfg = _load(config)
    spec = _pick(cfg, device)[0]
    try:
        tspec = spec.tag(tag)
    except KeyError as exc:
        print(f"error: {exc.args[0]} (tags: {', '.join(t.name for t in spec.tags)})", file=sys.stderr)
        raise typer.Exit(2) from None
    if not tspec.writable:
        print(f"error: tag {tag} is read-only (access: {tspec.access.value}); set access: rw to write it",
              file=sys.stderr)
        raise typer.Exit(2)

    async def main() -> Sample:
        async with connected(spec) as driver:
            await asyncio.wait_for(driver.write(tspec, _parse_value(value)), timeout=max(5 * spec.timeout, 5.0))
            if not tspec.readable:
                return Sample(spec.name, tag, value)
            return (await asyncio.wait_for(driver.read([tspec]), timeout=max(5 * spec.timeout, 5.0)))[0]

    try:
        sample = asyncio.run(main())
    except TagError as exc:
        print(f"error: write refused: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    except Exception as exc:
        print(f"error: write failed: {str(exc) or type(exc).__name__}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(orjson.dumps(sample.to_dict()).decode())
    if sample.quality == "bad":
        raise typer.Exit(1)


def _parse_value(text: str) -> Any:
    """Numbers and booleans as JSON, anything else as text: the driver converts to the tag type."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


@app.command()
def browse(
    device: str = typer.Argument(..., help="device name"),
    config: Path = ConfigOpt,
    depth: int = typer.Option(3, "--depth", help="levels below the root to walk"),
) -> None:
    """List a device's variables (address, name, type) to help write tags."""
    cfg = _load(config)
    spec = _pick(cfg, device)[0]

    async def main() -> list[dict[str, Any]]:
        async with connected(spec) as driver:
            return await driver.browse(depth)

    try:
        items = asyncio.run(main())
    except NotImplementedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except Exception as exc:
        print(f"error: browse failed: {str(exc) or type(exc).__name__}", file=sys.stderr)
        raise typer.Exit(1) from None
    table = Table("address", "name", "type")
    for it in items:
        table.add_row(str(it.get("address")), str(it.get("name")), str(it.get("type")))
    Console().print(table)


def build_outlet(cfg: GatewayConfig) -> Any:
    if not cfg.northbound:
        return None
    northbound = importlib.import_module("gateway.northbound")  # imported only when a sink is configured
    return northbound.build_outlet(cfg)


@app.command()
def run(config: Path = ConfigOpt) -> None:
    """Run until SIGINT/SIGTERM, then flush and exit 0."""
    cfg = _load(config)
    try:
        asyncio.run(run_gateway(cfg))
    except Exception as exc:
        log.exception("gateway failed: %s", exc)
        raise typer.Exit(1) from None


async def run_gateway(cfg: GatewayConfig, stop: asyncio.Event | None = None) -> None:
    from gateway.stats_http import StatsServer

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    gw = Gateway(cfg, build_outlet(cfg), backoff_cap=cfg.reconnect_max)
    server = None
    if cfg.http:
        server = StatsServer(gw.stats, str(cfg.http.get("host", "127.0.0.1")), int(cfg.http.get("port", 9100)))
        await server.start()
        log.info("statistics on http://%s:%d/stats and /metrics", server.host, server.port,
                 extra={"event": "stats.listen", "port": server.port})
    await gw.start()
    try:
        await stop.wait()
    finally:
        log.info("stopping", extra={"event": "gateway.stopping"})
        await gw.stop()
        if server is not None:
            await server.stop()
