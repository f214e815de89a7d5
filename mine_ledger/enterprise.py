"""Enterprise configuration: kind, shifts, night-ban windows, products, capacity history, stops.

Parsed once from the stored row into :class:`EnterpriseInfo`, which the entry validation and the
anomaly rules read; rules never touch the database for configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mine_ledger import thresholds as th
from mine_ledger.errors import ValidationError
from mine_ledger.periods import ShiftTable, Window, parse_windows
from mine_ledger.values import fmt_t, fmt_time, local_date, parse_time, qty

KINDS = ("coal_mine", "washing_plant", "coking", "non_metal_mine", "factory")
SOURCES = ("declared", "metered")
#: 原煤 raw coal, 精煤 clean coal, 中煤 middlings, 煤泥 slime, 矸石 gangue
DEFAULT_PRODUCTS = ("raw", "clean", "middlings", "slime", "gangue")
ALWAYS = date(1900, 1, 1)  # effective date of a capacity given without one
CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")

FIELDS = {
    "code", "name", "kind", "district", "approved_capacity_tpa", "capacity_effective_from", "capacities",
    "night_ban", "shifts", "production_source", "products", "thresholds",
}
MUTABLE = {"name", "district", "night_ban", "shifts", "production_source", "products", "thresholds"}


@dataclass(frozen=True)
class Stop:
    id: int
    start: datetime
    end: datetime
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "from": fmt_time(self.start), "to": fmt_time(self.end), "reason": self.reason}


@dataclass
class EnterpriseInfo:
    id: int
    code: str
    name: str
    kind: str
    district: str | None
    production_source: str
    shifts: ShiftTable
    night_ban: list[Window]
    products: list[str]
    threshold_overrides: dict[str, Any]
    capacities: list[tuple[date, Decimal]] = field(default_factory=list)  # sorted by date
    stops: list[Stop] = field(default_factory=list)
    closed_until: datetime | None = None
    created_at: datetime | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: int = 0) -> EnterpriseInfo:
        """Configuration from create data, without a database (rules run on it in memory)."""
        cfg = parse_config(data)
        return cls(id, cfg["code"], cfg["name"], cfg["kind"], cfg.get("district"), cfg["production_source"],
                   ShiftTable.parse(cfg["shifts"]), parse_windows(cfg["night_ban"], "night_ban"), cfg["products"],
                   cfg["thresholds"], capacities=cfg["capacities"])

    @property
    def thresholds(self) -> th.Thresholds:
        return th.merge(self.threshold_overrides)

    def capacity_on(self, d: date) -> Decimal | None:
        cap: Decimal | None = None
        for since, tpa in self.capacities:
            if since <= d:
                cap = tpa
        return cap

    def capacity_over(self, start: datetime, end: datetime) -> Decimal | None:
        """Approved annual capacity averaged over the days of ``[start, end)`` (a change mid-period
        counts pro rata); ``None`` when no capacity applies at all."""
        d, last = local_date(start), local_date(end - timedelta(microseconds=1))
        if not self.capacities:
            return None
        total, days, any_cap = Decimal(0), 0, False
        while d <= last:
            c = self.capacity_on(d)
            if c is not None:
                total += c
                any_cap = True
            days += 1
            d += timedelta(days=1)
        if not any_cap or days == 0:
            return None
        return total / days

    def as_dict(self) -> dict[str, Any]:
        current = self.capacity_on(local_date(datetime.now(UTC)))
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "district": self.district,
            "approved_capacity_tpa": fmt_t(current) if current is not None else None,
            "capacities": [
                {"tpa": fmt_t(tpa), "effective_from": None if since == ALWAYS else since.isoformat()}
                for since, tpa in self.capacities
            ],
            "night_ban": self.night_ban[0].as_list() if len(self.night_ban) == 1
            else [w.as_list() for w in self.night_ban] or None,
            "shifts": self.shifts.as_list(),
            "production_source": self.production_source,
            "products": list(self.products),
            "thresholds": th.effective(self.threshold_overrides),
            "stops": [s.as_dict() for s in self.stops],
            "closed_until": fmt_time(self.closed_until),
            "created_at": fmt_time(self.created_at),
        }


def parse_date(value: Any, fld: str) -> date:
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValidationError(f"{fld}: {value!r} is not a date (YYYY-MM-DD)", field=fld)


def parse_capacities(data: Mapping[str, Any]) -> list[tuple[date, Decimal]]:
    caps: dict[date, Decimal] = {}
    if data.get("approved_capacity_tpa") is not None:
        tpa = qty(data["approved_capacity_tpa"], "approved_capacity_tpa", non_negative=True)
        since = data.get("capacity_effective_from")
        caps[parse_date(since, "capacity_effective_from") if since else ALWAYS] = tpa
    elif data.get("capacity_effective_from") is not None:
        raise ValidationError(
            "capacity_effective_from: given without approved_capacity_tpa", field="capacity_effective_from"
        )
    raw = data.get("capacities")
    if raw is not None:
        if not isinstance(raw, list):
            raise ValidationError('capacities: expected [{"tpa", "effective_from"}]', field="capacities")
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping) or "tpa" not in item:
                raise ValidationError(f'capacities.{i}: expected {{"tpa", "effective_from"}}', field=f"capacities.{i}")
            since = item.get("effective_from")
            d = parse_date(since, f"capacities.{i}.effective_from") if since else ALWAYS
            caps[d] = qty(item["tpa"], f"capacities.{i}.tpa", non_negative=True)
    return sorted(caps.items())


def parse_products(value: Any) -> list[str]:
    if value is None:
        return list(DEFAULT_PRODUCTS)
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationError("products: expected a list of product names", field="products")
    out = list(DEFAULT_PRODUCTS)
    for i, p in enumerate(value):
        if not NAME_RE.match(p):
            raise ValidationError(f"products.{i}: {p!r} must match [a-z0-9_]{{1,32}}", field=f"products.{i}")
        if p not in out:
            out.append(p)
    return out


def parse_config(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate create (or, with ``partial``, update) data; returns the normalized fields given."""
    if not isinstance(data, Mapping):
        raise ValidationError("enterprise: expected an object", field="enterprise")
    allowed = MUTABLE if partial else FIELDS
    for key in data:
        if key not in allowed:
            what = "cannot be changed" if key in FIELDS else "unknown field"
            raise ValidationError(f"{key}: {what} (allowed: {', '.join(sorted(allowed))})", field=key)
    out: dict[str, Any] = {}
    if not partial:
        code = data.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code):
            raise ValidationError("code: required, 1-64 characters of A-Z a-z 0-9 _ . -", field="code")
        out["code"] = code
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValidationError(f"kind: must be one of {', '.join(KINDS)}", field="kind")
        out["kind"] = kind
        out["capacities"] = parse_capacities(data)
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name: required", field="name")
        out["name"] = name.strip()
    if "district" in data:
        d = data.get("district")
        if d is not None and not isinstance(d, str):
            raise ValidationError("district: expected text", field="district")
        out["district"] = d.strip() if isinstance(d, str) and d.strip() else None
    if "production_source" in data or not partial:
        src = data.get("production_source") or "declared"
        if src not in SOURCES:
            raise ValidationError(f"production_source: must be one of {', '.join(SOURCES)}", field="production_source")
        out["production_source"] = src
    if "shifts" in data or not partial:
        out["shifts"] = ShiftTable.parse(data.get("shifts")).as_list()
    if "night_ban" in data or not partial:
        out["night_ban"] = [w.as_list() for w in parse_windows(data.get("night_ban"), "night_ban")]
    if "products" in data or not partial:
        out["products"] = parse_products(data.get("products"))
    if "thresholds" in data or not partial:
        out["thresholds"] = th.validate(data.get("thresholds"))
    return out


def parse_stop(data: Mapping[str, Any]) -> tuple[datetime, datetime, str]:
    if not isinstance(data, Mapping):
        raise ValidationError('stop: expected {"from", "to", "reason"}', field="stop")
    for key in data:
        if key not in ("from", "to", "reason"):
            raise ValidationError(f"{key}: unknown field (allowed: from, to, reason)", field=key)
    start = parse_time(data.get("from"), "from")
    end = parse_time(data.get("to"), "to")
    if end <= start:
        raise ValidationError("to: must be after from", field="to")
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        raise ValidationError("reason: expected text", field="reason")
    return start, end, reason.strip()
