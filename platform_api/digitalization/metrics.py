"""Measured digitalization rates, as functions over plain inputs (no database, no web).

What counts, and why:
- A *slot* is one of the platform's 5-minute statistics buckets. A gateway publishes every tag at
  least once per heartbeat (60 s by default) even when nothing changed, so a healthy device fills
  every slot; a slot without a usable (non-`bad`, numeric) sample is a missed poll cycle.
- 设备联网率 networking rate = production devices of the register whose telemetry binding
  delivered at least one slot in the period / all production devices of the register.
- 设备数字化率 digitalization rate = production devices declared with digital control or metering,
  or networked (telemetry proves it) / all production devices.
- online rate = slots delivered / slots expected, over the bound production devices; a device is
  expected from the period start, or from when it was registered or first seen if later, until
  the period end or now.
- data completeness per device and tag = slots in which that tag delivered / slots expected.
- telemetry share of the ledger = entries with `source: telemetry` / all entries (reversals are
  corrections, not records, and are not counted).
- 关键工序数控化率 key-process NC rate = key processes declared under NC, DCS or PLC control with
  at least one of their devices networked in the period / all declared key processes.
- 企业上云率 = enterprises with a gateway that delivered data in the period (or is online now) /
  enterprises in scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from platform_api.digitalization.assessment import Share

SLOT_MS = 300_000
CONTROLS = ("nc", "dcs", "plc", "manual", "none")
CONTROLLED = ("nc", "dcs", "plc")
"""Controls that count for 关键工序数控化率 (numerical control, distributed control, PLC)."""
TARGETS = {"key_process_nc_rate": 0.68}
"""National 2025 target quoted beside the measured rate (《"十四五"智能制造发展规划》)."""

DeviceKey = tuple[str, str]
"""(gateway, device) as telemetry names them."""


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """One row of an enterprise's equipment register (networked or not)."""

    name: str
    kind: str = ""
    production: bool = True
    digital: bool = False
    gateway: str | None = None
    device: str | None = None
    registered_ms: int | None = None

    @property
    def bound(self) -> bool:
        return self.device is not None


@dataclass(frozen=True, slots=True)
class KeyProcess:
    name: str
    control: str
    devices: tuple[str, ...] = ()


@dataclass(slots=True)
class Activity:
    """What one telemetry device delivered in a period: slots with data, overall and per tag."""

    slots: int = 0
    first_ms: int | None = None
    tags: dict[str, int] = field(default_factory=dict)

    def add(self, other: Activity) -> Activity:
        self.slots += other.slots
        if other.first_ms is not None:
            self.first_ms = other.first_ms if self.first_ms is None else min(self.first_ms, other.first_ms)
        for t, n in other.tags.items():
            self.tags[t] = self.tags.get(t, 0) + n
        return self


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start_ms: int
    end_ms: int


def slots_between(start_ms: int, end_ms: int) -> int:
    """5-minute buckets that overlap `[start_ms, end_ms)`."""
    if end_ms <= start_ms:
        return 0
    first = start_ms - start_ms % SLOT_MS
    last = -(-end_ms // SLOT_MS) * SLOT_MS
    return (last - first) // SLOT_MS


def merge(activities: Iterable[Mapping[DeviceKey, Activity]]) -> dict[DeviceKey, Activity]:
    out: dict[DeviceKey, Activity] = {}
    for per in activities:
        for k, a in per.items():
            out.setdefault(k, Activity()).add(a)
    return out


def binding_keys(dev: RegisteredDevice, keys: Iterable[DeviceKey]) -> list[DeviceKey]:
    """Telemetry devices a register row stands for: its gateway/device, or that device name on any
    gateway of the enterprise when the gateway is left open."""
    if dev.device is None:
        return []
    if dev.gateway is not None:
        return [(dev.gateway, dev.device)]
    return sorted(k for k in keys if k[1] == dev.device)


def device_activity(dev: RegisteredDevice, activity: Mapping[DeviceKey, Activity]) -> Activity:
    out = Activity()
    for k in binding_keys(dev, activity):
        if k in activity:
            out.add(activity[k])
    return out


def networked(dev: RegisteredDevice, activity: Mapping[DeviceKey, Activity]) -> bool:
    return dev.bound and device_activity(dev, activity).slots > 0


def production(register: Sequence[RegisteredDevice]) -> list[RegisteredDevice]:
    return [d for d in register if d.production]


def networking_rate(register: Sequence[RegisteredDevice], activity: Mapping[DeviceKey, Activity]) -> Share:
    prod = production(register)
    return Share(sum(1 for d in prod if networked(d, activity)), len(prod))


def digitalization_rate(register: Sequence[RegisteredDevice], activity: Mapping[DeviceKey, Activity]) -> Share:
    prod = production(register)
    return Share(sum(1 for d in prod if d.digital or networked(d, activity)), len(prod))


def _since(dev: RegisteredDevice, act: Activity, known_since: Mapping[DeviceKey, int]) -> int | None:
    seen = [known_since[k] for k in binding_keys(dev, known_since) if k in known_since]
    marks = [m for m in (dev.registered_ms, act.first_ms, *seen) if m is not None]
    return min(marks) if marks else None


def expected_slots(
    dev: RegisteredDevice, act: Activity, period: Period, now_ms: int, known_since: Mapping[DeviceKey, int]
) -> int:
    since = _since(dev, act, known_since)
    start = period.start_ms if since is None else max(period.start_ms, since)
    return slots_between(start, min(period.end_ms, now_ms))


def online_rate(
    register: Sequence[RegisteredDevice],
    activity: Mapping[DeviceKey, Activity],
    period: Period,
    now_ms: int,
    known_since: Mapping[DeviceKey, int] | None = None,
) -> Share:
    known_since = known_since or {}
    got = want = 0
    for d in production(register):
        if not d.bound:
            continue
        act = device_activity(d, activity)
        exp = expected_slots(d, act, period, now_ms, known_since)
        got += min(act.slots, exp)
        want += exp
    return Share(got, want)


def device_rows(
    register: Sequence[RegisteredDevice],
    activity: Mapping[DeviceKey, Activity],
    period: Period,
    now_ms: int,
    known_since: Mapping[DeviceKey, int] | None = None,
    known_tags: Mapping[DeviceKey, Iterable[str]] | None = None,
) -> list[dict[str, Any]]:
    """Per register row: networked or not, online rate, and completeness per tag."""
    known_since = known_since or {}
    known_tags = known_tags or {}
    rows = []
    for d in register:
        act = device_activity(d, activity)
        exp = expected_slots(d, act, period, now_ms, known_since) if d.bound else 0
        tags: set[str] = set(act.tags)
        for k in binding_keys(d, known_tags):
            tags.update(known_tags.get(k, ()))
        tag_rows = [{"tag": t, **Share(min(act.tags.get(t, 0), exp), exp).as_dict()} for t in sorted(tags)]
        comp = [r["rate"] for r in tag_rows if r["rate"] is not None]
        rows.append({
            "name": d.name, "kind": d.kind, "production": d.production, "digital": d.digital,
            "gateway": d.gateway, "device": d.device, "bound": d.bound,
            "networked": d.bound and act.slots > 0,
            "online": Share(min(act.slots, exp), exp).as_dict() if d.bound else None,
            "completeness": round(sum(comp) / len(comp), 4) if comp else None,
            "tags": tag_rows,
        })
    return rows


def ledger_share(counts: Mapping[str, int]) -> Share:
    """`counts` by ledger entry source (manual, declared, import, telemetry)."""
    return Share(int(counts.get("telemetry", 0)), sum(int(n) for n in counts.values()))


def key_process_rate(
    processes: Sequence[KeyProcess], register: Sequence[RegisteredDevice], activity: Mapping[DeviceKey, Activity]
) -> tuple[Share, list[dict[str, Any]]]:
    by_name = {d.name: d for d in register}
    rows = []
    for p in processes:
        evidence = [n for n in p.devices if n in by_name and networked(by_name[n], activity)]
        rows.append({
            "name": p.name, "control": p.control, "devices": list(p.devices),
            "unknown_devices": [n for n in p.devices if n not in by_name],
            "networked_devices": evidence, "evidenced": p.control in CONTROLLED and bool(evidence),
        })
    return Share(sum(1 for r in rows if r["evidenced"]), len(rows)), rows


# -- one enterprise, one year ----------------------------------------------------------------------


@dataclass(slots=True)
class Inputs:
    """What the platform knows about one enterprise for a run of periods (e.g. the months of a year)."""

    register: list[RegisteredDevice] = field(default_factory=list)
    key_processes: list[KeyProcess] = field(default_factory=list)
    activity: dict[str, dict[DeviceKey, Activity]] = field(default_factory=dict)
    """Per period label."""
    ledger: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per period label: entry counts by source."""
    known_since: dict[DeviceKey, int] = field(default_factory=dict)
    known_tags: dict[DeviceKey, set[str]] = field(default_factory=dict)


def _rate(s: Share) -> float | None:
    v = s.value
    return None if v is None else round(float(v), 4)


def measure(inputs: Inputs, whole: Period, parts: Sequence[Period], now_ms: int) -> dict[str, Any]:
    """Rates over `whole` and per part (months) that has started by `now_ms`."""
    act = merge(inputs.activity.get(p.label, {}) for p in parts)
    counts: dict[str, int] = {}
    for p in parts:
        for src, n in inputs.ledger.get(p.label, {}).items():
            counts[src] = counts.get(src, 0) + n
    kp_share, kp_rows = key_process_rate(inputs.key_processes, inputs.register, act)
    ledger = ledger_share(counts)
    out: dict[str, Any] = {
        "networking_rate": networking_rate(inputs.register, act).as_dict(),
        "digitalization_rate": digitalization_rate(inputs.register, act).as_dict(),
        "online_rate": online_rate(inputs.register, act, whole, now_ms, inputs.known_since).as_dict(),
        "ledger_telemetry_share": {**ledger.as_dict(), "by_source": dict(sorted(counts.items()))},
        "key_process_nc_rate": {**kp_share.as_dict(), "target": TARGETS["key_process_nc_rate"],
                                "processes": kp_rows},
        "devices": device_rows(inputs.register, act, whole, now_ms, inputs.known_since, inputs.known_tags),
    }
    monthly = []
    for p in parts:
        if p.start_ms >= now_ms:
            break
        a = inputs.activity.get(p.label, {})
        monthly.append({
            "period": p.label,
            "networking_rate": _rate(networking_rate(inputs.register, a)),
            "digitalization_rate": _rate(digitalization_rate(inputs.register, a)),
            "online_rate": _rate(online_rate(inputs.register, a, p, now_ms, inputs.known_since)),
            "ledger_telemetry_share": _rate(ledger_share(inputs.ledger.get(p.label, {}))),
            "key_process_nc_rate": _rate(key_process_rate(inputs.key_processes, inputs.register, a)[0]),
        })
    out["monthly"] = monthly
    return out


def shares_for_assessment(inputs: Inputs, parts: Sequence[Period]) -> dict[str, Share | None]:
    """The measured rates that pre-fill questionnaire items; None when there is no register."""
    if not production(inputs.register):
        return {"networking_rate": None, "digitalization_rate": None}
    act = merge(inputs.activity.get(p.label, {}) for p in parts)
    return {"networking_rate": networking_rate(inputs.register, act),
            "digitalization_rate": digitalization_rate(inputs.register, act)}


# -- region ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnterpriseFigures:
    code: str
    name: str
    district: str | None
    on_cloud: bool
    score: Decimal | None
    level: int | None
    networking: Share | None = None
    digitalization: Share | None = None


def _avg(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _group(rows: Sequence[EnterpriseFigures]) -> dict[str, Any]:
    scores = [float(r.score) for r in rows if r.score is not None]
    nets = [float(v) for r in rows if r.networking is not None and (v := r.networking.value) is not None]
    digs = [float(v) for r in rows if r.digitalization is not None and (v := r.digitalization.value) is not None]
    return {
        "enterprise_count": len(rows),
        "cloud_rate": Share(sum(1 for r in rows if r.on_cloud), len(rows)).as_dict(),
        "assessed": len(scores),
        "level_2_or_above": sum(1 for r in rows if (r.level or 0) >= 2),
        "levels": {str(k): sum(1 for r in rows if (r.level or 0) == k) for k in range(0, 5)},
        "average_score": round(sum(scores) / len(scores), 2) if scores else None,
        "average_networking_rate": _avg(nets),
        "average_digitalization_rate": _avg(digs),
    }


def region(rows: Sequence[EnterpriseFigures]) -> dict[str, Any]:
    """企业上云率, count at level >= 2, districts ranked by average score (then cloud rate), and the
    enterprises ranked by score (unassessed last)."""
    by_district: dict[str, list[EnterpriseFigures]] = {}
    for r in rows:
        by_district.setdefault(r.district or "", []).append(r)
    districts = [{"district": d or None, **_group(rs)} for d, rs in by_district.items()]
    districts.sort(key=lambda g: (g["average_score"] is None, -(g["average_score"] or 0),
                                  -(g["cloud_rate"]["rate"] or 0), g["district"] or ""))
    for k, g in enumerate(districts, 1):
        g["rank"] = k
    ranked = sorted(rows, key=lambda r: (r.score is None, -(r.score or 0), r.code))
    enterprises = [{
        "rank": k if r.score is not None else None, "code": r.code, "name": r.name, "district": r.district,
        "on_cloud": r.on_cloud, "score": None if r.score is None else float(r.score), "level": r.level,
        "networking_rate": r.networking.as_dict() if r.networking else None,
        "digitalization_rate": r.digitalization.as_dict() if r.digitalization else None,
    } for k, r in enumerate(ranked, 1)]
    return {**_group(rows), "districts": districts, "enterprises": enterprises}
