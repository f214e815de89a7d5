"""Two ingest workers on the real Mosquitto (127.0.0.1:1883) share one subscription group."""

from __future__ import annotations

import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from devices.model import iso_ms
from platform_api import db
from platform_api.ingest.mqtt_consumer import MqttConsumer
from platform_api.telemetry import query
from platform_api.telemetry.batch import Batch

pytestmark = pytest.mark.mosquitto
BROKER = "mqtt://127.0.0.1:1883"


def publisher() -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
                    protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    return c


def wait_for(cond, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_two_workers_split_the_load_and_store_each_sample_once(engine: Engine, code: str) -> None:
    group = f"platform-test-{uuid.uuid4().hex[:8]}"
    seen: dict[str, list[tuple[str, str, str, int]]] = {"a": [], "b": []}
    lock = threading.Lock()

    def recorder(name: str):  # type: ignore[no-untyped-def]
        def rec(b: Batch) -> None:
            if b.enterprise == code:
                with lock:
                    seen[name].append(b.key)
        return rec

    workers = [
        MqttConsumer(engine, BROKER, group=group, on_received=recorder(n), batch_max=50, flush_ms=20)
        for n in ("a", "b")
    ]
    pub = publisher()
    try:
        for w in workers:
            assert w.start(10.0), w.last_error
        n_batches, per_batch = 400, 5
        topic = f"minegate/v1/{code}/gw1/belt/data"
        infos = []
        for seq in range(1, n_batches + 1):
            body = {"gateway": "gw1", "device": "belt", "epoch": "ep1", "seq": seq,
                    "samples": [{"tag": f"t{i}", "value": seq + i / 10, "quality": "good",
                                 "ts": iso_ms(1_796_284_800 + seq)} for i in range(per_batch)]}
            infos.append(pub.publish(topic, orjson.dumps(body), qos=1))
        # the first 50 again: redelivery must change nothing
        for seq in range(1, 51):
            body = {"gateway": "gw1", "device": "belt", "epoch": "ep1", "seq": seq,
                    "samples": [{"tag": f"t{i}", "value": -1, "quality": "good",
                                 "ts": iso_ms(1_796_284_800 + seq)} for i in range(per_batch)]}
            infos.append(pub.publish(topic, orjson.dumps(body), qos=1))
        for i in infos:
            i.wait_for_publish(10)

        def stored() -> int:
            with engine.connect() as c:
                return int(c.execute(select(func.count()).select_from(db.samples)
                                     .where(db.samples.c.enterprise == code)).scalar())

        assert wait_for(lambda: len(seen["a"]) + len(seen["b"]) == n_batches + 50), {k: len(v) for k, v in seen.items()}
        assert wait_for(lambda: stored() == n_batches * per_batch)
        a, b = seen["a"], seen["b"]
        assert a and b, "both workers must receive a share"
        # each delivery went to exactly one worker: no message was seen by both
        assert len(a) + len(b) == n_batches + 50
        assert set(a) | set(b) == {(code, "gw1", "ep1", s) for s in range(1, n_batches + 1)}
        with engine.connect() as c:
            keys = int(c.execute(select(func.count()).select_from(db.batches)
                                 .where(db.batches.c.enterprise == code)).scalar())
            assert keys == n_batches
            assert query.gaps(c, code) == []
            latest = {r["tag"]: r["value"] for r in query.latest(c, code)}
        assert latest["t0"] == n_batches  # the redelivered copies (value -1) were ignored
        # received is not yet written: wait until the workers have flushed the redelivered copies too
        assert wait_for(lambda: sum(w.counters["duplicates"] for w in workers) == 50), \
            [w.counters["duplicates"] for w in workers]
    finally:
        pub.loop_stop()
        pub.disconnect()
        for w in workers:
            w.stop()


def test_status_and_malformed_messages(engine: Engine, code: str) -> None:
    w = MqttConsumer(engine, BROKER, group=f"platform-test-{uuid.uuid4().hex[:8]}", flush_ms=20)
    pub = publisher()
    try:
        assert w.start(10.0)
        pub.publish(f"minegate/v1/{code}/gw1/belt/data", b"{not json", qos=1).wait_for_publish(5)
        pub.publish(f"minegate/v1/{code}/gw1/belt/data", orjson.dumps({"gateway": "other"}), qos=1).wait_for_publish(5)
        now = iso_ms(time.time())
        st = {"online": True, "ts": now, "devices": {"belt": {"state": "up", "since": now, "error": None}},
              "dropped": []}
        pub.publish(f"minegate/v1/{code}/gw1/status", orjson.dumps(st), qos=1, retain=True).wait_for_publish(5)

        def ours() -> list[dict]:
            with engine.connect() as c:
                return query.gateways(c, code)

        # other retained statuses may be on the shared broker: wait for this gateway's own
        assert wait_for(lambda: w.counters["rejected"] >= 2 and bool(ours()))
        assert ours()[0]["online"] is True and ours()[0]["devices"]["belt"]["state"] == "up"
        assert w.connected
    finally:
        pub.publish(f"minegate/v1/{code}/gw1/status", b"", qos=1, retain=True).wait_for_publish(5)  # clear retained
        pub.loop_stop()
        pub.disconnect()
        w.stop()


def test_database_outage_stalls_ingest_without_losing_data(tmp_path, code: str) -> None:  # type: ignore[no-untyped-def]
    """Writes fail while the tables are missing; the worker retries with back-off, acknowledges
    nothing meanwhile, and stores every batch once the database is back."""
    engine = db.make_engine(f"sqlite:///{tmp_path}/late.db")  # no tables yet
    w = MqttConsumer(engine, BROKER, group=f"platform-test-{uuid.uuid4().hex[:8]}", flush_ms=20)
    pub = publisher()
    try:
        assert w.start(10.0)
        for seq in range(1, 6):
            body = {"gateway": "gw1", "device": "belt", "epoch": "e", "seq": seq,
                    "samples": [{"tag": "flow", "value": seq, "quality": "good", "ts": iso_ms(1_796_284_800 + seq)}]}
            pub.publish(f"minegate/v1/{code}/gw1/belt/data", orjson.dumps(body), qos=1).wait_for_publish(5)
        assert wait_for(lambda: w.counters["db_errors"] >= 2)
        assert w.last_error and "database" in w.last_error
        db.create_tables(engine)

        def stored() -> int:
            with engine.connect() as c:
                return int(c.execute(select(func.count()).select_from(db.samples)
                                     .where(db.samples.c.enterprise == code)).scalar())

        assert wait_for(lambda: stored() == 5, timeout=40)
        assert w.connected and w.last_error is None
    finally:
        pub.loop_stop()
        pub.disconnect()
        w.stop()
        engine.dispose()
