"""The MQTT sink against real Mosquitto brokers (CONTRACTS §5)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from nb_support import (
    REAL_BROKER,
    Broker,
    Subscriber,
    clear_retained,
    data_seqs,
    gateway_config,
    make_password_file,
    make_tls_files,
    mqtt_sink,
    unique,
)

from devices.model import Sample, iso_ms, now_ts
from gateway.northbound import build_outlet
from gateway.northbound.mqtt_sink import build_ssl_context
from gateway.northbound.outlet import NorthboundOutlet

pytestmark = pytest.mark.mosquitto


async def until(pred: Callable[[], bool], within: float = 15.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def in_thread(sub: Subscriber, pred: Callable[[list[Any]], bool], within: float = 15.0) -> bool:
    return await asyncio.to_thread(sub.wait, pred, within)


def n_data(n: int) -> Callable[[list[Any]], bool]:
    return lambda msgs: len({orjson.loads(p)["seq"] for t, p, _ in msgs if t.endswith("/data")}) >= n


def outlet_of(tmp: Path, sink: dict[str, Any], **kw: Any) -> NorthboundOutlet:
    out = build_outlet(gateway_config(tmp, [sink], **kw))
    assert isinstance(out, NorthboundOutlet)
    return out


def samples(i: int, n: int = 3) -> list[Sample]:
    return [Sample("scale", f"t{k}", i * 1000 + k, ts=1_800_000_000.0 + i) for k in range(n)]


def dedupe(sub: Subscriber) -> list[dict[str, Any]]:
    seen: set[tuple[str, int]] = set()
    out = []
    for d in sub.data():
        key = (d["epoch"], d["seq"])
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


async def test_batches_arrive_with_contract_payload_and_retained_status(tmp_path: Path) -> None:
    ent = unique("E")
    base = f"minegate/v1/{ent}/gw1"
    sub = Subscriber(REAL_BROKER, f"{base}/#")
    out = outlet_of(tmp_path, mqtt_sink(REAL_BROKER), enterprise=ent)
    try:
        await out.start(None)
        out.device_state("scale", True, 1_800_000_000.0, None)
        out.device_state("washer", False, 1_800_000_001.0, "connection refused")
        await out.submit("scale", [Sample("scale", "flow", 512.5, ts=1_800_000_000.125),
                                   Sample.bad("scale", "setpoint", "timeout", ts=1_800_000_000.125)])
        await out.submit("washer", [Sample("washer", "feed", 3, ts=1_800_000_000.0)])
        assert await in_thread(sub, n_data(2))
        topics = [t for t, _, _ in sub.messages if t.endswith("/data")]
        assert topics == [f"{base}/scale/data", f"{base}/washer/data"]
        first = sub.data()[0]
        assert first == {
            "gateway": "gw1", "device": "scale", "epoch": out.buffer.epoch if out.buffer else None, "seq": 1,
            "samples": [
                {"tag": "flow", "value": 512.5, "quality": "good", "ts": "2027-01-15T08:00:00.125Z"},
                {"tag": "setpoint", "value": None, "quality": "bad", "ts": "2027-01-15T08:00:00.125Z",
                 "error": "timeout"},
            ],
        }
        assert await in_thread(sub, lambda m: any(
            orjson.loads(p)["devices"]["washer"]["state"] == "down"
            and orjson.loads(p)["devices"]["scale"]["state"] == "up" for t, p, _ in m if t.endswith("/status")))
        # retained: a newcomer sees the latest status at once
        late = Subscriber(REAL_BROKER, f"{base}/status")
        assert await in_thread(late, lambda m: len(m) >= 1)
        status = orjson.loads(late.messages[0][1])
        late.close()
        assert late.messages[0][2] is True
        assert status["online"] is True and status["dropped"] == []
        assert status["devices"]["washer"] == {"state": "down", "since": "2027-01-15T08:00:01.000Z",
                                               "error": "connection refused"}
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["delivered_batches"] == 2)
        await out.stop()
        assert await in_thread(sub, lambda m: orjson.loads(m[-1][1]).get("online") is False)
    finally:
        await out.stop()
        sub.close()
        clear_retained(REAL_BROKER, f"{base}/status")


async def test_release_only_after_puback(tmp_path: Path, broker_factory: Callable[..., Broker]) -> None:
    broker = broker_factory(start=False)
    out = outlet_of(tmp_path, mqtt_sink(broker.port))
    await out.start(None)
    try:
        for i in range(5):
            await out.submit("scale", samples(i))
        # let the sink try and fail: nothing can be acknowledged without a broker
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["last_error"] is not None)
        st = out.stats()
        assert st["buffer"]["depth_batches"] == 5
        assert st["sinks"]["mqtt"]["delivered_batches"] == 0 and not st["sinks"]["mqtt"]["connected"]
        assert st["sinks"]["mqtt"]["last_error"]
        broker.start()
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["delivered_batches"] == 5)
        assert await until(lambda: out.stats()["buffer"]["depth_batches"] == 0)
    finally:
        await out.stop()


async def test_broker_outage_every_sample_arrives_exactly_once_in_order(
    tmp_path: Path, broker: Broker
) -> None:
    out = outlet_of(tmp_path, mqtt_sink(broker.port, inflight=20))
    sub = Subscriber(broker.port, "minegate/v1/+/gw1/+/data")
    await out.start(None)
    sent: dict[int, list[Any]] = {}
    try:
        i = 0
        for _ in range(60):
            await out.submit("scale", samples(i))
            i += 1
        assert await in_thread(sub, n_data(5))
        broker.stop()  # outage with batches in flight, and more keep coming
        for _ in range(200):
            await out.submit("scale" if i % 2 else "washer", samples(i, 5))
            i += 1
        assert await until(lambda: not out.stats()["sinks"]["mqtt"]["connected"])
        broker.start()
        for _ in range(20):
            await out.submit("scale", samples(i))
            i += 1
        assert await in_thread(sub, n_data(i), within=30), f"got {len(set(data_seqs(sub)))} of {i}"
        got = dedupe(sub)
        assert [d["seq"] for d in got] == list(range(1, i + 1))
        for n, d in enumerate(got):
            sent[d["seq"]] = [s["value"] for s in d["samples"]]
            assert sent[d["seq"]][0] == n * 1000
        assert len({d["epoch"] for d in got}) == 1
        assert await until(lambda: out.stats()["buffer"]["depth_batches"] == 0)
        assert out.stats()["sinks"]["mqtt"]["connects"] >= 2
    finally:
        await out.stop()
        sub.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_dead_network_thread_is_noticed_and_restarted(tmp_path: Path, broker: Broker) -> None:
    out = outlet_of(tmp_path, mqtt_sink(broker.port))
    sub = Subscriber(broker.port, "minegate/v1/+/gw1/+/data")
    await out.start(None)
    try:
        await out.submit("scale", samples(0))
        assert await in_thread(sub, n_data(1))
        sink = out.sinks[0]
        client = sink._client  # type: ignore[attr-defined]

        class Boom(BaseException):
            pass

        original = client.on_message

        def explode(*_: Any) -> None:
            client.on_message = original
            raise Boom("callback bug")

        client.on_message = explode  # the next incoming message kills the paho thread
        sub.publish(f"minegate/v1/{out.config.enterprise}/gw1/scale/write", b"{}")
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["loop_restarts"] == 1)
        for i in range(1, 6):
            await out.submit("scale", samples(i))
        assert await in_thread(sub, n_data(6))
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["delivered_batches"] == 6)
    finally:
        await out.stop()
        sub.close()


async def test_clean_stop_does_not_fire_last_will_regression(tmp_path: Path, broker: Broker) -> None:
    """Closing the socket with an unread PUBACK reset the connection and the broker then
    published the last will over the clean offline status."""
    ent = unique("E")
    sub = Subscriber(broker.port, f"minegate/v1/{ent}/gw1/status")
    for round_ in range(5):
        out = outlet_of(tmp_path / str(round_), mqtt_sink(broker.port), enterprise=ent)
        await out.start(None)
        out.device_state("scale", True, now_ts(), None)
        await out.submit("scale", samples(round_))
        assert await until(lambda o=out: o.stats()["sinks"]["mqtt"]["delivered_batches"] == 1)  # type: ignore[misc]
        await out.stop()
        assert await in_thread(sub, lambda m, r=round_: sum(  # type: ignore[misc]
            1 for _, p, _ in m if not orjson.loads(p)["online"]) >= r + 1)
    await asyncio.sleep(0.3)
    sub.close()
    offline = [orjson.loads(p) for _, p, _ in sub.messages if not orjson.loads(p)["online"]]
    # a will would carry the startup state ("not connected yet") instead of "up"
    assert [d["devices"]["scale"]["state"] for d in offline] == ["up"] * 5


async def test_tls_with_username_and_password(tmp_path: Path, broker_factory: Callable[..., Broker]) -> None:
    tls = make_tls_files(tmp_path / "tls")
    pw = make_password_file(tmp_path / "passwd", "gw1", "s3cret")
    broker = broker_factory([
        "allow_anonymous false", f"password_file {pw}", f"cafile {tls['ca']}",
        f"certfile {tls['cert']}", f"keyfile {tls['key']}",
    ])
    ctx = build_ssl_context(tls["ca"], None, None, False)
    sub = Subscriber(broker.port, "minegate/v1/+/gw1/+/data", username="gw1", password="s3cret", tls_context=ctx)
    good = outlet_of(tmp_path / "good", {**mqtt_sink(broker.port), "url": f"mqtts://127.0.0.1:{broker.port}",
                                         "username": "gw1", "password": "s3cret", "tls": {"ca": tls["ca"]}})
    bad = outlet_of(tmp_path / "bad", {**mqtt_sink(broker.port), "url": f"mqtts://127.0.0.1:{broker.port}",
                                       "username": "gw1", "password": "wrong", "tls": {"ca": tls["ca"]}})
    await good.start(None)
    await bad.start(None)
    try:
        await good.submit("scale", samples(1))
        await bad.submit("scale", samples(2))
        assert await in_thread(sub, n_data(1))
        assert await until(lambda: bad.stats()["sinks"]["mqtt"]["last_error"] is not None
                           and "refused" in bad.stats()["sinks"]["mqtt"]["last_error"])
        assert bad.stats()["sinks"]["mqtt"]["delivered_batches"] == 0
        assert sub.data()[0]["samples"][0]["value"] == 1000
    finally:
        await good.stop()
        await bad.stop()
        sub.close()


async def test_plain_client_cannot_reach_tls_listener(tmp_path: Path, broker_factory: Callable[..., Broker]) -> None:
    tls = make_tls_files(tmp_path / "tls")
    broker = broker_factory([f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"])
    out = outlet_of(tmp_path, {**mqtt_sink(broker.port), "url": f"mqtts://127.0.0.1:{broker.port}"})
    await out.start(None)  # system CAs do not know the private CA: must not connect
    try:
        await out.submit("scale", samples(1))
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["last_error"] is not None)
        assert out.stats()["sinks"]["mqtt"]["delivered_batches"] == 0
        assert out.stats()["sinks"]["mqtt"]["connects"] == 0
    finally:
        await out.stop()


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    async def __call__(self, device: str, tag: str, value: Any) -> Sample:
        self.calls.append((device, tag, value))
        if value == "explode":
            raise ValueError("value 'explode' is not a number")
        return Sample(device, tag, value, ts=1_800_000_000.0)


async def write_roundtrip(tmp_path: Path, broker: Broker, writes: bool,
                          requests: list[dict[str, Any]]) -> tuple[Handler, dict[Any, dict[str, Any]]]:
    out = outlet_of(tmp_path, mqtt_sink(broker.port), writes=writes)
    base = f"minegate/v1/{out.config.enterprise}/gw1"
    sub = Subscriber(broker.port, f"{base}/+/write/reply")
    handler = Handler()
    await out.start(handler)
    try:
        assert await until(lambda: out.stats()["sinks"]["mqtt"]["connected"])
        await asyncio.sleep(0.1)  # subscription of the write topic
        for r in requests:
            device = r.pop("_device", "scale")
            sub.publish(f"{base}/{device}/write", orjson.dumps(r))
        assert await in_thread(sub, lambda m: len(m) >= len(requests))
        replies = {orjson.loads(p)["id"]: orjson.loads(p) for _, p, _ in sub.messages}
        return handler, replies
    finally:
        await out.stop()
        sub.close()


async def test_write_requests_accepted_and_refused(tmp_path: Path, broker: Broker) -> None:
    later = iso_ms(now_ts() + 60)
    handler, replies = await write_roundtrip(tmp_path, broker, True, [
        {"id": "ok", "tag": "setpoint", "value": 12, "expires": later},
        {"id": "ro", "tag": "flow", "value": 1, "expires": later},
        {"id": "old", "tag": "setpoint", "value": 13, "expires": iso_ms(now_ts() - 1)},
        {"id": "noexp", "tag": "setpoint", "value": 14},
        {"id": "unknown", "tag": "nope", "value": 1, "expires": later},
        {"id": "dev", "tag": "setpoint", "value": 1, "expires": later, "_device": "crusher"},
        {"id": "fails", "tag": "setpoint", "value": "explode", "expires": later},
    ])
    assert handler.calls == [("scale", "setpoint", 12), ("scale", "setpoint", "explode")]
    assert replies["ok"]["ok"] is True and replies["ok"]["error"] is None
    assert replies["ok"]["sample"]["value"] == 12
    for rid, words in {"ro": "read-only", "old": "expired", "noexp": "expires", "unknown": "no tag",
                       "dev": "unknown device", "fails": "not a number"}.items():
        assert replies[rid]["ok"] is False and words in replies[rid]["error"], replies[rid]


async def test_write_requests_refused_when_writes_are_off(tmp_path: Path, broker: Broker) -> None:
    handler, replies = await write_roundtrip(tmp_path, broker, False, [
        {"id": 1, "tag": "setpoint", "value": 12, "expires": iso_ms(now_ts() + 60)}])
    assert handler.calls == []
    assert replies[1]["ok"] is False and "gateway.writes" in replies[1]["error"]


async def test_repeated_write_request_is_carried_out_once(tmp_path: Path, broker: Broker) -> None:
    later = iso_ms(now_ts() + 60)
    req = {"id": "same", "tag": "setpoint", "value": 5, "expires": later}
    handler, replies = await write_roundtrip(tmp_path, broker, True, [dict(req), dict(req)])
    assert handler.calls == [("scale", "setpoint", 5)]
    assert replies["same"]["ok"] is True


async def test_full_buffer_drops_oldest_counts_and_announces(
    tmp_path: Path, broker_factory: Callable[..., Broker]
) -> None:
    broker = broker_factory(start=False)
    out = outlet_of(tmp_path, mqtt_sink(broker.port), max_mb=0.25)
    await out.start(None)
    try:
        big = [Sample("scale", f"tag{k}", os.urandom(16).hex(), ts=1_800_000_000.0) for k in range(300)]
        n = 0
        while out.stats()["buffer"]["dropped_batches"] == 0 and n < 200:
            await out.submit("scale", big)
            n += 1
        for _ in range(3):
            await out.submit("scale", big)
            n += 1
        st = out.stats()
        assert st["buffer"]["dropped_batches"] > 0
        assert st["sinks"]["mqtt"]["dropped_batches"] == st["buffer"]["dropped_batches"]
        assert st["sinks"]["mqtt"]["dropped_samples"] == 300 * st["buffer"]["dropped_batches"]
        assert st["buffer"]["used_bytes"] <= 0.25 * 1024 * 1024
        lost = st["buffer"]["dropped_batches"]
        sub = Subscriber(broker.port, "minegate/v1/+/gw1/#") if False else None
        broker.start()
        sub = Subscriber(broker.port, "minegate/v1/+/gw1/#")
        try:
            assert await in_thread(sub, lambda m: len(m) >= 1 and any(t.endswith("/status") for t, _, _ in m))
            assert await in_thread(sub, n_data(n - lost))
            status = sub.on("/status")[-1]
            epoch = out.buffer.epoch if out.buffer else ""
            assert status["dropped"] == [[epoch, 1, lost]]
            assert sorted(set(data_seqs(sub))) == list(range(lost + 1, n + 1))
        finally:
            sub.close()
    finally:
        await out.stop()


def test_timing_helpers_are_bounded() -> None:
    start = time.monotonic()
    assert asyncio.run(until(lambda: False, within=0.05)) is False
    assert time.monotonic() - start < 5
