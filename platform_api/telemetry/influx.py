"""An optional copy of ingested telemetry to an InfluxDB-protocol endpoint (v2 `/api/v2/write`).

Best effort by design: the database is the record; a failed copy is logged and counted, never
retried at the cost of ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from platform_api.telemetry.batch import Batch

log = logging.getLogger("minegate.platform.influx")


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def _field(value: float | None, text: str | None) -> str | None:
    if text is not None and value is not None:
        return "true" if text == "true" else "false"
    if text is not None:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is not None:
        return repr(float(value))
    return None


def line_protocol(batches: Sequence[Batch]) -> str:
    """One line per sample: measurement `telemetry`, tags enterprise/gateway/device/tag/quality."""
    lines = []
    for b in batches:
        for p in b.points:
            f = _field(p.value, p.text)
            if f is None:
                continue
            tags = ",".join(f"{k}={_escape(v)}" for k, v in (
                ("enterprise", b.enterprise), ("gateway", b.gateway), ("device", b.device), ("tag", p.tag),
                ("quality", p.quality)))
            lines.append(f"telemetry,{tags} value={f} {p.ts_ms}")
    return "\n".join(lines)


class InfluxForwarder:
    def __init__(self, url: str, *, org: str, bucket: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/write"
        self.params = {"org": org, "bucket": bucket, "precision": "ms"}
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.client = httpx.Client(timeout=timeout)
        self.sent = 0
        self.failed = 0

    def send(self, batches: Sequence[Batch]) -> bool:
        body = line_protocol(batches)
        if not body:
            return True
        try:
            r = self.client.post(self.endpoint, params=self.params, headers=self.headers, content=body.encode())
            r.raise_for_status()
        except httpx.HTTPError as e:
            self.failed += 1
            log.warning("InfluxDB copy failed (%s); the platform database has the data", e)
            return False
        self.sent += body.count("\n") + 1
        return True

    def close(self) -> None:
        self.client.close()
