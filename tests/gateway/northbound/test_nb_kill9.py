"""`kill -9` of a process feeding the outlet: nothing `submit` acknowledged is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from nb_support import Broker, Subscriber, gateway_config, mqtt_sink, unique

from devices.model import Sample
from gateway.northbound import build_outlet
from gateway.northbound.outlet import NorthboundOutlet

pytestmark = pytest.mark.mosquitto
FEEDER = Path(__file__).parent / "nb_feeder.py"


class Feeder:
    """The feeder process and the lines it printed so far."""

    def __init__(self, buffer_path: Path, port: int, enterprise: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FEEDER), str(buffer_path), str(port), enterprise],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.strip())
                self._cond.notify_all()

    def wait_acked(self, n: int, within: float = 30.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.acked()) >= n, within)
        assert ok, f"feeder acknowledged only {len(self.acked())} batches: {self.lines[-3:]}"

    def acked(self) -> list[tuple[int, int]]:
        return [(int(p[1]), int(p[2])) for p in (ln.split() for ln in list(self.lines)) if p[0] == "acked"]

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._thread.join(5)

    def epoch(self) -> str:
        return next(ln.split()[1] for ln in self.lines if ln.startswith("started"))


@pytest.fixture
def feeders() -> Iterator[Callable[..., Feeder]]:
    made: list[Feeder] = []

    def make(*args: object) -> Feeder:
        f = Feeder(*args)  # type: ignore[arg-type]
        made.append(f)
        return f

    yield make
    for f in made:
        if f.proc.poll() is None:
            f.proc.kill()
            f.proc.wait(10)


async def until(pred: Callable[[], bool], within: float = 30.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_kill9_during_outage_loses_nothing_acknowledged(
    tmp_path: Path, broker: Broker, feeders: Callable[..., Feeder]
) -> None:
    ent = unique("E")
    buffer_path = tmp_path / "gw" / "buffer.db"
    buffer_path.parent.mkdir()
    sub = Subscriber(broker.port, f"minegate/v1/{ent}/gw1/+/data")
    feeder = feeders(buffer_path, broker.port, ent)
    try:
        feeder.wait_acked(40)
        broker.stop()  # the rest piles up in the buffer
        feeder.wait_acked(len(feeder.acked()) + 150)
        feeder.kill9()
        acked = feeder.acked()
        epoch = feeder.epoch()
        broker.start()
        # the gateway comes back on the same buffer file
        out = build_outlet(gateway_config(tmp_path, [mqtt_sink(broker.port)], enterprise=ent,
                                          buffer_path=str(buffer_path)))
        assert isinstance(out, NorthboundOutlet) and out.buffer is not None
        await out.start(None)
        try:
            assert out.buffer.epoch == epoch
            await out.submit("scale", [Sample("scale", "value", -1)])
            after = out.buffer.head
            assert after > acked[-1][0]  # seq goes on after the crash, never reused
            wanted = {seq for seq, _ in acked} | {after}
            assert await asyncio.to_thread(
                sub.wait, lambda m: wanted <= {orjson.loads(p)["seq"] for _, p, _ in m}, 30
            ), f"missing seqs {sorted(wanted - {d['seq'] for d in sub.data()})[:10]}"
            by_seq = {d["seq"]: d for d in sub.data()}
            for seq, value in acked:
                d = by_seq[seq]
                assert d["epoch"] == epoch
                assert [s["value"] for s in d["samples"]] == [value, 2 * value]
            assert await until(lambda: out.stats()["buffer"]["depth_batches"] == 0)
        finally:
            await out.stop()
    finally:
        sub.close()


async def test_kill9_makes_the_broker_announce_offline(
    tmp_path: Path, broker: Broker, feeders: Callable[..., Feeder]
) -> None:
    ent = unique("E")
    (tmp_path / "gw").mkdir()
    sub = Subscriber(broker.port, f"minegate/v1/{ent}/gw1/status")
    feeder = feeders(tmp_path / "gw" / "buffer.db", broker.port, ent)
    try:
        feeder.wait_acked(5)
        assert await asyncio.to_thread(sub.wait, lambda m: any(orjson.loads(p)["online"] for _, p, _ in m), 15)
        feeder.kill9()
        assert await asyncio.to_thread(sub.wait, lambda m: not orjson.loads(m[-1][1])["online"], 15)
        will = orjson.loads(sub.messages[-1][1])
        assert set(will) == {"online", "ts", "devices", "dropped"}
    finally:
        sub.close()
