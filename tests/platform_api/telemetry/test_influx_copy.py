"""The optional InfluxDB-protocol copy, against a local HTTP endpoint that records what it gets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from platform_api.telemetry.batch import parse_batch
from platform_api.telemetry.influx import InfluxForwarder, line_protocol


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[tuple[str, bytes, dict[str, str]]]]]:
    got: list[tuple[str, bytes, dict[str, str]]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, body, dict(self.headers)))
            self.send_response(500 if b"fail" in body else 204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", got
    srv.shutdown()
    srv.server_close()


def batch(samples: list[dict[str, Any]]) -> Any:
    return parse_batch({"gateway": "gw-1", "device": "belt", "epoch": "e", "seq": 1,
                        "samples": samples}, "E1", "gw-1")


def test_line_protocol_types_and_escaping() -> None:
    b = batch([
        {"tag": "flow t/h", "value": 12.5, "ts": "2026-12-03T08:00:00.125Z"},
        {"tag": "on", "value": True, "ts": "2026-12-03T08:00:00Z"},
        {"tag": "mode", "value": 'say "hi"', "ts": "2026-12-03T08:00:00Z"},
        {"tag": "dead", "value": None, "quality": "bad", "error": "timeout", "ts": "2026-12-03T08:00:00Z"},
    ])
    assert line_protocol([b]).splitlines() == [
        r"telemetry,enterprise=E1,gateway=gw-1,device=belt,tag=flow\ t/h,quality=good value=12.5 1796284800125",
        "telemetry,enterprise=E1,gateway=gw-1,device=belt,tag=on,quality=good value=true 1796284800000",
        'telemetry,enterprise=E1,gateway=gw-1,device=belt,tag=mode,quality=good value="say \\"hi\\"" 1796284800000',
    ]


def test_forwarder_posts_and_counts_failures(endpoint: tuple[str, list]) -> None:
    url, got = endpoint
    f = InfluxForwarder(url, org="mine", bucket="plant", token="tok")
    try:
        assert f.send([batch([{"tag": "x", "value": 1, "ts": "2026-12-03T08:00:00Z"}])])
        assert not f.send([batch([{"tag": "x", "value": "fail", "ts": "2026-12-03T08:00:00Z"}])])
    finally:
        f.close()
    path, body, headers = got[0]
    assert path == "/api/v2/write?org=mine&bucket=plant&precision=ms"
    assert headers["Authorization"] == "Token tok" and body.endswith(b"value=1.0 1796284800000")
    assert (f.sent, f.failed) == (1, 1)
