"""The InfluxDB sink against a real server: VictoriaMetrics speaks the InfluxDB v2 write API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nb_support import Victoria, free_port, gateway_config

from devices.model import Sample
from gateway.northbound import build_outlet
from gateway.northbound.outlet import NorthboundOutlet

T0 = float(int(time.time()) - 3600)  # the server refuses points far from now


async def until(pred: Callable[[], bool], within: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def influx(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "influxdb", "url": url, "org": "minegate", "bucket": "plant", "token": "t0ken",
            "flush_interval": "50ms", "retry_min": "50ms", "retry_max": "300ms", **extra}


def points(vm: Victoria) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """{(metric, device): [(ms, value)...]} from the export API."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for series in vm.export():
        m = series["metric"]
        out[(m["__name__"], m.get("device", ""))] = sorted(zip(series["timestamps"], series["values"], strict=True))
        assert m.get("enterprise") and m.get("gateway") == "gw1"
    return out


def outlet(tmp: Path, sink: dict[str, Any]) -> NorthboundOutlet:
    out = build_outlet(gateway_config(tmp, [sink], enterprise="E150302001"))
    assert isinstance(out, NorthboundOutlet)
    return out


async def test_samples_become_points_and_bad_ones_are_left_out(tmp_path: Path, victoria: Victoria) -> None:
    out = outlet(tmp_path, influx(victoria.url))
    await out.start(None)
    try:
        for i in range(10):
            await out.submit("scale", [
                Sample("scale", "flow", 100.0 + i, ts=T0 + i),
                Sample("scale", "setpoint", i, ts=T0 + i),
                Sample("scale", "running", i % 2 == 0, ts=T0 + i),
                Sample.bad("scale", "total", "timeout", ts=T0 + i),
            ])
        await out.submit("washer", [Sample("washer", "feed", 7.5, ts=T0)])
        assert await until(lambda: out.stats()["sinks"]["influxdb"]["delivered_batches"] == 11)
        st = out.stats()["sinks"]["influxdb"]
        assert st["skipped_bad"] == 10 and st["connected"] and st["last_error"] is None

        def ready() -> bool:
            return len(points(victoria).get(("scale_flow", "scale"), [])) == 10

        assert await until(ready)
        got = points(victoria)
        ms0 = int(T0 * 1000)
        assert got[("scale_flow", "scale")] == [(ms0 + i * 1000, 100.0 + i) for i in range(10)]
        assert got[("scale_setpoint", "scale")] == [(ms0 + i * 1000, float(i)) for i in range(10)]
        assert got[("scale_running", "scale")] == [(ms0 + i * 1000, float(i % 2 == 0)) for i in range(10)]
        assert got[("washer_feed", "washer")] == [(ms0, 7.5)]
        assert not any(name == "scale_total" for name, _ in got)
        assert await until(lambda: out.stats()["buffer"]["depth_batches"] == 0)
    finally:
        await out.stop()


async def test_server_down_then_up_delivers_everything(tmp_path: Path) -> None:
    vm = Victoria(tmp_path / "vm", port=free_port())
    out = outlet(tmp_path, influx(vm.url, batch_size=50))
    await out.start(None)
    try:
        for i in range(120):
            await out.submit("scale", [Sample("scale", "flow", float(i), ts=T0 + i)])
        assert await until(lambda: out.stats()["sinks"]["influxdb"]["failures"] >= 2)
        st = out.stats()
        assert st["sinks"]["influxdb"]["delivered_batches"] == 0 and st["buffer"]["depth_batches"] == 120
        assert "write failed" in st["sinks"]["influxdb"]["last_error"]
        vm.start()
        assert await until(lambda: out.stats()["sinks"]["influxdb"]["delivered_batches"] == 120)
        assert await until(lambda: len(points(vm).get(("scale_flow", "scale"), [])) == 120)
        assert [v for _, v in points(vm)[("scale_flow", "scale")]] == [float(i) for i in range(120)]
        assert out.stats()["sinks"]["influxdb"]["writes"] >= 3  # batched by batch_size
    finally:
        await out.stop()
        vm.stop()


async def test_influx_and_mqtt_sinks_do_not_hold_each_other_back(tmp_path: Path, victoria: Victoria) -> None:
    dead_mqtt = {"type": "mqtt", "url": f"mqtt://127.0.0.1:{free_port()}", "reconnect_min": "50ms",
                 "reconnect_max": "200ms"}
    out = build_outlet(gateway_config(tmp_path, [dead_mqtt, influx(victoria.url)]))
    assert isinstance(out, NorthboundOutlet)
    await out.start(None)
    try:
        for i in range(5):
            await out.submit("scale", [Sample("scale", "flow", float(i), ts=T0 + i)])
        assert await until(lambda: out.stats()["sinks"]["influxdb"]["delivered_batches"] == 5)
        st = out.stats()
        # influx has it all, mqtt nothing: the buffer keeps every batch for mqtt
        assert st["buffer"]["depth_batches"] == 5
        assert st["sinks"]["mqtt"]["pending_batches"] == 5 and st["sinks"]["influxdb"]["pending_batches"] == 0
    finally:
        await out.stop()


@pytest.mark.parametrize("missing", ["/no/such/victoria-metrics"])
def test_missing_server_binary_is_a_loud_error(tmp_path: Path, missing: str, monkeypatch: Any) -> None:
    import nb_support

    monkeypatch.setattr(nb_support, "VICTORIA", missing)
    monkeypatch.setattr(nb_support.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="apt-get install -y victoria-metrics"):
        Victoria(tmp_path)



class Refusing:
    """A scripted HTTP server answering the v2 write API with given statuses in turn (then 204):
    VictoriaMetrics accepts even malformed lines, so the refusal paths need this stand-in."""

    def __init__(self, statuses: list[int]) -> None:
        import http.server
        import threading

        self.statuses = list(statuses)
        self.bodies: list[bytes] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.bodies.append(body)
                status = owner.statuses.pop(0) if owner.statuses else 204
                payload = b'{"code":"invalid","message":"unable to parse"}' if status != 204 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_data_the_server_refuses_is_given_up_and_counted(tmp_path: Path) -> None:
    srv = Refusing([400, 503, 503])
    out = outlet(tmp_path, influx(srv.url))
    await out.start(None)
    try:
        await out.submit("scale", [Sample("scale", "flow", 1.0, ts=T0)])
        assert await until(lambda: out.stats()["sinks"]["influxdb"]["rejected_batches"] == 1)
        # refused as malformed: released, counted, and what follows is not blocked by it
        await out.submit("scale", [Sample("scale", "flow", 2.0, ts=T0 + 1)])
        assert await until(lambda: out.stats()["sinks"]["influxdb"]["writes"] == 1)
        st = out.stats()["sinks"]["influxdb"]
        assert st["delivered_batches"] == 2 and st["failures"] == 3  # 400, then 503 twice retried
        assert len(srv.bodies) == 4 and srv.bodies[1] == srv.bodies[2] == srv.bodies[3]
        assert b"flow=2.0" in srv.bodies[3]
        assert srv.bodies[0].startswith(b"scale,enterprise=E150302001,gateway=gw1,device=scale flow=1.0 ")
    finally:
        await out.stop()
        srv.close()
