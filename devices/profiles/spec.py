"""Profiles as the unified model: `TagSpec`s and a ready `DeviceSpec`.

The gateway's config loader is the authority on validation and merging; this is the direct path
for code that starts from a profile alone (simulators, tests, tools). Malformed values raise
`ProfileError` naming the file, tag and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devices.model import TAG_FIELDS, Access, AlarmThreshold, DeviceSpec, TagSpec, parse_duration
from devices.profiles import ProfileError, load_profile

__all__ = ["TAG_FIELDS", "Profile", "device_spec", "load_spec", "parse_duration"]


@dataclass(frozen=True, slots=True)
class Profile:
    """A profile in model form; `data` keeps the raw mapping (descriptions, vendor note)."""

    name: str
    driver: str
    interval: float
    options: Mapping[str, Any]
    tags: tuple[TagSpec, ...]
    source: str
    data: Mapping[str, Any]

    def tag(self, name: str) -> TagSpec:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(f"profile {self.name} has no tag {name!r}")


def _alarm(raw: Any, where: str) -> AlarmThreshold:
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where}: an alarm is a mapping (name, severity, above|below, clear, delay)")
    try:
        return AlarmThreshold(
            name=str(raw["name"]),
            severity=raw.get("severity", "warning"),
            above=None if raw.get("above") is None else float(raw["above"]),
            below=None if raw.get("below") is None else float(raw["below"]),
            clear=None if raw.get("clear") is None else float(raw["clear"]),
            delay=parse_duration(raw.get("delay", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: {exc}") from None


def tag_from_mapping(raw: Mapping[str, Any], where: str) -> TagSpec:
    """One profile tag mapping -> `TagSpec` (durations parsed, alarms built)."""
    unknown = set(raw) - set(TAG_FIELDS)
    if unknown:
        raise ProfileError(f"{where}: unknown field {sorted(unknown)[0]!r} (allowed: {', '.join(TAG_FIELDS)})")
    kw: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("alarms",)}
    try:
        for key in ("heartbeat", "interval"):
            if kw.get(key) is not None:
                kw[key] = parse_duration(kw[key])
        for key in ("scale", "offset", "deadband"):
            if kw.get(key) is not None:
                kw[key] = float(kw[key])
        if "address" in kw:
            kw["address"] = str(kw["address"])
        if "access" in kw:
            kw["access"] = Access(str(kw["access"]))
        alarms = tuple(_alarm(a, f"{where}.alarms[{i}]") for i, a in enumerate(raw.get("alarms") or ()))
        return TagSpec(**kw, alarms=alarms)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: {exc}") from None


def load_spec(name: str) -> Profile:
    """Profile `name` with its tags as `TagSpec`s."""
    data = load_profile(name)
    source = data["source"]
    tags = []
    for i, raw in enumerate(data.get("tags") or ()):
        if not isinstance(raw, Mapping):
            raise ProfileError(f"{source}: tags[{i}]: a tag is a mapping")
        tags.append(tag_from_mapping(raw, f"{source}: tags[{i}] ({raw.get('name', '?')})"))
    try:
        interval = parse_duration(data.get("interval", 1.0))
    except ValueError as exc:
        raise ProfileError(f"{source}: interval: {exc}") from None
    return Profile(
        name=str(data.get("name", name)),
        driver=str(data.get("driver", "")),
        interval=interval,
        options=dict(data.get("options") or {}),
        tags=tuple(tags),
        source=source,
        data=data,
    )


def device_spec(profile: str, connection: Mapping[str, Any], name: str | None = None,
                **overrides: Any) -> DeviceSpec:
    """A `DeviceSpec` polling everything in `profile` over `connection` (tests, tools, the demo)."""
    p = load_spec(profile)
    kw: dict[str, Any] = {"interval": p.interval, "options": dict(p.options)}
    kw.update(overrides)
    return DeviceSpec(name=name or p.name, driver=p.driver, connection=dict(connection), tags=p.tags,
                      profile=p.name, **kw)
