"""Connection fields and options of an S7 device: checked without I/O, then turned into settings.

Connection: `host`, `port` (102), `rack` (0), `slot` (1), `connection_type` (pg|op|basic), or
`local_tsap`/`remote_tsap` instead of rack/slot (LOGO!, S7-200, CPs), `timeout`.
Options: `max_gap` (bytes merged between tags, 32), `pdu_size` (PDU to ask for, 960; the PLC's
answer caps it), `max_items` (variables per request, 20), `cpu_state_interval` (how often the
operating mode is read, 5 s; 0 = every read, `off` = never), `read_timeout` (used by the runtime).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devices.model import positive_duration
from drivers.base import ConfigProblem
from drivers.s7.planner import MAX_ITEMS

CONNECTION_FIELDS = ("host", "port", "rack", "slot", "connection_type", "local_tsap", "remote_tsap", "timeout")
OPTION_FIELDS = ("max_gap", "pdu_size", "max_items", "cpu_state_interval", "read_timeout")
CONNECTION_TYPES = {"pg": 1, "op": 2, "basic": 3}
DEFAULT_LOCAL_TSAP = 0x0100
DEFAULT_PDU = 960
PDU_RANGE = (128, 960)
MAX_GAP_LIMIT = 1024
DEFAULT_MAX_GAP = 32
DEFAULT_STATE_INTERVAL = 5.0

_TSAP_DOTTED = re.compile(r"^([0-9A-Fa-f]{1,2})\.([0-9A-Fa-f]{1,2})$")
_TSAP_HEX = re.compile(r"^(?:0[xX])?([0-9A-Fa-f]{1,4})$")


@dataclass(frozen=True, slots=True)
class S7Settings:
    host: str
    port: int
    local_tsap: int
    remote_tsap: int
    timeout: float
    pdu_size: int
    max_gap: int
    max_items: int
    cpu_state_interval: float | None  # None: never read the operating mode


def parse_tsap(value: Any) -> int:
    """`03.01`, `0x0301`, `0301` or an integer -> the 16-bit TSAP."""
    if isinstance(value, bool):
        raise ValueError("a TSAP, not a bool")
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"{value} is out of range (allowed: 0-0xFFFF)")
        return value
    if isinstance(value, float):
        raise ValueError(f"{value!r} looks like a number: quote the TSAP ('03.01') or write it as hex (0x0301)")
    text = str(value).strip()
    m = _TSAP_DOTTED.match(text)
    if m:
        return (int(m.group(1), 16) << 8) | int(m.group(2), 16)
    m = _TSAP_HEX.match(text)
    if m and (text.lower().startswith("0x") or len(m.group(1)) == 4):
        return int(m.group(1), 16)
    raise ValueError(f"{value!r} is not a TSAP (allowed: '03.01', 0x0301 or '0301')")


parse_seconds = positive_duration


def _int_in(value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a whole number (allowed: {lo}-{hi})")
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number (allowed: {lo}-{hi})") from None
    if not lo <= n <= hi:
        raise ValueError(f"{n} is out of range (allowed: {lo}-{hi})")
    return n


def _state_interval(value: Any) -> float | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "never", "false")):
        return None
    if value == 0 and not isinstance(value, bool):
        return 0.0  # read the CPU state every cycle
    return parse_seconds(value)


def connection_problems(conn: Mapping[str, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for key in conn:
        if key not in CONNECTION_FIELDS:
            problems.append(ConfigProblem(str(key), f"unknown field (allowed: {', '.join(CONNECTION_FIELDS)})"))
    host = conn.get("host")
    if host is None or not str(host).strip():
        problems.append(ConfigProblem("host", "is required (the PLC's IP address or host name)"))
    checks: list[tuple[str, Any]] = [
        ("port", lambda v: _int_in(v, 1, 65535)),
        ("rack", lambda v: _int_in(v, 0, 7)),
        ("slot", lambda v: _int_in(v, 0, 31)),
        ("local_tsap", parse_tsap),
        ("remote_tsap", parse_tsap),
    ]
    for key, conv in checks:
        if conn.get(key) is not None:
            try:
                conv(conn[key])
            except ValueError as exc:
                problems.append(ConfigProblem(key, str(exc)))
    ctype = conn.get("connection_type")
    if ctype is not None and str(ctype).lower() not in CONNECTION_TYPES:
        problems.append(ConfigProblem("connection_type",
                                      f"unknown connection type {ctype!r} (allowed: {', '.join(CONNECTION_TYPES)})"))
    if conn.get("remote_tsap") is not None:
        for key in ("rack", "slot", "connection_type"):
            if conn.get(key) is not None:
                problems.append(ConfigProblem(key, "give rack/slot or remote_tsap, not both (remote_tsap already "
                                                   "says which CPU to reach)"))
    return problems  # `timeout` is checked by the config loader, the same for every driver


def option_problems(options: Mapping[str, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for key in options:
        if key not in OPTION_FIELDS:
            problems.append(ConfigProblem(str(key), f"unknown option for s7 (allowed: {', '.join(OPTION_FIELDS)})"))
    checks: list[tuple[str, Any]] = [
        ("max_gap", lambda v: _int_in(v, 0, MAX_GAP_LIMIT)),
        ("pdu_size", lambda v: _int_in(v, *PDU_RANGE)),
        ("max_items", lambda v: _int_in(v, 1, MAX_ITEMS)),
        ("cpu_state_interval", _state_interval),
        ("read_timeout", parse_seconds),
    ]
    for key, conv in checks:
        if options.get(key) is not None:
            try:
                conv(options[key])
            except ValueError as exc:
                problems.append(ConfigProblem(key, str(exc)))
    return problems


def build_settings(connection: Mapping[str, Any], options: Mapping[str, Any], default_timeout: float) -> S7Settings:
    """Settings from already checked fields; raises ValueError naming every problem otherwise."""
    problems = connection_problems(connection) + option_problems(options)
    timeout = default_timeout
    if connection.get("timeout") is not None:
        try:
            timeout = parse_seconds(connection["timeout"])
        except ValueError as exc:
            problems.append(ConfigProblem("timeout", str(exc)))
    if timeout <= 0:
        problems.append(ConfigProblem("timeout", "must be greater than 0"))
    if problems:
        raise ValueError("; ".join(f"{p.field}: {p.message}" for p in problems))
    if connection.get("remote_tsap") is not None:
        remote = parse_tsap(connection["remote_tsap"])
    else:
        rack = _int_in(connection.get("rack", 0), 0, 7)
        slot = _int_in(connection.get("slot", 1), 0, 31)
        ctype = CONNECTION_TYPES[str(connection.get("connection_type", "pg")).lower()]
        remote = (ctype << 8) | (rack << 5) | slot
    local = parse_tsap(connection["local_tsap"]) if connection.get("local_tsap") is not None else DEFAULT_LOCAL_TSAP
    interval = options.get("cpu_state_interval", DEFAULT_STATE_INTERVAL)
    return S7Settings(
        host=str(connection["host"]).strip(),
        port=_int_in(connection.get("port", 102), 1, 65535),
        local_tsap=local,
        remote_tsap=remote,
        timeout=timeout,
        pdu_size=_int_in(options.get("pdu_size", DEFAULT_PDU), *PDU_RANGE),
        max_gap=_int_in(options.get("max_gap", DEFAULT_MAX_GAP), 0, MAX_GAP_LIMIT),
        max_items=_int_in(options.get("max_items", MAX_ITEMS), 1, MAX_ITEMS),
        cpu_state_interval=_state_interval(interval) if interval is not None else DEFAULT_STATE_INTERVAL,
    )
