"""Telemetry from the broker: a shared subscription so several platform workers split the load.

Messages are acknowledged (QoS 1 PUBACK) only after the transaction that stores them commits, so
a worker that dies loses nothing: the broker redelivers, and the unique batch key turns the
redelivery into a no-op. A database outage stalls the worker with back-off instead of dropping
data; a malformed message is logged, counted and acknowledged (it would never become valid).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.engine import Engine

from platform_api.telemetry.batch import Batch, BatchError, parse_batch
from platform_api.telemetry.influx import InfluxForwarder
from platform_api.telemetry.store import Gap, IngestResult, StatusError, apply_status, now_ms, write_batches

log = logging.getLogger("minegate.platform.ingest")

TOPIC_ROOT = "minegate/v1"
DATA_FILTER = f"{TOPIC_ROOT}/+/+/+/data"
STATUS_FILTER = f"{TOPIC_ROOT}/+/+/status"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_mqtt_url(url: str) -> BrokerAddress:
    u = urlparse(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"mqtt_url: scheme {u.scheme!r} (allowed: mqtt://, mqtts://)")
    if not u.hostname:
        raise ValueError("mqtt_url: no host (e.g. mqtt://platform:secret@127.0.0.1:1883)")
    tls = u.scheme in ("mqtts", "ssl")
    return BrokerAddress(
        u.hostname, u.port or (8883 if tls else 1883), unquote(u.username) if u.username else None,
        unquote(u.password) if u.password else None, tls,
    )


class MqttConsumer:
    """One ingest worker: a paho network thread feeding a queue, one writer thread draining it."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        *,
        group: str = "platform",
        client_id: str | None = None,
        batch_max: int = 500,
        flush_ms: int = 50,
        on_received: Callable[[Batch], None] | None = None,
        on_written: Callable[[IngestResult], None] | None = None,
        influx: InfluxForwarder | None = None,
    ) -> None:
        self.engine = engine
        self.addr = parse_mqtt_url(url)
        self.group = group
        self.batch_max = batch_max
        self.flush_s = flush_ms / 1000
        self.on_received = on_received
        self.on_written = on_written
        self.influx = influx
        self.persistent = client_id is not None
        self.client_id = client_id or f"minegate-platform-{uuid.uuid4().hex[:12]}"
        self._q: queue.Queue[mqtt.MQTTMessage] = queue.Queue(maxsize=50_000)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._writer: threading.Thread | None = None
        self.counters = {
            "messages": 0, "batches": 0, "duplicates": 0, "samples": 0, "rejected": 0, "statuses": 0,
            "gaps": 0, "db_errors": 0, "alarm_events": 0, "connects": 0,
        }
        self.last_error: str | None = None
        self.gaps: list[Gap] = []
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if self.addr.username:
            c.username_pw_set(self.addr.username, self.addr.password)
        if self.addr.tls:
            c.tls_set()
        c.reconnect_delay_set(1, 30)
        c.max_inflight_messages_set(1000)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        self.client = c

    # -- paho thread -----------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.last_error = f"broker refused the connection: {rc}"
            log.error(self.last_error)
            return
        self.counters["connects"] += 1
        client.subscribe([(f"$share/{self.group}/{DATA_FILTER}", 1), (STATUS_FILTER, 1)])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        failed = [c for c in codes if getattr(c, "is_failure", False)]
        if failed:
            self.last_error = f"subscription refused by the broker: {failed}"
            log.error(self.last_error)
            return
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._subscribed.clear()
        if not self._stop.is_set():
            self.last_error = f"disconnected from broker: {rc}"
            log.warning("%s; reconnecting", self.last_error)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._q.put(msg)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, wait: float = 10.0) -> bool:
        """Connect and start both threads; returns whether subscriptions were made within `wait` s
        (the worker keeps trying either way)."""
        props = Properties(PacketTypes.CONNECT)
        if self.persistent:
            props.SessionExpiryInterval = 3600
        self.client.connect_async(
            self.addr.host, self.addr.port, keepalive=30, clean_start=not self.persistent, properties=props
        )
        self.client.loop_start()
        self._writer = threading.Thread(target=self._run, name=f"ingest-{self.client_id}", daemon=True)
        self._writer.start()
        return self._subscribed.wait(wait)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving, then write what is queued (one attempt: what fails is not acknowledged,
        so the broker redelivers it to another worker or after a restart)."""
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout)

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def stats(self) -> dict[str, Any]:
        return {**self.counters, "connected": self.connected, "queued": self._q.qsize(), "last_error": self.last_error}

    # -- writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            msgs = self._drain()
            if msgs:
                self._handle(msgs)
            elif self._stop.is_set():
                return

    def _drain(self) -> list[mqtt.MQTTMessage]:
        """Up to `batch_max` messages: whatever is queued, plus what arrives until a short lull or
        the flush window ends. The broker sends only so many unacknowledged messages at a time
        (its inflight window), so waiting for a full window would only add latency."""
        try:
            first = self._q.get(timeout=self.flush_s if not self._stop.is_set() else 0.01)
        except queue.Empty:
            return []
        msgs = [first]
        deadline = time.monotonic() + self.flush_s
        lull = min(0.005, self.flush_s)
        while len(msgs) < self.batch_max:
            left = deadline - time.monotonic()
            try:
                msgs.append(self._q.get(timeout=min(lull, left)) if left > 0 else self._q.get_nowait())
            except queue.Empty:
                break
        return msgs

    def _handle(self, msgs: list[mqtt.MQTTMessage]) -> None:
        self.counters["messages"] += len(msgs)
        batches: list[Batch] = []
        statuses: list[tuple[str, str, Any]] = []
        received = now_ms()
        for m in msgs:
            parts = m.topic.split("/")
            if not m.payload and len(parts) == 5:
                continue  # a retained status being cleared
            try:
                payload = orjson.loads(m.payload)
                if len(parts) == 6 and parts[5] == "data":
                    b = parse_batch(payload, parts[2], parts[3], parts[4], now_ms=received)
                    batches.append(b)
                    if self.on_received is not None:
                        self.on_received(b)
                elif len(parts) == 5 and parts[4] == "status":
                    statuses.append((parts[2], parts[3], payload))
                else:
                    raise BatchError(f"topic {m.topic!r} is neither data nor status")
            except (orjson.JSONDecodeError, BatchError) as e:
                self.counters["rejected"] += 1
                log.warning("rejected message on %s: %s", m.topic, e)
        if not self._retrying(lambda: self._write(batches, statuses, received)):
            return  # stopping before the write succeeded: unacknowledged, so the broker redelivers
        for m in msgs:
            if m.qos > 0:
                try:
                    self.client.ack(m.mid, m.qos)
                except Exception as e:  # a lost connection: the broker redelivers, dedup absorbs it
                    log.debug("ack failed: %s", e)

    def _write(self, batches: list[Batch], statuses: list[tuple[str, str, Any]], received: int) -> None:
        for ent, gw, payload in statuses:
            try:
                apply_status(self.engine, ent, gw, payload)
                self.counters["statuses"] += 1
            except StatusError as e:
                self.counters["rejected"] += 1
                log.warning("rejected status of %s/%s: %s", ent, gw, e)
        statuses.clear()  # done: a retry of the batches must not apply them twice
        if not batches:
            return
        res = write_batches(self.engine, batches, received)
        if self.influx is not None and res.accepted:
            keys = set(res.accepted_keys)
            self.influx.send([b for b in batches if b.key in keys])
        batches.clear()
        self.counters["batches"] += res.accepted
        self.counters["duplicates"] += res.duplicates
        self.counters["samples"] += res.samples
        self.counters["alarm_events"] += res.alarm_events
        if res.gaps:
            self.counters["gaps"] += len(res.gaps)
            self.gaps = (self.gaps + res.gaps)[-1000:]
            for g in res.gaps:
                log.info("gap: %s/%s epoch %s seq %d..%d not received yet", g.enterprise, g.gateway, g.epoch,
                         g.first_seq, g.last_seq)
        if self.on_written is not None:
            self.on_written(res)

    def _retrying(self, fn: Callable[[], None]) -> bool:
        """Retry a database write with back-off until it succeeds (True) or the worker stops."""
        delay = 0.2
        while True:
            try:
                fn()
                self.last_error = None
                return True
            except Exception as e:
                self.counters["db_errors"] += 1
                self.last_error = f"database: {e.__class__.__name__}: {str(e)[:300]}"
                log.error("ingest write failed (retrying in %.1fs): %s", delay, self.last_error)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, 30.0)
