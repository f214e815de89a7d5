"""MQTT sink (CONTRACTS §5): data batches at QoS 1, retained status with last will, remote writes.

Delivery: a batch is published with its stored `seq` and acknowledged to the buffer only when
the broker's PUBACK arrives, so the buffer never releases what the broker has not taken.
At most `inflight` batches are outstanding; paho keeps those across a reconnect and resends
them (DUP) itself, while everything newer stays in the buffer until the connection is back.

The paho network thread does reconnects with exponential back-off. A supervisor task checks
that thread every half second: if it died (an exception escaping paho, a bug in a callback), it
is counted, logged and started again, so the gateway is never silently cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections import OrderedDict, deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from devices.model import now_ts
from gateway.northbound.buffer import Record
from gateway.northbound.encoding import Envelope
from gateway.northbound.settings import MqttSettings
from gateway.northbound.sink import Sink, SinkContext
from gateway.northbound.writes import WriteRefused, check_write, reply

log = logging.getLogger("gateway.northbound.mqtt")

SUPERVISE_PERIOD = 0.5
STATUS_DEBOUNCE = 0.1
RECENT_WRITE_IDS = 256
READ_AHEAD = 1000


def build_ssl_context(ca: str | None, cert: str | None, key: str | None, insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if cert and key:
        ctx.load_cert_chain(cert, key)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class MqttSink(Sink):
    type = "mqtt"

    def __init__(self, settings: MqttSettings, ctx: SinkContext) -> None:
        super().__init__(settings.name, ctx)
        self.settings = settings
        self.base = f"minegate/v1/{ctx.enterprise}/{ctx.gateway}"
        self.status_topic = f"{self.base}/status"
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()
        self._room = asyncio.Event()
        self._inflight: dict[int, tuple[int, int]] = {}
        self._stopping = False
        self._final_mid: int | None = None
        self._up = False
        self._logged_error: str | None = None
        self._envelope: Envelope | None = None
        self._reader: Any = None
        self._status_handle: asyncio.TimerHandle | None = None
        self._recent_writes: OrderedDict[tuple[str, str], asyncio.Future[bytes]] = OrderedDict()
        self._write_tasks: set[asyncio.Future[Any]] = set()
        self._lock = threading.Lock()
        self.connects = 0
        self.disconnects = 0
        self.loop_restarts = 0
        self.published = 0
        self.writes_done = 0
        self.writes_refused = 0
        self.last_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client_id = s.client_id or f"minegate-{self.ctx.enterprise}-{self.ctx.gateway}-{self.name}"
        if s.protocol == "5":
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                                 clean_session=True)
        client.max_inflight_messages_set(s.inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(s.reconnect_min, s.reconnect_max)  # type: ignore[arg-type]
        client.connect_timeout = s.connect_timeout
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls is not None:
            client.tls_set_context(build_ssl_context(s.tls.ca, s.tls.cert, s.tls.key, s.tls.insecure))
        client.will_set(self.status_topic, self._status_payload(False), qos=1, retain=True)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._envelope = Envelope(self.ctx.gateway, self.ctx.buffer.epoch)
        self._reader = self.ctx.buffer.reader()
        client = self._client = self._make_client()
        client.connect_async(self.settings.host, self.settings.port, keepalive=int(self.settings.keepalive))
        client.loop_start()
        self._tasks = [
            asyncio.create_task(self._feed(), name=f"mqtt-feed-{self.name}"),
            asyncio.create_task(self._supervise(), name=f"mqtt-supervise-{self.name}"),
        ]

    async def stop(self, grace: float) -> None:
        self._stopping = True
        client = self._client
        for t in self._tasks[:1]:  # stop feeding; keep acks coming while we wait below
            t.cancel()
        deadline = asyncio.get_running_loop().time() + grace
        if client is not None and client.is_connected():
            with contextlib.suppress(Exception):
                self._final_mid = client.publish(self.status_topic, self._status_payload(False), qos=1,
                                                 retain=True).mid
            # wait for the outstanding PUBACKs, the offline status's included: closing a socket
            # with an unread PUBACK makes TCP reset it, and the broker then fires the last will
            while ((self._inflight or self._final_mid is not None)
                   and asyncio.get_running_loop().time() < deadline and client.is_connected()):
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), max(0.01, deadline - asyncio.get_running_loop().time()))
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        for w in list(self._write_tasks):
            w.cancel()
        if self._status_handle is not None:
            self._status_handle.cancel()
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)
        self._connected.clear()

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, *args)

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        # the last will carries the freshest device states we know of
        client.will_set(self.status_topic, self._status_payload(False), qos=1, retain=True)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._set_error(f"broker refused the connection: {reason}")
            return
        self._up = True
        self._logged_error = None
        self.connects += 1
        log.info("mqtt %s: connected to %s:%d", self.name, self.settings.host, self.settings.port)
        client.subscribe(f"{self.base}/+/write", qos=1)
        self._call(self._on_connected_loop)

    def _set_error(self, message: str, level: int = logging.ERROR) -> None:
        """Record the latest problem; log it once, not on every retry of a broker that stays away."""
        self.last_error = message
        if message != self._logged_error:
            self._logged_error = message
            log.log(level, "mqtt %s: %s", self.name, message)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._set_error(f"cannot connect to {self.settings.host}:{self.settings.port}; retrying with back-off",
                        logging.WARNING)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._up:  # a refused CONNECT also ends here: keep its more telling error
            self._up = False
            self.disconnects += 1
            if not self._stopping:
                self._set_error(f"disconnected ({reason}); reconnecting with back-off", logging.WARNING)
        self._call(self._connected.clear)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._call(self._acked, mid)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            parts = message.topic.split("/")
            if len(parts) != 6 or parts[5] != "write" or message.retain:
                return
            loop = self._loop
            if loop is None:
                return
            loop.call_soon_threadsafe(self._spawn_write, parts[4], bytes(message.payload))
        except Exception:  # never let a bad message kill the network thread
            log.exception("mqtt %s: cannot handle message on %s", self.name, message.topic)

    # -- event-loop side ---------------------------------------------------------------------
    def _on_connected_loop(self) -> None:
        if self._client is None or self._stopping:
            return
        self._connected.set()
        self._room.set()
        self._publish_status()

    def _acked(self, mid: int) -> None:
        if mid == self._final_mid:
            self._final_mid = None
            self._room.set()
        entry = self._inflight.pop(mid, None)
        if entry is not None:
            self.ctx.buffer.ack(self.name, entry[0], entry[1])
            self.published += 1
            self._room.set()

    def _topic(self, device: str) -> str:
        return f"{self.base}/{device}/data"

    async def _feed(self) -> None:
        """Publish stored batches in seq order, at most `inflight` unacknowledged at a time.
        Batches are read ahead in large chunks so a backlog drains without a disk read per
        freed window slot."""
        buffer = self.ctx.buffer
        client = self._client
        assert client is not None and self._envelope is not None
        ahead: deque[Record] = deque()
        read_pos = buffer.cursor(self.name)
        while True:
            if not self._connected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._connected.wait(), SUPERVISE_PERIOD)
                continue
            cursor = buffer.cursor(self.name)
            if cursor > read_pos or (ahead and ahead[0].seq <= cursor):  # the buffer dropped past us
                while ahead and ahead[0].seq <= cursor:
                    ahead.popleft()
                read_pos = max(read_pos, cursor)
            room = self.settings.inflight - len(self._inflight)
            if room <= 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), SUPERVISE_PERIOD)
                continue
            if not ahead:
                recs = await buffer.read(self._reader, read_pos, limit=READ_AHEAD)
                if not recs:
                    await buffer.wait_beyond(read_pos, within=SUPERVISE_PERIOD)
                    continue
                ahead.extend(recs)
                read_pos = recs[-1].seq
            while ahead and room > 0:
                rec = ahead[0]
                payload = self._envelope.wrap(rec.device, rec.seq, rec.samples_json())
                info = client.publish(self._topic(rec.device), payload, qos=1)
                if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    self._set_error(f"publish refused by the client: {mqtt.error_string(info.rc)}")
                    await asyncio.sleep(SUPERVISE_PERIOD)
                    break
                ahead.popleft()
                self._inflight[info.mid] = (rec.seq, rec.count)
                room -= 1

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(SUPERVISE_PERIOD)
            client = self._client
            if client is None or self._stopping:
                return
            thread = client._thread  # paho keeps its network thread here; None once it has ended
            if thread is None or not thread.is_alive():
                self.loop_restarts += 1
                self.last_error = "network loop thread died; restarted"
                log.error("mqtt %s: the network loop thread died; restarting it (restart %d)",
                          self.name, self.loop_restarts)
                self._connected.clear()
                await asyncio.to_thread(self._restart_loop, client)
            if client.is_connected():
                if not self._connected.is_set():
                    self._connected.set()
                    self._room.set()
            else:
                self._connected.clear()

    @staticmethod
    def _restart_loop(client: mqtt.Client) -> None:
        """Start a new network thread on a fresh connection: the dead one may have left a
        half-handled packet behind, and handling it again could kill the new thread too."""
        client._thread = None
        with contextlib.suppress(Exception):  # broker unreachable: the new loop retries with back-off
            client.reconnect()
        client.loop_start()

    # -- status --------------------------------------------------------------------------------
    def _status_payload(self, online: bool) -> bytes:
        dropped = [d.announce() for d in self.ctx.buffer.drop_ranges(self.name)]
        return self.ctx.board.document(online, dropped)

    def _publish_status(self) -> None:
        self._status_handle = None
        client = self._client
        if client is None or self._stopping or not client.is_connected():
            return
        with contextlib.suppress(Exception):
            client.publish(self.status_topic, self._status_payload(True), qos=1, retain=True)

    def status_changed(self) -> None:
        loop = self._loop
        if loop is None or self._status_handle is not None:
            return
        self._status_handle = loop.call_later(STATUS_DEBOUNCE, self._publish_status)

    # -- writes ----------------------------------------------------------------------------------
    def _spawn_write(self, device: str, payload: bytes) -> None:
        task = asyncio.ensure_future(self._handle_write(device, payload))
        self._write_tasks.add(task)
        task.add_done_callback(self._write_tasks.discard)

    async def _handle_write(self, device: str, payload: bytes) -> None:
        ctx = self.ctx
        try:
            req = check_write(payload, device, writes_enabled=ctx.writes, devices=ctx.devices, now=now_ts())
        except WriteRefused as refused:
            self.writes_refused += 1
            log.warning("mqtt %s: write to %s refused: %s", self.name, device, refused.reason)
            self._reply(device, reply(refused.request_id, False, refused.reason))
            return
        key = (device, str(req.id))
        earlier = self._recent_writes.get(key)
        if earlier is not None:  # a QoS 1 redelivery of a request already taken: same answer, no 2nd write
            self._reply(device, await asyncio.shield(earlier))
            return
        if ctx.write_handler is None:
            self.writes_refused += 1
            self._reply(device, reply(req.id, False, "this gateway takes no writes right now (not running)"))
            return
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._recent_writes[key] = answer
        while len(self._recent_writes) > RECENT_WRITE_IDS:
            self._recent_writes.popitem(last=False)
        try:
            sample = await asyncio.wait_for(ctx.write_handler(device, req.tag, req.value), self.settings.write_timeout)
        except TimeoutError:
            body = reply(req.id, False, f"no answer from device {device} within {self.settings.write_timeout:g}s")
        except Exception as exc:
            body = reply(req.id, False, str(exc) or type(exc).__name__)
        else:
            self.writes_done += 1
            log.info("mqtt %s: wrote %s.%s = %r (request %s)", self.name, device, req.tag, req.value, req.id)
            body = reply(req.id, True, None, sample.to_dict() if sample is not None else None)
        answer.set_result(body)
        self._reply(device, body)

    def _reply(self, device: str, body: bytes) -> None:
        client = self._client
        if client is None:
            return
        with contextlib.suppress(Exception):
            client.publish(f"{self.base}/{device}/write/reply", body, qos=1)

    def stats(self) -> dict[str, Any]:
        client = self._client
        return {
            "type": self.type,
            "connected": bool(client is not None and client.is_connected()),
            "inflight": len(self._inflight),
            "connects": self.connects,
            "disconnects": self.disconnects,
            "loop_restarts": self.loop_restarts,
            "writes_done": self.writes_done,
            "writes_refused": self.writes_refused,
            "last_error": self.last_error,
        }
