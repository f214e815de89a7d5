"""A gateway stand-in run as a separate process by the kill -9 tests.

Usage: nb_feeder.py BUFFER_PATH BROKER_PORT ENTERPRISE. Prints `started EPOCH`, then after every
`submit` has returned: `acked SEQ VALUE`. Stops by itself after 60 s or 20,000 batches.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from nb_support import gateway_config, mqtt_sink

from devices.model import Sample, now_ts
from gateway.northbound import build_outlet
from gateway.northbound.outlet import NorthboundOutlet


async def main(buffer_path: str, port: int, enterprise: str) -> None:
    cfg = gateway_config(Path(buffer_path).parent, [mqtt_sink(port)], enterprise=enterprise,
                         buffer_path=buffer_path)
    out = build_outlet(cfg)
    assert isinstance(out, NorthboundOutlet) and out.buffer is not None
    await out.start(None)
    out.device_state("scale", True, now_ts(), None)
    print(f"started {out.buffer.epoch}", flush=True)
    deadline = time.monotonic() + 60
    for i in range(20_000):
        if time.monotonic() > deadline:
            break
        await out.submit("scale", [Sample("scale", "value", i), Sample("scale", "twice", 2 * i)])
        print(f"acked {out.buffer.head} {i}", flush=True)
        await asyncio.sleep(0.002)
    await out.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
