"""Request bodies of the digitalization routes, and the checks across rows of one body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from platform_api.schemas import Name, Strict

Label = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(?:.*\S)?$",
                                   description="any text without leading or trailing spaces, e.g. 1号主井皮带")]


class DeviceRowIn(Strict):
    """One piece of production equipment; `gateway`/`device` bind it to telemetry when networked."""

    name: Label
    kind: str = Field("", max_length=64, description="e.g. belt_conveyor, crusher, jig, weighbridge")
    production: bool = Field(True, description="production equipment (counts for 联网率 and 数字化率)")
    digital: bool = Field(False, description="has digital control or metering (PLC, VFD, smart meter)")
    gateway: Name | None = Field(None, description="gateway id; empty = this device name on any gateway")
    device: Name | None = Field(None, description="device name in telemetry")
    note: str | None = Field(None, max_length=500)


class KeyProcessIn(Strict):
    name: Label
    control: Literal["nc", "dcs", "plc", "manual", "none"] = Field(
        ..., description="declared control: nc, dcs, plc count for 关键工序数控化率 when a device proves it")
    devices: list[Label] = Field(default_factory=list, max_length=200,
                                 description="names from the device register that run this process")
    note: str | None = Field(None, max_length=500)


class AssessmentIn(Strict):
    answers: dict[str, Any] = Field(
        default_factory=dict, max_length=200,
        description="item id -> option key (choice), list of keys (multi) or a fraction 0..1 (rate); "
                    "see GET /digitalization/questionnaire")
    scenarios: dict[str, int | None] = Field(default_factory=dict, max_length=200,
                                              description="operations scenario id -> grade 0..4")


def register_problems(rows: Sequence[DeviceRowIn]) -> list[str]:
    problems = []
    names: set[str] = set()
    bindings: dict[tuple[str, str], int] = {}
    for k, r in enumerate(rows):
        if r.name in names:
            problems.append(f"body[{k}].name: {r.name!r} is listed twice (allowed: each name once)")
        names.add(r.name)
        if r.gateway is not None and r.device is None:
            problems.append(f"body[{k}].device: required when gateway is given (allowed: the device name in telemetry)")
        if r.device is not None:
            key = (r.gateway or "*", r.device)
            if key in bindings:
                problems.append(f"body[{k}].device: {'/'.join(key)} is already bound to body[{bindings[key]}] "
                                "(allowed: one register row per telemetry device)")
            bindings[key] = k
    return problems


def key_process_problems(rows: Sequence[KeyProcessIn], register_names: set[str]) -> list[str]:
    problems = []
    names: set[str] = set()
    for k, r in enumerate(rows):
        if r.name in names:
            problems.append(f"body[{k}].name: {r.name!r} is listed twice (allowed: each name once)")
        names.add(r.name)
        for j, d in enumerate(r.devices):
            if d not in register_names:
                problems.append(f"body[{k}].devices[{j}]: {d!r} is not in the device register "
                                "(allowed: names given with PUT .../devices)")
    return problems
