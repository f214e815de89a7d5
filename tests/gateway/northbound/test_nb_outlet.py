"""The outlet as the runtime sees it (`gateway.outlet.Outlet`)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from nb_support import free_port, gateway_config

from devices.model import Sample
from gateway.northbound import build_outlet
from gateway.northbound.outlet import NorthboundOutlet


def dead_mqtt() -> dict[str, object]:
    return {"type": "mqtt", "url": f"mqtt://127.0.0.1:{free_port()}", "reconnect_min": "50ms",
            "reconnect_max": "200ms"}


async def test_without_sinks_samples_are_counted_and_no_file_is_made(tmp_path: Path) -> None:
    out = build_outlet(gateway_config(tmp_path, []))
    await out.start(None)
    await out.submit("scale", [Sample("scale", "flow", 1.0)])
    assert out.stats()["submitted_samples"] == 1
    assert not await asyncio.to_thread(os.path.exists, tmp_path / "buffer.db")
    await out.stop()


async def test_submit_before_start_is_a_programming_error(tmp_path: Path) -> None:
    out = build_outlet(gateway_config(tmp_path, [dead_mqtt()]))
    with pytest.raises(RuntimeError, match="before start"):
        await out.submit("scale", [Sample("scale", "flow", 1.0)])


async def test_stats_show_depth_age_and_per_sink_counts(tmp_path: Path) -> None:
    out = build_outlet(gateway_config(tmp_path, [dead_mqtt()]))
    await out.start(None)
    try:
        await out.submit("scale", [Sample("scale", "flow", 1.0), Sample("scale", "setpoint", 2)])
        await out.submit("scale", [])  # nothing to publish this cycle: no batch
        st = out.stats()
        assert st["queue_depth"] == 2 and st["buffer"]["depth_batches"] == 1
        assert st["oldest_undelivered_age"] is not None and st["oldest_undelivered_age"] >= 0
        sink = st["sinks"]["mqtt"]
        for key in ("delivered_batches", "delivered_samples", "dropped_batches", "dropped_samples",
                    "pending_samples", "oldest_undelivered_age", "connected", "loop_restarts", "last_error"):
            assert key in sink
        assert sink["pending_samples"] == 2 and sink["connected"] is False
    finally:
        await out.stop()


async def test_a_failing_buffer_never_raises_into_the_device_loop(tmp_path: Path) -> None:
    out = build_outlet(gateway_config(tmp_path, [dead_mqtt()]))
    assert isinstance(out, NorthboundOutlet) and out.buffer is not None
    await out.start(None)
    await asyncio.to_thread(out.buffer.close)  # e.g. the disk went away under us
    await out.submit("scale", [Sample("scale", "flow", 1.0)])
    assert out.stats()["refused_batches"] == 1
    await out.stop()


async def test_stop_then_start_again_continues_the_sequence(tmp_path: Path) -> None:
    cfg = gateway_config(tmp_path, [dead_mqtt()])
    out = build_outlet(cfg)
    await out.start(None)
    await out.submit("scale", [Sample("scale", "flow", 1.0)])
    await out.stop()
    again = build_outlet(cfg)
    assert isinstance(again, NorthboundOutlet) and again.buffer is not None
    await again.start(None)
    await again.submit("scale", [Sample("scale", "flow", 2.0)])
    assert again.buffer.head == 2 and again.stats()["buffer"]["depth_batches"] == 2
    await again.stop()
