"""Gateway configuration: YAML file -> validated `GatewayConfig`, or every problem at once.

Each problem is reported as `FILE:LINE: field.path: what is wrong (allowed ...)` so a site
engineer can fix a whole file in one pass; nothing starts until the file is clean.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.model import (
    BYTE_ORDERS,
    ENCODINGS,
    TAG_FIELDS,
    Access,
    AlarmThreshold,
    DeviceSpec,
    TagSpec,
    parse_duration,
)
from drivers import registry
from drivers.base import ConfigProblem
from gateway.settings import BufferSettings, GatewayConfig
from gateway.yamlsource import Located, YamlSourceError, load_located, plain

NAME_RE = re.compile(r"^[a-z0-9_-]+$")
ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

DEVICE_FIELDS = ("name", "driver", "connection", "profile", "interval", "heartbeat", "options", "tags", "description")
GATEWAY_FIELDS = ("id", "enterprise", "buffer", "writes", "http", "reconnect_max")
BUFFER_FIELDS = ("path", "max_mb", "max_age")
ALARM_FIELDS = ("name", "severity", "above", "below", "clear", "delay")
SEVERITIES = ("info", "warning", "major", "critical")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}" if self.field else \
            f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """A configuration that must not start; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line))
        super().__init__("\n".join(str(p) for p in self.problems))


class _Checker:
    """Collects problems with file/line context while walking the located tree."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, field, message))

    def mapping(self, loc: Located | None, path: str, allowed: tuple[str, ...] | None) -> dict[str, Located]:
        if loc is None:
            return {}
        if not isinstance(loc.value, dict):
            self.add(loc.line, path, f"must be a mapping, got {_kind(loc.value)}")
            return {}
        if allowed is not None:
            for key, kline in loc.keys.items():
                if key not in allowed:
                    self.add(kline, _join(path, key), f"unknown field (allowed: {', '.join(allowed)})")
        return loc.value

    def get(self, m: dict[str, Located], key: str, path: str, conv: Callable[[Any], Any],
            default: Any = None, required: bool = False, line: int = 0) -> Any:
        loc = m.get(key)
        if loc is None or loc.value is None:
            if required:
                self.add(line, _join(path, key), "is required")
            return default
        try:
            return conv(loc.value)
        except (ValueError, TypeError) as exc:
            self.add(loc.line, _join(path, key), str(exc))
            return default


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _kind(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a bool"}.get(type(v), type(v).__name__)


def _str(v: Any) -> str:
    if isinstance(v, (dict, list)):
        raise ValueError(f"must be text, got {_kind(v)}")
    return str(v)


def _number(v: Any) -> float:
    if isinstance(v, str):  # e.g. a quoted "${VAR}" that expanded to digits
        try:
            return float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{v!r} is not a number")
    return float(v)


def _positive(v: Any) -> float:
    n = _number(v)
    if n <= 0:
        raise ValueError(f"{v!r} must be greater than 0")
    return n


def _bool(v: Any) -> bool:
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if not isinstance(v, bool):
        raise ValueError(f"{v!r} is not a bool (allowed: true, false)")
    return v


def _positive_duration(v: Any) -> float:
    d = parse_duration(v)
    if d <= 0:
        raise ValueError(f"{v!r} must be longer than 0")
    return d


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if str(v) not in options:
            raise ValueError(f"{v!r} is not allowed (allowed: {', '.join(options)})")
        return str(v)

    return conv


def _name(v: Any) -> str:
    s = _str(v)
    if not NAME_RE.match(s):
        raise ValueError(f"{s!r} is not a valid name (allowed: a-z 0-9 _ -)")
    return s


def _ident(v: Any) -> str:
    s = _str(v)
    if not ID_RE.match(s):
        raise ValueError(f"{s!r} is not a valid id (allowed: A-Z a-z 0-9 _ . -)")
    return s


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{v!r} must be a whole number greater than 0")
    return v


def _pass(v: Any) -> Any:
    return v


def _parse_alarms(ck: _Checker, loc: Located | None, path: str) -> tuple[AlarmThreshold, ...]:
    if loc is None or loc.value is None:
        return ()
    if not isinstance(loc.value, list):
        ck.add(loc.line, path, "must be a list of alarm levels")
        return ()
    out = []
    for i, item in enumerate(loc.value):
        p = _join(path, i)
        m = ck.mapping(item, p, ALARM_FIELDS)
        name = ck.get(m, "name", p, _str, required=True, line=item.line)
        above = ck.get(m, "above", p, _number)
        below = ck.get(m, "below", p, _number)
        if above is None and below is None:
            ck.add(item.line, p, "needs `above` or `below`")
        if name is not None:
            out.append(AlarmThreshold(
                name=name, severity=ck.get(m, "severity", p, _choice(SEVERITIES), "warning"),
                above=above, below=below, clear=ck.get(m, "clear", p, _number),
                delay=ck.get(m, "delay", p, parse_duration, 0.0)))
    return tuple(out)


def _parse_tag(ck: _Checker, loc: Located, path: str, driver_cls: Any, options: Mapping[str, Any]) -> TagSpec | None:
    m = ck.mapping(loc, path, TAG_FIELDS)
    if not m:
        return None
    name = ck.get(m, "name", path, _str, required=True, line=loc.line)
    addr_loc = m.get("address")
    if addr_loc is None or addr_loc.text in (None, ""):
        ck.add(loc.line, _join(path, "address"), "is required")
        return None
    if name is None:
        return None
    tag = TagSpec(
        name=name,
        address=str(addr_loc.text),
        type=ck.get(m, "type", path, _str),
        access=Access(ck.get(m, "access", path, _choice(tuple(a.value for a in Access)), "r")),
        scale=ck.get(m, "scale", path, _number),
        offset=ck.get(m, "offset", path, _number),
        byte_order=ck.get(m, "byte_order", path, _choice(BYTE_ORDERS), "ABCD"),
        length=ck.get(m, "length", path, _positive_int),
        encoding=ck.get(m, "encoding", path, _choice(ENCODINGS), "ascii"),
        unit=ck.get(m, "unit", path, _str),
        deadband=ck.get(m, "deadband", path, _nonneg),
        heartbeat=ck.get(m, "heartbeat", path, _positive_duration),
        mode=ck.get(m, "mode", path, _choice(("subscribe", "poll"))),
        interval=ck.get(m, "interval", path, _positive_duration),
        description=ck.get(m, "description", path, _str, ""),
        alarms=_parse_alarms(ck, m.get("alarms"), _join(path, "alarms")),
    )
    if tag.scale == 0:
        ck.add(m["scale"].line, _join(path, "scale"), "must not be 0 (a write could not be inverted)")
    if driver_cls is not None:
        for pr in driver_cls.check_tag(tag, options):
            field = pr.field or "address"
            line = m[field].line if field in m else loc.line
            ck.add(line, _join(path, field), pr.message)
    return tag


def _nonneg(v: Any) -> float:
    n = _number(v)
    if n < 0:
        raise ValueError(f"{v!r} must not be negative")
    return n


def _merge_profile_tags(profile_tags: list[Located], own: list[Located]) -> list[tuple[Located, bool]]:
    """Profile tags first; a file tag with the same name overrides the profile's fields.

    Each result says whether it comes from the profile alone (its errors name the profile file)."""
    def tname(t: Located) -> str | None:
        if isinstance(t.value, dict) and "name" in t.value:
            return str(t.value["name"].value)
        return None

    own_by_name = {tname(t): t for t in own if tname(t) is not None}
    merged: list[tuple[Located, bool]] = []
    for pt in profile_tags:
        n = tname(pt)
        if n in own_by_name:
            over = own_by_name.pop(n)
            assert isinstance(pt.value, dict) and isinstance(over.value, dict)
            merged.append((Located({**pt.value, **over.value}, over.line, keys={**over.keys}), False))
        else:
            merged.append((pt, True))
    merged.extend((t, False) for t in own if tname(t) is None or tname(t) in own_by_name)
    return merged


def _load_profile(ck: _Checker, name: str, line: int, path: str) -> tuple[dict[str, Located], _Checker] | None:
    try:
        profiles = importlib.import_module("devices.profiles")
    except ImportError:
        ck.add(line, path, "device profiles are not installed")
        return None
    try:
        ppath = Path(profiles.profile_path(name))
    except (KeyError, FileNotFoundError, ValueError):
        names = ", ".join(profiles.profile_names())
        ck.add(line, path, f"unknown profile {name!r} (allowed: {names})")
        return None
    pck = _Checker(str(ppath))
    problems: list[tuple[int, str]] = []
    try:
        loc = load_located(ppath.read_text(encoding="utf-8"), problems)
    except YamlSourceError as exc:
        pck.add(exc.line, "", exc.message)
        return {}, pck
    return pck.mapping(loc, "", None), pck


def _parse_device(ck: _Checker, loc: Located, path: str) -> DeviceSpec | None:
    m = ck.mapping(loc, path, DEVICE_FIELDS)
    if not m:
        return None
    name = ck.get(m, "name", path, _name, required=True, line=loc.line)
    profile_name = ck.get(m, "profile", path, _str)
    profile: dict[str, Located] = {}
    pck = ck
    if profile_name:
        loaded = _load_profile(ck, profile_name, m["profile"].line, _join(path, "profile"))
        if loaded is not None:
            profile, pck = loaded
    driver_name = ck.get(m, "driver", path, _str) or (plain(profile.get("driver")) if profile else None)
    driver_cls = None
    if driver_name is None:
        ck.add(loc.line, _join(path, "driver"), f"is required (allowed: {', '.join(registry.available())})")
    else:
        try:
            driver_cls = registry.driver_class(str(driver_name))
        except KeyError as exc:
            ck.add(m["driver"].line if "driver" in m else loc.line, _join(path, "driver"), str(exc.args[0]))
        except ImportError as exc:
            ck.add(m["driver"].line if "driver" in m else loc.line, _join(path, "driver"),
                   f"driver {driver_name!r} cannot be loaded: {exc}")
    conn_loc = m.get("connection")
    connection = dict(plain(conn_loc) or {}) if conn_loc is not None and isinstance(conn_loc.value, dict) else {}
    if conn_loc is not None and not isinstance(conn_loc.value, dict):
        ck.add(conn_loc.line, _join(path, "connection"), "must be a mapping")
    timeout = 1.0
    if "timeout" in connection:
        try:
            timeout = _positive_duration(connection["timeout"])
            connection["timeout"] = timeout
        except ValueError as exc:
            tline = conn_loc.value["timeout"].line if conn_loc else loc.line
            ck.add(tline, _join(path, "connection.timeout"), str(exc))
    options = {**(plain(profile.get("options")) or {}), **(plain(m.get("options")) or {})}
    if driver_cls is not None:
        for pr in driver_cls.check_connection(connection):
            sub = conn_loc.value.get(pr.field.split(".")[0]) if conn_loc and isinstance(conn_loc.value, dict) else None
            ck.add(sub.line if sub else (conn_loc.line if conn_loc else loc.line),
                   _join(path, f"connection.{pr.field}" if pr.field else "connection"), pr.message)
        for pr in driver_cls.check_options(options):
            oloc = m.get("options")
            ck.add(oloc.line if oloc else loc.line, _join(path, f"options.{pr.field}"), pr.message)
    tags: list[TagSpec] = []
    own = m.get("tags")
    own_list: list[Located] = []
    if own is not None:
        if isinstance(own.value, list):
            own_list = own.value
        else:
            ck.add(own.line, _join(path, "tags"), "must be a list")
    ptags = profile.get("tags")
    prof_list = ptags.value if ptags is not None and isinstance(ptags.value, list) else []
    seen: dict[str, int] = {}
    for i, (t, from_profile) in enumerate(_merge_profile_tags(prof_list, own_list)):
        tck = pck if from_profile else ck
        tpath = f"tags[{i}]" if from_profile else _join(path, f"tags[{i}]")
        tag = _parse_tag(tck, t, tpath, driver_cls, options)
        if tag is None:
            continue
        if tag.name in seen:
            ck.add(t.line, _join(path, f"tags[{i}].name"),
                   f"duplicate tag name {tag.name!r} (first at line {seen[tag.name]})")
            continue
        seen[tag.name] = t.line
        tags.append(tag)
    if pck is not ck:
        ck.problems.extend(pck.problems)
    if not tags and own is None and not profile_name:
        ck.add(loc.line, _join(path, "tags"), "a device needs tags (or a profile that has them)")
    interval = ck.get(m, "interval", path, _positive_duration, None)
    if interval is None:
        interval = parse_duration(plain(profile.get("interval")) or 1.0) if profile else 1.0
    heartbeat = ck.get(m, "heartbeat", path, _positive_duration, 60.0)
    if name is None or driver_name is None:
        return None
    return DeviceSpec(name=name, driver=str(driver_name), connection=connection, tags=tuple(tags),
                      interval=interval, heartbeat=heartbeat, options=options, profile=profile_name,
                      timeout=timeout)


def _check_sinks(ck: _Checker, loc: Located | None) -> tuple[Mapping[str, Any], ...]:
    if loc is None or loc.value is None:
        return ()
    if not isinstance(loc.value, list):
        ck.add(loc.line, "northbound", "must be a list of sinks")
        return ()
    try:
        nb = importlib.import_module("gateway.northbound")
        check_sink: Callable[[Mapping[str, Any]], list[ConfigProblem]] | None = getattr(nb, "check_sink", None)
    except ImportError:
        check_sink = None
    sinks = []
    for i, item in enumerate(loc.value):
        path = f"northbound[{i}]"
        if not isinstance(item.value, dict):
            ck.add(item.line, path, "must be a mapping with a `type`")
            continue
        entry = plain(item)
        if check_sink is not None:
            for pr in check_sink(entry):
                sub = item.value.get(pr.field.split(".")[0]) if pr.field else None
                ck.add(sub.line if sub else item.line, _join(path, pr.field) if pr.field else path, pr.message)
        elif entry.get("type") not in ("mqtt", "influxdb"):
            ck.add(item.line, _join(path, "type"), f"{entry.get('type')!r} is not allowed (allowed: mqtt, influxdb)")
        sinks.append(entry)
    return tuple(sinks)


def parse_config(text: str, source: str = "<memory>") -> GatewayConfig:
    """Validate config text; raise `ConfigError` listing every problem."""
    ck = _Checker(source)
    env_problems: list[tuple[int, str]] = []
    try:
        root = load_located(text, env_problems)
    except YamlSourceError as exc:
        raise ConfigError([Problem(source, exc.line, "", exc.message)]) from None
    for line, msg in env_problems:
        ck.add(line, "", msg)
    if root is None:
        raise ConfigError([Problem(source, 1, "", "the file is empty (need `gateway:` and `devices:`)")])
    top = ck.mapping(root, "", ("gateway", "devices", "northbound"))
    gw = ck.mapping(top.get("gateway"), "gateway", GATEWAY_FIELDS)
    if "gateway" not in top:
        ck.add(root.line, "gateway", "is required (with `id` and `enterprise`)")
    gline = top["gateway"].line if "gateway" in top else 1
    gid = ck.get(gw, "id", "gateway", _ident, required="gateway" in top, line=gline)
    ent = ck.get(gw, "enterprise", "gateway", _ident, required="gateway" in top, line=gline)
    buf = ck.mapping(gw.get("buffer"), "gateway.buffer", BUFFER_FIELDS)
    dflt = BufferSettings()
    buffer = BufferSettings(
        path=ck.get(buf, "path", "gateway.buffer", _str, dflt.path),
        max_mb=ck.get(buf, "max_mb", "gateway.buffer", _positive, dflt.max_mb),
        max_age=ck.get(buf, "max_age", "gateway.buffer", _positive_duration, dflt.max_age),
    )
    writes = ck.get(gw, "writes", "gateway", _bool, False)
    reconnect_max = ck.get(gw, "reconnect_max", "gateway", _positive_duration, 30.0)
    http = plain(gw.get("http")) or {}
    if http and not isinstance(http, dict):
        ck.add(gw["http"].line, "gateway.http", "must be a mapping like {host: 127.0.0.1, port: 9100}")
        http = {}
    devices: list[DeviceSpec] = []
    dloc = top.get("devices")
    if dloc is None or not isinstance(dloc.value, list) or not dloc.value:
        ck.add(dloc.line if dloc else root.line, "devices", "is required: a list with at least one device")
    else:
        names: dict[str, int] = {}
        for i, d in enumerate(dloc.value):
            dev = _parse_device(ck, d, f"devices[{i}]")
            if dev is None:
                continue
            if dev.name in names:
                ck.add(d.line, f"devices[{i}].name",
                       f"duplicate device name {dev.name!r} (first at line {names[dev.name]})")
                continue
            names[dev.name] = d.line
            devices.append(dev)
    sinks = _check_sinks(ck, top.get("northbound"))
    if ck.problems:
        raise ConfigError(ck.problems)
    return GatewayConfig(id=gid, enterprise=ent, devices=tuple(devices), buffer=buffer, writes=writes,
                         northbound=sinks, http=http, reconnect_max=reconnect_max, source=source)


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a config file; `ConfigError` lists every problem with `FILE:LINE:`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(p), 0, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_config(text, str(p))


PLACEHOLDER_CONNECTIONS = {
    "modbus": "{host: 127.0.0.1, port: 502}",
    "opcua": "{endpoint: 'opc.tcp://127.0.0.1:4840'}",
    "s7": "{host: 127.0.0.1, port: 102}",
}


def validate_profile(name: str, connection: str | None = None) -> DeviceSpec:
    """Validate a device profile from `devices/profiles` with the same rules as a config file.

    A profile carries no connection (that is per site), so a placeholder for its driver is used
    unless `connection` (YAML flow text) is given; problems name the profile file and line.
    """
    driver = None
    with contextlib.suppress(Exception):
        driver = importlib.import_module("devices.profiles").load_profile(name).get("driver")
    conn = connection or PLACEHOLDER_CONNECTIONS.get(str(driver), "{}")
    text = ("gateway: {id: check, enterprise: check}\n"
            f"devices:\n  - {{name: check, profile: {name}, connection: {conn}}}\n")
    return parse_config(text, f"<profile {name}>").devices[0]
