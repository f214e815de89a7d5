"""Stand-in for the ThingsBoard server's one answer the peer gateway waits for.

ThingsBoard IoT Gateway publishes telemetry only after its `getSessionLimits` RPC is answered
(`v1/devices/me/rpc/request/<id>` -> `v1/devices/me/rpc/response/<id>`). A plain broker never
answers, so this client does, with no rate limits, and ignores everything else.
Runs until killed, or `--max-seconds`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REQUEST = "v1/devices/me/rpc/request/+"
RESPONSE = "v1/devices/me/rpc/response/"
LIMITS = {"maxPayloadSize": 65536, "maxInflightMessages": 100, "rateLimits": {}, "gatewayRateLimits": {}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    args = ap.parse_args()
    answered = 0

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        c.subscribe(REQUEST, qos=1)

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal answered
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(body, dict) and body.get("method") == "getSessionLimits":
            c.publish(RESPONSE + msg.topic.rsplit("/", 1)[1], json.dumps(LIMITS), qos=1)
            answered += 1
            print(json.dumps({"answered": answered}), flush=True)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-tb-standin-{time.time_ns()}")
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    try:
        time.sleep(args.max_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
