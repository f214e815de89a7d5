"""The northbound hot path: the spliced `samples` array, the raw array in the memory ring, and
sink libraries loaded only when configured."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import Sample, iso_ms
from gateway.northbound.buffer import Buffer
from gateway.northbound.encoding import _iso, _slow_json, decode, pack, samples_json

TS = 1_800_000_000.125
ROOT = Path(__file__).resolve().parents[3]

values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(min_value=0, max_value=9), max_size=3), st.binary(max_size=3),
)
samples = st.lists(
    st.builds(Sample, st.just("d"), st.text(min_size=1, max_size=6), values,
              st.sampled_from(["good", "uncertain", "bad"]), st.sampled_from([TS, TS + 0.001, TS + 1.5]),
              st.one_of(st.none(), st.text(max_size=6))),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(samples)
def test_spliced_array_is_byte_for_byte_the_per_sample_one(batch: list[Sample]) -> None:
    try:
        expected = _slow_json(batch)
    except TypeError:  # beyond what JSON can carry (e.g. a 70-bit int): both routes refuse it alike
        with pytest.raises(TypeError):
            samples_json(batch)
        return
    assert samples_json(batch) == expected
    assert len(orjson.loads(samples_json(batch))) == len(batch)


def test_values_with_commas_and_non_finite_floats_take_the_right_route() -> None:
    batch = [Sample("d", "txt", "a,b", ts=TS), Sample("d", "inf", math.inf, ts=TS),
             Sample("d", "ninf", -math.inf, ts=TS), Sample("d", "nan", math.nan, ts=TS),
             Sample("d", "arr", [1, 2], ts=TS), Sample("d", "n", None, "uncertain", ts=TS)]
    out = orjson.loads(samples_json(batch))
    assert [x["value"] for x in out] == ["a,b", "Infinity", "-Infinity", None, [1, 2], None]
    out = orjson.loads(samples_json(batch[1:4]))  # the spliced route alone
    assert [x["value"] for x in out] == ["Infinity", "-Infinity", None]


async def test_ring_records_carry_the_raw_array_and_disk_records_inflate_to_it(tmp_path: Path) -> None:
    b = Buffer(str(tmp_path / "buf.db"), ["a"], round_period=0.02)
    b.open()
    b.bind(asyncio.get_running_loop())
    try:
        raw = samples_json([Sample("d", f"t{i}", i * 1.5, ts=TS) for i in range(100)])
        enc, blob = pack(raw)
        assert decode(enc, blob) == raw and len(blob) < len(raw)
        seq = await b.append("d", 100, enc, blob, raw)
        ring = await b.read(b.reader(), seq - 1)
        disk = await asyncio.to_thread(b._read_disk, b.reader(), seq - 1, 10, 1 << 20)
        assert ring[0].raw is raw and ring[0].samples_json() is raw
        assert disk[0].raw is None and disk[0].samples_json() == raw
        assert ring[0].size > disk[0].size  # the ring's memory bound counts the raw array too
    finally:
        await asyncio.to_thread(b.close)


def test_a_gateway_that_only_speaks_mqtt_loads_no_influx_or_http_client(tmp_path: Path) -> None:
    probe = f"""
import asyncio, sys
from gateway.northbound import build_outlet
from gateway.settings import BufferSettings, GatewayConfig
cfg = GatewayConfig(id="g", enterprise="E", buffer=BufferSettings(path={str(tmp_path / "b.db")!r}),
                    northbound=({{"type": "mqtt", "url": "mqtt://127.0.0.1:1"}},))
async def main():
    out = build_outlet(cfg)
    await out.start(None)
    await out.stop()
asyncio.run(main())
print(sorted(m for m in ("influxdb_client", "httpx") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.floats(min_value=0, max_value=4e9),
                 st.integers(0, 4_000_000_000).map(lambda s: s + 0.9999995),
                 st.integers(0, 4_000_000_000).map(lambda s: s + 0.0005)))
def test_sample_times_are_written_exactly_as_iso_ms_writes_them(ts: float) -> None:
    assert _iso(ts) == iso_ms(ts).encode()


async def test_many_devices_share_commits_and_a_lone_device_keeps_its_own(tmp_path: Path) -> None:
    # not durable: a commit then takes well under the 5 ms between arrivals, so without grouping
    # every batch of the trickle below would be a commit of its own
    b = Buffer(str(tmp_path / "buf.db"), ["a"], round_period=0.02, durable=False, group_devices=8, group_gap=0.1)
    b.open()
    b.bind(asyncio.get_running_loop())
    enc, blob = pack(samples_json([Sample("d", "t", 1.0, ts=TS)]))
    try:
        before = b.rounds
        for _ in range(30):  # one device, one batch at a time: a commit each, never held back
            await b.append("solo", 1, enc, blob)
        assert b.rounds - before >= 30

        async def trickle(count: int) -> None:
            """Batches of 20 devices arriving one at a time, as a gateway's device loops submit."""
            pending = []
            for i in range(count):
                pending.append(asyncio.ensure_future(b.append(f"d{i % 20}", 1, enc, blob)))
                await asyncio.sleep(0.005)
            await asyncio.gather(*pending)

        await trickle(240)  # over a second of it: the writer now knows many devices are submitting
        before = b.rounds
        await trickle(100)
        assert b.rounds - before < 50  # 100 batches in far fewer commits
        await b.sync()
        assert b.stats()["depth_batches"] == 30 + 240 + 100  # nothing lost on the way
    finally:
        await asyncio.to_thread(b.close)
