"""Sink settings: one `northbound` entry of the config file, checked and turned into plain data.

`check_sink` reports every problem at once with the field and what is allowed, so the config
loader can print them as `FILE:LINE: northbound[i].field: ...` before anything starts;
`parse_sink` then builds the settings of a valid entry (and raises on an invalid one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from devices.model import parse_duration
from drivers.base import ConfigProblem

SINK_TYPES = ("mqtt", "influxdb", "http")
NAME_RE = re.compile(r"^[a-z0-9_-]{1,64}$")


class SinkConfigError(ValueError):
    """A sink entry that `check_sink` would refuse; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


@dataclass(frozen=True, slots=True)
class TlsSettings:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class MqttSettings:
    name: str
    host: str
    port: int
    tls: TlsSettings | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    protocol: str = "3.1.1"
    keepalive: float = 30.0
    connect_timeout: float = 5.0
    inflight: int = 100
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    write_timeout: float = 10.0
    type: str = "mqtt"


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    name: str
    url: str
    bucket: str
    org: str = ""
    token: str | None = None
    batch_size: int = 5000
    flush_interval: float = 1.0
    timeout: float = 10.0
    retry_min: float = 0.5
    retry_max: float = 30.0
    tls: TlsSettings | None = None
    type: str = "influxdb"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """`type: http`: the platform's `POST /api/v1/ingest` (and its status route when it has one)."""

    name: str
    url: str
    token: str | None = None
    timeout: float = 10.0
    concurrency: int = 4
    retry_min: float = 0.5
    retry_max: float = 30.0
    status: bool = True
    tls: TlsSettings | None = None
    type: str = "http"


SinkSettings = MqttSettings | InfluxSettings | HttpSettings


# -- field checkers: each returns (value, problem-or-None) --------------------------------------
_Check = Callable[[Any], str | None]


def _duration(lo: float, hi: float) -> _Check:
    def check(v: Any) -> str | None:
        try:
            s = parse_duration(v)
        except ValueError:
            return f"{v!r} is not a duration (allowed: a number of seconds or 500ms, 1s, 5m, 2h, 7d)"
        if not lo <= s <= hi:
            return f"{v!r} is out of range (allowed: {lo:g}s to {hi:g}s)"
        return None

    return check


def _int(lo: int, hi: int) -> _Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"{v!r} is not an integer (allowed: {lo} to {hi})"
        if not lo <= v <= hi:
            return f"{v} is out of range (allowed: {lo} to {hi})"
        return None

    return check


def _text(v: Any) -> str | None:
    if not isinstance(v, str) or not v:
        return f"{v!r} is not a non-empty string"
    return None


def _optional_text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return None
    return f"{v!r} is not a string"


def _name(v: Any) -> str | None:
    if not isinstance(v, str) or not NAME_RE.match(v):
        return f"{v!r} is not a valid sink name (allowed: 1-64 of a-z 0-9 _ -)"
    return None


def _bool(v: Any) -> str | None:
    if not isinstance(v, bool):
        return f"{v!r} is not a boolean (allowed: true, false)"
    return None


def _choice(*allowed: str) -> _Check:
    def check(v: Any) -> str | None:
        if str(v) not in allowed:
            return f"{v!r} is not supported (allowed: {', '.join(allowed)})"
        return None

    return check


_COMMON: dict[str, _Check] = {"type": _choice(*SINK_TYPES), "name": _name}
_MQTT_FIELDS: dict[str, _Check] = {
    **_COMMON,
    "url": _text,
    "username": _optional_text,
    "password": _optional_text,
    "client_id": _optional_text,
    "protocol": _choice("3.1.1", "5"),
    "keepalive": _duration(5, 3600),
    "connect_timeout": _duration(0.1, 120),
    "inflight": _int(1, 10000),
    "reconnect_min": _duration(0.01, 600),
    "reconnect_max": _duration(0.01, 3600),
    "write_timeout": _duration(0.1, 600),
}
_INFLUX_FIELDS: dict[str, _Check] = {
    **_COMMON,
    "url": _text,
    "org": _optional_text,
    "bucket": _text,
    "token": _optional_text,
    "batch_size": _int(1, 100_000),
    "flush_interval": _duration(0, 3600),
    "timeout": _duration(0.1, 600),
    "retry_min": _duration(0.01, 600),
    "retry_max": _duration(0.01, 3600),
}
_HTTP_FIELDS: dict[str, _Check] = {
    **_COMMON,
    "url": _text,
    "token": _optional_text,
    "timeout": _duration(0.1, 600),
    "concurrency": _int(1, 64),
    "retry_min": _duration(0.01, 600),
    "retry_max": _duration(0.01, 3600),
    "status": _bool,
}
_FIELDS = {"mqtt": _MQTT_FIELDS, "influxdb": _INFLUX_FIELDS, "http": _HTTP_FIELDS}
_REQUIRED = {"mqtt": ("url",), "influxdb": ("url", "bucket"), "http": ("url",)}
_URL_SCHEMES = {"mqtt": ("mqtt", "mqtts", "tcp", "ssl"), "influxdb": ("http", "https"), "http": ("http", "https")}
_EXAMPLES = {"mqtt": "mqtt://host:1883 or mqtts://host:8883", "influxdb": "http://host:8086",
             "http": "http://host:8000 (the platform's base URL)"}
_TLS_FIELDS = ("ca", "cert", "key", "insecure")


def _check_url(kind: str, url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None  # reported by the field checker
    schemes = _URL_SCHEMES[kind]
    example = _EXAMPLES[kind]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url!r} is not a valid URL: {exc} (allowed: {example})"
    if parts.scheme not in schemes:
        return f"{url!r} has scheme {parts.scheme or 'none'!r} (allowed: {', '.join(schemes)}; e.g. {example})"
    if not parts.hostname:
        return f"{url!r} has no host (allowed: {example})"
    if port == 0:
        return f"{url!r} has port 0 (allowed: 1 to 65535)"
    if kind == "mqtt" and parts.path not in ("", "/"):
        return f"{url!r} has a path; topics are fixed by the gateway (allowed: {example})"
    if kind == "http" and (parts.query or parts.fragment):
        return f"{url!r} has a query or fragment; the gateway adds /api/v1/ingest itself (allowed: {example})"
    return None


def _check_tls(tls: Any, kind: str) -> list[ConfigProblem]:
    if tls is None:
        return []
    if not isinstance(tls, Mapping):
        return [ConfigProblem("tls", f"{tls!r} is not a mapping (allowed: {{ca, cert, key, insecure}})")]
    problems = []
    for key in tls:
        if key not in _TLS_FIELDS:
            problems.append(ConfigProblem(f"tls.{key}", f"unknown field (allowed: {', '.join(_TLS_FIELDS)})"))
    for key in ("ca", "cert", "key"):
        value = tls.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            problems.append(ConfigProblem(f"tls.{key}", f"{value!r} is not a file path"))
        elif not os.path.isfile(value):
            problems.append(ConfigProblem(f"tls.{key}", f"file {value!r} not found (allowed: a readable PEM file)"))
    if (tls.get("cert") is None) != (tls.get("key") is None):
        missing = "key" if tls.get("key") is None else "cert"
        problems.append(ConfigProblem(f"tls.{missing}", "a client certificate needs both cert and key"))
    if kind in ("influxdb", "http") and tls.get("cert") is not None:
        problems.append(ConfigProblem("tls.cert", f"client certificates are not supported for {kind} "
                                                  "(allowed: ca, insecure)"))
    if "insecure" in tls and not isinstance(tls["insecure"], bool):
        problems.append(ConfigProblem("tls.insecure", f"{tls['insecure']!r} is not a boolean (allowed: true, false)"))
    return problems


def check_sink(entry: Mapping[str, Any]) -> list[ConfigProblem]:
    """Every problem of one `northbound` entry; fields are relative to the entry."""
    if not isinstance(entry, Mapping):
        return [ConfigProblem("", f"{entry!r} is not a mapping (allowed: {{type: {'|'.join(SINK_TYPES)}, url: ...}})")]
    kind = entry.get("type")
    if kind not in SINK_TYPES:
        shown = "missing" if kind is None else f"{kind!r} is not supported"
        return [ConfigProblem("type", f"{shown} (allowed: {', '.join(SINK_TYPES)})")]
    fields = _FIELDS[kind]
    allowed = sorted([*fields, "tls"])
    problems: list[ConfigProblem] = []
    for key in _REQUIRED[kind]:
        if key not in entry or entry[key] is None:
            problems.append(ConfigProblem(key, f"missing (required for type {kind})"))
    for key, value in entry.items():
        if key == "tls":
            problems.extend(_check_tls(value, kind))
            continue
        check = fields.get(key)
        if check is None:
            problems.append(ConfigProblem(str(key), f"unknown field for type {kind} (allowed: {', '.join(allowed)})"))
            continue
        if value is None and key not in _REQUIRED[kind]:
            continue
        if key in _REQUIRED[kind] and value is None:
            continue
        message = check(value)
        if message:
            problems.append(ConfigProblem(key, message))
    url_problem = _check_url(kind, entry.get("url"))
    if url_problem:
        problems.append(ConfigProblem("url", url_problem))
    lo_key, hi_key = ("reconnect_min", "reconnect_max") if kind == "mqtt" else ("retry_min", "retry_max")
    if lo_key in entry and hi_key in entry and not any(p.field in (lo_key, hi_key) for p in problems):
        if parse_duration(entry[lo_key]) > parse_duration(entry[hi_key]):
            problems.append(ConfigProblem(lo_key, f"larger than {hi_key} (allowed: {lo_key} <= {hi_key})"))
    return problems


def _tls(entry: Mapping[str, Any], scheme: str) -> TlsSettings | None:
    tls = entry.get("tls")
    if tls is None:
        return TlsSettings() if scheme in ("mqtts", "ssl", "https") else None
    return TlsSettings(tls.get("ca"), tls.get("cert"), tls.get("key"), bool(tls.get("insecure", False)))


def _get(entry: Mapping[str, Any], key: str, default: Any, conv: Callable[[Any], Any] = lambda v: v) -> Any:
    value = entry.get(key)
    return default if value is None else conv(value)


def default_names(entries: list[Mapping[str, Any]]) -> list[str]:
    """Stable sink names (they key the delivery cursors in the buffer): `name`, else the type,
    numbered when a type appears more than once."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[str(e.get("type"))] = counts.get(str(e.get("type")), 0) + 1
    seen: dict[str, int] = {}
    names = []
    for e in entries:
        kind = str(e.get("type"))
        seen[kind] = seen.get(kind, 0) + 1
        if e.get("name"):
            names.append(str(e["name"]))
        else:
            names.append(kind if counts[kind] == 1 else f"{kind}-{seen[kind]}")
    return names


def parse_sink(entry: Mapping[str, Any], name: str) -> SinkSettings:
    """Settings of a valid entry; raises `SinkConfigError` listing the problems otherwise."""
    problems = check_sink(entry)
    if problems:
        raise SinkConfigError(problems)
    parts = urlsplit(str(entry["url"]))
    tls = _tls(entry, parts.scheme)
    if entry["type"] == "mqtt":
        secure = tls is not None
        return MqttSettings(
            name=name,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if secure else 1883),
            tls=tls,
            username=entry.get("username") or parts.username,
            password=entry.get("password") if entry.get("password") is not None else parts.password,
            client_id=entry.get("client_id"),
            protocol=str(entry.get("protocol", "3.1.1")),
            keepalive=_get(entry, "keepalive", 30.0, parse_duration),
            connect_timeout=_get(entry, "connect_timeout", 5.0, parse_duration),
            inflight=_get(entry, "inflight", 100),
            reconnect_min=_get(entry, "reconnect_min", 0.5, parse_duration),
            reconnect_max=_get(entry, "reconnect_max", 30.0, parse_duration),
            write_timeout=_get(entry, "write_timeout", 10.0, parse_duration),
        )
    if entry["type"] == "http":
        return HttpSettings(
            name=name,
            url=str(entry["url"]).rstrip("/"),
            token=entry.get("token"),
            timeout=_get(entry, "timeout", 10.0, parse_duration),
            concurrency=_get(entry, "concurrency", 4),
            retry_min=_get(entry, "retry_min", 0.5, parse_duration),
            retry_max=_get(entry, "retry_max", 30.0, parse_duration),
            status=_get(entry, "status", True, bool),
            tls=tls,
        )
    return InfluxSettings(
        name=name,
        url=str(entry["url"]).rstrip("/"),
        bucket=str(entry["bucket"]),
        org=str(entry.get("org") or ""),
        token=entry.get("token"),
        batch_size=_get(entry, "batch_size", 5000),
        flush_interval=_get(entry, "flush_interval", 1.0, parse_duration),
        timeout=_get(entry, "timeout", 10.0, parse_duration),
        retry_min=_get(entry, "retry_min", 0.5, parse_duration),
        retry_max=_get(entry, "retry_max", 30.0, parse_duration),
        tls=tls,
    )
