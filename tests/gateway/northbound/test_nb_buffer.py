"""The store-and-forward buffer on its own: seq, epoch, acknowledgements, limits, restarts."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from devices.model import Sample
from gateway.northbound.buffer import Buffer, DropRange
from gateway.northbound.encoding import decode, encode


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def batch(i: int, n: int = 1) -> tuple[str, int, int, bytes]:
    enc, blob = encode([Sample("d", f"t{k}", i * 100 + k, ts=1_800_000_000.0) for k in range(n)])
    return "d", n, enc, blob


def remove_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., Buffer]]:
    opened: list[Buffer] = []

    def factory(sinks: tuple[str, ...] = ("a",), **kw: Any) -> Buffer:
        kw.setdefault("round_period", 0.02)
        b = Buffer(str(tmp_path / "buf.db"), sinks, **kw)
        b.open()
        b.bind(asyncio.get_running_loop())
        opened.append(b)
        return b

    yield factory
    for b in opened:
        await asyncio.to_thread(b.close)


async def put(b: Buffer, count: int, start: int = 0, n: int = 1) -> list[int]:
    return [await b.append(*batch(start + i, n)) for i in range(count)]


async def test_seq_counts_up_per_batch_and_survives_restart(make: Callable[..., Buffer]) -> None:
    b = make()
    epoch = b.epoch
    assert len(epoch) == 16
    assert await put(b, 3) == [1, 2, 3]
    await asyncio.to_thread(b.close)
    b2 = make()
    assert b2.epoch == epoch
    assert await put(b2, 2) == [4, 5]


async def test_seq_continues_after_everything_was_released(make: Callable[..., Buffer]) -> None:
    b = make()
    for s in await put(b, 3):
        b.ack("a", s, 1)
    await b.sync()
    assert b.stats()["depth_batches"] == 0
    await asyncio.to_thread(b.close)
    b2 = make()
    assert await put(b2, 1) == [4]


async def test_new_file_means_new_epoch(tmp_path: Path, make: Callable[..., Buffer]) -> None:
    b = make()
    first = b.epoch
    await put(b, 2)
    await asyncio.to_thread(b.close)
    remove_files(str(tmp_path / "buf.db"))
    b2 = make()
    assert b2.epoch != first
    assert await put(b2, 1) == [1]


async def test_concurrent_appends_get_unique_contiguous_seqs(make: Callable[..., Buffer]) -> None:
    b = make()
    seqs = await asyncio.gather(*(b.append(*batch(i)) for i in range(300)))
    assert sorted(seqs) == list(range(1, 301))


async def test_release_only_after_every_sink_acknowledged(make: Callable[..., Buffer]) -> None:
    b = make(("mqtt", "influx"))
    await put(b, 4)
    for s in (1, 2, 3, 4):
        b.ack("mqtt", s, 1)
    await b.sync()
    assert b.stats()["depth_batches"] == 4
    b.ack("influx", 1, 1)
    b.ack("influx", 2, 1)
    await b.sync()
    st = b.stats()
    assert st["depth_batches"] == 2
    assert st["sinks"]["influx"]["pending_batches"] == 2
    assert st["sinks"]["mqtt"]["pending_batches"] == 0


async def test_out_of_order_acks_advance_only_contiguously(make: Callable[..., Buffer]) -> None:
    b = make()
    await put(b, 5)
    b.ack("a", 2, 1)
    b.ack("a", 3, 1)
    assert b.cursor("a") == 0
    b.ack("a", 1, 1)
    assert b.cursor("a") == 3
    b.ack("a", 2, 1)  # duplicate
    assert b.stats()["sinks"]["a"]["delivered_batches"] == 3


async def test_acknowledged_cursor_survives_restart(make: Callable[..., Buffer]) -> None:
    b = make(("a", "b"))
    await put(b, 5)
    b.ack("a", 1, 1)
    b.ack("a", 2, 1)
    await b.sync()
    await asyncio.to_thread(b.close)
    b2 = make(("a", "b"))
    assert b2.cursor("a") == 2 and b2.cursor("b") == 0
    recs = await b2.read(b2.reader(), b2.cursor("a"))
    assert [r.seq for r in recs] == [3, 4, 5]
    assert b2.stats()["sinks"]["a"]["pending_samples"] == 3


async def test_reads_from_disk_and_memory_agree(make: Callable[..., Buffer]) -> None:
    b = make()
    await put(b, 10, n=3)
    ring = await b.read(b.reader(), 4, limit=3)
    disk = await asyncio.to_thread(b._read_disk, b.reader(), 4, 3, 1 << 20)
    assert [r.seq for r in ring] == [r.seq for r in disk] == [5, 6, 7]
    assert [r.samples_json() for r in ring] == [r.samples_json() for r in disk]
    assert decode(*batch(4, 3)[2:]) == ring[0].samples_json()


async def test_removed_sink_no_longer_holds_batches(make: Callable[..., Buffer]) -> None:
    b = make(("a", "old"))
    await put(b, 3)
    for s in (1, 2, 3):
        b.ack("a", s, 1)
    await b.sync()
    assert b.stats()["depth_batches"] == 3
    await asyncio.to_thread(b.close)
    b2 = make(("a",))
    await b2.sync()
    assert b2.stats()["depth_batches"] == 0


async def test_new_sink_gets_everything_still_buffered(make: Callable[..., Buffer]) -> None:
    b = make(("a",))
    await put(b, 3)
    await asyncio.to_thread(b.close)
    b2 = make(("a", "new"))
    assert b2.cursor("new") == 0


async def test_full_buffer_drops_oldest_counts_and_records_ranges(make: Callable[..., Buffer]) -> None:
    drops: list[DropRange] = []
    b = make(("a", "b"), max_bytes=256 * 1024, on_drop=drops.extend)
    seqs = await put(b, 20, n=1)
    b.ack("a", 1, 1)
    b.ack("a", 2, 1)
    await b.sync()
    # incompressible-ish big batches push it over the limit
    big = [Sample("d", f"tag{k}", os.urandom(16).hex(), ts=1_800_000_000.0 + k) for k in range(400)]
    enc, blob = encode(big)
    for _ in range(30):
        seqs.append(await b.append("d", len(big), enc, blob))
    await b.sync()
    await asyncio.sleep(0.05)  # on_drop is called on the loop
    st = b.stats()
    assert st["used_bytes"] <= 256 * 1024
    assert st["dropped_batches"] > 0
    oldest = (await b.read(b.reader(), 0, limit=1))[0].seq
    assert oldest > 1
    ra = b.drop_ranges("a")
    rb = b.drop_ranges("b")
    # a had delivered 1-2 itself, so only 3.. counts as lost for it
    assert ra[0].first == 3 and rb[0].first == 1
    assert ra[-1].last == rb[-1].last == oldest - 1
    assert st["sinks"]["b"]["dropped_batches"] == oldest - 1
    assert st["sinks"]["a"]["dropped_batches"] == oldest - 3
    assert st["dropped_batches"] == oldest - 1
    assert drops and {d.sink for d in drops} == {"a", "b"}
    # successive drops that join up are announced as one range
    assert len(ra) == len(rb) == 1
    assert b.cursor("b") == oldest - 1
    assert (await b.read(b.reader(), b.cursor("b")))[0].seq == oldest


async def test_drop_ranges_are_still_announced_after_restart(make: Callable[..., Buffer]) -> None:
    b = make(("a",), max_bytes=128 * 1024)
    big = [Sample("d", f"tag{k}", os.urandom(16).hex()) for k in range(400)]
    enc, blob = encode(big)
    for _ in range(20):
        await b.append("d", len(big), enc, blob)
    await b.sync()
    before = [d.announce() for d in b.drop_ranges("a")]
    assert before and before[0][0] == b.epoch and before[0][1] == 1
    await asyncio.to_thread(b.close)
    b2 = make(("a",), max_bytes=128 * 1024)
    assert [d.announce() for d in b2.drop_ranges("a")] == before


async def test_batches_older_than_max_age_are_dropped(make: Callable[..., Buffer]) -> None:
    clock = Clock()
    b = make(("a",), max_age=3600.0, clock=clock)
    await put(b, 3)
    clock.now += 1800
    await put(b, 2, start=3)
    clock.now += 1801  # the first three are now older than an hour
    await b.sync()
    st = b.stats()
    assert st["depth_batches"] == 2 and st["dropped_batches"] == 3
    assert [d.announce()[1:] for d in b.drop_ranges("a")] == [[1, 3]]
    assert st["oldest_age"] == pytest.approx(1801, abs=1)


async def test_stats_report_depth_and_oldest_undelivered_age(make: Callable[..., Buffer]) -> None:
    clock = Clock()
    b = make(("a", "b"), clock=clock)
    await put(b, 4, n=5)
    clock.now += 10
    await put(b, 1, start=4, n=5)
    for s in (1, 2, 3, 4):
        b.ack("a", s, 5)
    await b.sync()
    clock.now += 5
    st = b.stats()
    assert (st["depth_batches"], st["depth_samples"]) == (5, 25)
    assert st["sinks"]["a"]["pending_samples"] == 5
    assert st["sinks"]["b"]["pending_samples"] == 25
    assert st["sinks"]["a"]["oldest_undelivered_age"] == pytest.approx(5)
    assert st["sinks"]["b"]["oldest_undelivered_age"] == pytest.approx(15)
    assert st["sinks"]["a"]["delivered_samples"] == 20


async def test_unreadable_file_is_moved_aside_and_a_new_epoch_starts(tmp_path: Path,
                                                                      make: Callable[..., Buffer]) -> None:
    (tmp_path / "buf.db").write_bytes(b"this is not a database" * 100)
    b = make()
    assert b.moved_aside is not None and await asyncio.to_thread(os.path.exists, b.moved_aside)
    assert await put(b, 1) == [1]


async def test_wait_beyond_wakes_on_new_data(make: Callable[..., Buffer]) -> None:
    b = make()
    waiter = asyncio.create_task(b.wait_beyond(0, within=10))
    await asyncio.sleep(0)
    assert not waiter.done()
    await put(b, 1)
    assert await waiter is True
    assert await b.wait_beyond(1, within=0.01) is False


async def test_append_after_close_is_refused(make: Callable[..., Buffer]) -> None:
    b = make()
    await asyncio.to_thread(b.close)
    with pytest.raises(RuntimeError):
        await b.append(*batch(0))


async def test_file_is_consistent_for_another_reader(tmp_path: Path, make: Callable[..., Buffer]) -> None:
    b = make()
    await put(b, 5, n=2)
    conn = sqlite3.connect(str(tmp_path / "buf.db"))
    assert conn.execute("SELECT count(*), sum(n) FROM batches").fetchone() == (5, 10)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
