"""Subscriber of the end-to-end benchmark: counts the tag values that reach the broker.

Run by `bench/e2e_modbus.py` pinned to the load core. It understands both gateways' payloads
and counts them the same way, one "tag delivered" per value with a value:

  minegate     `minegate/v1/{enterprise}/{gateway}/{device}/data`,
               `{"seq", "samples": [{"tag", "value", "quality", "ts"}, ...]}`: samples with quality good
  ThingsBoard  `v1/gateway/telemetry`, `{"device": [{"ts", "values": {tag: value, ...}}, ...]}`

Latency comes from the `stamp` tag (see `bench/e2e_loadgen.py`): its value k changed at
`t0 + k * tick`, so arrival minus that is the time from the server's value change to arrival
(it includes waiting for the next poll, up to one tick after the change); arrival minus the
sample's own `ts` is the time from the gateway's read (minegate) or conversion (ThingsBoard)
to arrival.

Prints one JSON line per second, at the point of the second where fewest values arrive (so a
window between two lines holds whole polling cycles): cumulative `values`, `messages`, `bad`,
`bytes`, the distinct minegate `seqs` and their span, and the latencies (ms) of the stamps that
arrived since the previous line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

MINEGATE_TOPIC = "minegate/v1/+/+/+/data"
TB_TOPIC = "v1/gateway/telemetry"


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Counts:
    def __init__(self, t0: float, tick: float) -> None:
        self.t0, self.tick = t0, tick
        self.lock = threading.Lock()
        self.values = 0
        self.bad = 0
        self.messages = 0
        self.bytes = 0
        self.seq_min: int | None = None
        self.seq_max = 0
        self.seqs: set[int] = set()
        self.devices: set[str] = set()
        self.change_ms: list[float] = []
        self.read_ms: list[float] = []
        self.errors = 0
        self._phase = [0.0, 0.0]  # values-weighted sum of (cos, sin) of the arrival phase within a second

    def quiet_phase(self) -> float:
        """The fraction of a second opposite to where values arrive: per-second lines printed
        there split a gateway's once-a-second bursts cleanly, so a window holds whole cycles."""
        with self.lock:
            c, s = self._phase
            self._phase = [c * 0.5, s * 0.5]
        if c == 0 and s == 0:
            return 0.0
        return (math.atan2(s, c) / (2 * math.pi) + 0.5) % 1.0

    def _arrived(self, arrived: float, n: int) -> None:
        angle = 2 * math.pi * (arrived % 1.0)
        self._phase[0] += n * math.cos(angle)
        self._phase[1] += n * math.sin(angle)

    def on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        try:
            doc = orjson.loads(msg.payload)
            if msg.topic == TB_TOPIC:
                self._thingsboard(doc, arrived, len(msg.payload))
            else:
                self._minegate(doc, arrived, len(msg.payload))
        except Exception:  # a payload we do not understand is counted, never fatal
            with self.lock:
                self.errors += 1

    def _stamp(self, k: Any, ts: float | None, arrived: float) -> None:
        if isinstance(k, (int, float)):
            self.change_ms.append((arrived - (self.t0 + int(k) * self.tick)) * 1000.0)
        if ts is not None:
            self.read_ms.append((arrived - ts) * 1000.0)

    def _minegate(self, doc: dict[str, Any], arrived: float, size: int) -> None:
        samples = doc["samples"]
        good = 0
        stamp = None
        for s in samples:
            if s.get("quality") == "good" and s.get("value") is not None:
                good += 1
                if s["tag"] == "stamp":
                    stamp = s
        with self.lock:
            self.messages += 1
            self.bytes += size
            self.values += good
            self.bad += len(samples) - good
            self._arrived(arrived, len(samples))
            self.devices.add(doc["device"])
            seq = int(doc["seq"])
            self.seqs.add(seq)
            self.seq_min = seq if self.seq_min is None else min(self.seq_min, seq)
            self.seq_max = max(self.seq_max, seq)
            if stamp is not None:
                self._stamp(stamp["value"], _iso(stamp["ts"]), arrived)

    def _thingsboard(self, doc: dict[str, Any], arrived: float, size: int) -> None:
        with self.lock:
            self.messages += 1
            self.bytes += size
            for device, entries in doc.items():
                self.devices.add(device)
                for entry in entries:
                    values = entry.get("values", entry) if isinstance(entry, dict) else {}
                    n = sum(1 for v in values.values() if v is not None)
                    self.values += n
                    self.bad += len(values) - n
                    self._arrived(arrived, len(values))
                    if "stamp" in values:
                        ts = entry.get("ts")
                        self._stamp(values["stamp"], ts / 1000.0 if isinstance(ts, (int, float)) else None, arrived)

    def line(self) -> str:
        with self.lock:
            out = {
                "t": time.time(), "values": self.values, "bad": self.bad, "messages": self.messages,
                "bytes": self.bytes, "devices": len(self.devices), "errors": self.errors,
                "seq_distinct": len(self.seqs),
                "seq_span": 0 if self.seq_min is None else self.seq_max - self.seq_min + 1,
                "change_ms": [round(x, 2) for x in self.change_ms],
                "read_ms": [round(x, 2) for x in self.read_ms],
            }
            self.change_ms, self.read_ms = [], []
        return json.dumps(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--tick", type=float, required=True)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    args = ap.parse_args()
    counts = Counts(args.t0, args.tick)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-counter-{time.time_ns()}")
    ready = threading.Event()

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        c.subscribe([(MINEGATE_TOPIC, 0), (TB_TOPIC, 0)])

    client.on_connect = on_connect
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = counts.on_message
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    if not ready.wait(10):
        print(json.dumps({"error": f"no subscription at {args.host}:{args.port} within 10 s"}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + args.max_seconds
    try:
        while time.monotonic() < deadline:
            now = time.time()
            target = math.floor(now) + counts.quiet_phase()
            while target <= now + 0.5:  # at least half a second apart, at most 1.5
                target += 1.0
            time.sleep(target - now)
            print(counts.line(), flush=True)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        client.loop_stop()
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
