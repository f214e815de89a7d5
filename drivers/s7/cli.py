"""`minegate driver s7 probe`: reach a PLC before writing its config.

On site the usual questions are "which slot?", "what PDU does it give us?", "is it in RUN?" and
"is PUT/GET enabled?"; one command answers them with the same connection code the gateway uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from devices.model import DeviceSpec, Sample, TagSpec
from drivers.base import DriverError
from drivers.s7.driver import S7Driver
from drivers.s7.types import TypeProblem, resolve

app = typer.Typer(help="Siemens S7 helpers: probe a PLC (slot, PDU size, CPU mode, test reads).",
                  no_args_is_help=True)

SCAN_SLOTS = (1, 2, 0, 3)  # S7-1200/1500, S7-300, some CPs and soft PLCs, S7-400 variants


@app.callback()
def _s7() -> None:
    """Siemens S7 helpers."""


def _tags(reads: list[str]) -> list[TagSpec]:
    tags = []
    for n, text in enumerate(reads):
        address, _, type_ = text.partition(":")
        tag = TagSpec(f"read{n}", address.strip(), type_.strip() or None)
        try:
            resolve(tag)
        except TypeProblem as exc:
            raise typer.BadParameter(f"{text}: {exc}", param_hint="--read") from None
        tags.append(tag)
    return tags


async def _probe(connection: dict[str, Any], options: dict[str, Any], tags: list[TagSpec],
                 seconds: float) -> tuple[dict[str, Any], list[Sample]]:
    driver = S7Driver(DeviceSpec("probe", "s7", connection, tuple(tags), timeout=seconds, options=options))
    try:
        await asyncio.wait_for(driver.connect(), 3 * seconds + 1)
        samples = await asyncio.wait_for(driver.read(tags), 5 * seconds + 1) if tags else []
        return driver.stats(), samples
    finally:
        await driver.close()


@app.command("probe")
def probe(
    host: str = typer.Argument(..., help="PLC IP address or host name."),
    port: int = typer.Option(102, "--port", help="TCP port."),
    rack: int = typer.Option(0, "--rack", help="Rack of the CPU."),
    slot: int = typer.Option(1, "--slot", help="Slot of the CPU (S7-300: 2, S7-1200/1500: 1)."),
    local_tsap: str | None = typer.Option(None, "--local-tsap", help="Local TSAP, e.g. 01.00."),
    remote_tsap: str | None = typer.Option(None, "--remote-tsap", help="Remote TSAP instead of rack/slot, e.g. 03.01."),
    pdu: int = typer.Option(960, "--pdu", help="PDU size to ask for (128-960)."),
    timeout: float = typer.Option(2.0, "--timeout", help="Seconds per request."),
    reads: list[str] = typer.Option([], "--read", help="ADDRESS[:TYPE] to read, e.g. DB1.DBD0:real (repeatable)."),
    scan: bool = typer.Option(False, "--scan", help=f"Try rack {0} slots {', '.join(map(str, SCAN_SLOTS))} "
                                                     "until one answers."),
) -> None:
    """Connect, show the negotiated PDU and CPU mode, and read a few addresses."""
    tags = _tags(reads)
    base: dict[str, Any] = {"host": host, "port": port}
    if local_tsap:
        base["local_tsap"] = local_tsap
    if remote_tsap:
        attempts = [{**base, "remote_tsap": remote_tsap}]
    elif scan:
        attempts = [{**base, "rack": 0, "slot": s} for s in SCAN_SLOTS]
    else:
        attempts = [{**base, "rack": rack, "slot": slot}]
    options = {"pdu_size": pdu, "cpu_state_interval": 0}
    problems = S7Driver.check_connection(attempts[0]) + S7Driver.check_options(options)
    if problems:
        for p in problems:
            typer.echo(f"error: {p.field}: {p.message}", err=True)
        raise typer.Exit(2)
    for conn in attempts:
        where = f"TSAP {conn['remote_tsap']}" if "remote_tsap" in conn else f"rack {conn['rack']} slot {conn['slot']}"
        try:
            stats, samples = asyncio.run(_probe(conn, options, tags, timeout))
        except (DriverError, TimeoutError, OSError) as exc:
            typer.echo(f"{where}: {exc or 'no answer'}")
            continue
        typer.echo(f"{where}: connected to {host}:{port} (TSAP {stats['local_tsap']} -> {stats['remote_tsap']})")
        typer.echo(f"PDU size: {stats['pdu_requested']} asked, {stats['pdu_size']} granted")
        typer.echo(f"CPU mode: {stats['cpu_state']}")
        for tag, sample in zip(tags, samples, strict=True):
            shown = sample.value if sample.quality != "bad" else None
            note = f" ({sample.quality}: {sample.error})" if sample.error else ""
            typer.echo(f"{tag.address}{':' + tag.type if tag.type else ''} = {shown!r}{note}")
        return
    raise typer.Exit(1)
