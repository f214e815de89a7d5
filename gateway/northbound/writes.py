"""Checks on a write request from MQTT (CONTRACTS §5) before it may reach a driver.

Kept apart from the MQTT client so every refusal reason can be tested without a broker. A write
moves real equipment: anything not clearly allowed is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from devices.model import DeviceSpec, iso_ms, parse_iso


@dataclass(frozen=True, slots=True)
class WriteRequest:
    id: Any
    device: str
    tag: str
    value: Any
    expires: float


class WriteRefused(Exception):
    """Carries the request id (when one could be read) and the reason sent back."""

    def __init__(self, request_id: Any, reason: str) -> None:
        super().__init__(reason)
        self.request_id = request_id
        self.reason = reason


def check_write(
    payload: bytes,
    device: str,
    *,
    writes_enabled: bool,
    devices: Mapping[str, DeviceSpec],
    now: float,
) -> WriteRequest:
    """The request if it may be carried out now; raises `WriteRefused` otherwise."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WriteRefused(None, f"payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WriteRefused(None, 'payload is not a JSON object (allowed: {"id", "tag", "value", "expires"})')
    rid = body.get("id")
    if rid is None or isinstance(rid, (dict, list)):
        raise WriteRefused(None, "id: missing or not a string/number")
    if not writes_enabled:
        raise WriteRefused(rid, "writes are disabled on this gateway (gateway.writes: false)")
    spec = devices.get(device)
    if spec is None:
        raise WriteRefused(rid, f"unknown device {device!r}")
    tag_name = body.get("tag")
    if not isinstance(tag_name, str) or not tag_name:
        raise WriteRefused(rid, "tag: missing or not a string")
    tag = next((t for t in spec.tags if t.name == tag_name), None)
    if tag is None:
        raise WriteRefused(rid, f"device {device} has no tag {tag_name!r}")
    if not tag.writable:
        raise WriteRefused(rid, f"tag {tag_name} is read-only (access: {tag.access.value}; allowed: rw, w)")
    if "value" not in body or body["value"] is None:
        raise WriteRefused(rid, "value: missing")
    expires_text = body.get("expires")
    if not isinstance(expires_text, str):
        raise WriteRefused(rid, "expires: missing (required: an ISO 8601 UTC time after which the write "
                                "must not happen)")
    try:
        expires = parse_iso(expires_text)
    except ValueError:
        raise WriteRefused(rid, f"expires: {expires_text!r} is not an ISO 8601 time") from None
    if expires <= now:
        raise WriteRefused(rid, f"request expired at {iso_ms(expires)} (now {iso_ms(now)})")
    return WriteRequest(rid, device, tag_name, body["value"], expires)


def reply(request_id: Any, ok: bool, error: str | None, sample: Mapping[str, Any] | None = None) -> bytes:
    """`{"id", "ok", "error"}`, plus the read-back `sample` after a successful write."""
    body: dict[str, Any] = {"id": request_id, "ok": ok, "error": error}
    if sample is not None:
        body["sample"] = sample
    return orjson.dumps(body)
