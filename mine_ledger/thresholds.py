"""Anomaly thresholds: the defaults of CONTRACTS §6, overridable per enterprise.

An enterprise stores only the keys it overrides; :func:`merge` validates them and fills in the
rest, so a default changed here reaches every enterprise that did not set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mine_ledger.errors import ValidationError
from mine_ledger.values import parse_decimal

SEVERITIES = ("info", "warning", "major")

CODES = (
    "OVER_CAPACITY_MONTH",
    "OVER_CAPACITY_YEAR",
    "NIGHT_PRODUCTION",
    "PRODUCTION_DURING_STOP",
    "NEGATIVE_STOCK",
    "STOCK_MISMATCH",
    "SALES_EXCEED_STOCK",
    "SHIPMENT_UNWEIGHED",
    "TARE_DEVIATION",
    "DUPLICATE_WEIGHING",
    "RECEIPT_UNMATCHED",
    "TELEMETRY_MISMATCH",
    "ENERGY_OUTPUT_MISMATCH",
)

DEFAULT_SEVERITY: dict[str, str] = {
    "OVER_CAPACITY_MONTH": "warning",
    "OVER_CAPACITY_YEAR": "warning",  # above year_capacity_major it is "major"
    "NIGHT_PRODUCTION": "major",
    "PRODUCTION_DURING_STOP": "major",
    "NEGATIVE_STOCK": "warning",
    "STOCK_MISMATCH": "warning",
    "SALES_EXCEED_STOCK": "warning",
    "SHIPMENT_UNWEIGHED": "major",
    "TARE_DEVIATION": "warning",
    "DUPLICATE_WEIGHING": "warning",
    "RECEIPT_UNMATCHED": "warning",
    "TELEMETRY_MISMATCH": "warning",
    "ENERGY_OUTPUT_MISMATCH": "warning",
}

#: name -> (default, kind); kind: "share" (fraction, Decimal), "t" (tonnes), "int", "period"
DEFAULTS: dict[str, tuple[Any, str]] = {
    "month_capacity_share": ("0.10", "share"),  # month raw output > 10 % of annual capacity
    "year_capacity_warning": ("1.00", "share"),  # year to date > capacity
    "year_capacity_major": ("1.10", "share"),  # > 110 %: major hazard (2020 standard)
    "stock_tolerance_laser": ("0.01", "share"),
    "stock_tolerance_manual": ("0.03", "share"),
    "stock_tolerance_drone": ("0.05", "share"),
    "stock_tolerance_default": ("0.03", "share"),
    "stock_mismatch_min_t": ("10", "t"),
    "sales_period": ("month", "period"),
    "tare_share": ("0.05", "share"),
    "tare_min_t": ("0.5", "t"),
    "tare_min_weighings": (3, "int"),
    "tare_history": (20, "int"),  # median over at most this many earlier weighings
    "duplicate_window_s": (600, "int"),
    "receipt_match_share": ("0.005", "share"),
    "telemetry_share": ("0.02", "share"),
    "telemetry_period": ("day", "period"),
    "telemetry_min_coverage": ("0.95", "share"),  # share of the period the meter must cover
    "energy_share": ("0.30", "share"),
    "energy_window_days": (30, "int"),
    "energy_min_days": (7, "int"),  # days with data needed before a norm exists
    "meter_min_t": ("1", "t"),  # metered flow below this in a ban or stop is belt-scale drift
}

PERIODS = ("shift", "day", "xun", "month", "year")


@dataclass(frozen=True)
class Thresholds:
    values: Mapping[str, Any]
    severity: Mapping[str, str]
    disabled: frozenset[str]

    def dec(self, name: str) -> Decimal:
        v = self.values[name]
        assert isinstance(v, Decimal)
        return v

    def count(self, name: str) -> int:
        return int(self.values[name])

    def text(self, name: str) -> str:
        return str(self.values[name])

    def sev(self, code: str) -> str:
        return self.severity.get(code, DEFAULT_SEVERITY[code])


def validate(overrides: Mapping[str, Any] | None, field: str = "thresholds") -> dict[str, Any]:
    """Check an override dict; returns it in JSON-ready form (decimals as strings)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ValidationError(f"{field}: expected an object", field=field)
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "stock_tolerance" and isinstance(value, Mapping):  # {"laser": "0.01", ...}
            flat.update({f"stock_tolerance_{m}": v for m, v in value.items()})
        else:
            flat[key] = value
    out: dict[str, Any] = {}
    for key, value in flat.items():
        f = f"{field}.{key}"
        if key == "severity":
            if not isinstance(value, Mapping):
                raise ValidationError(f"{f}: expected {{CODE: info|warning|major}}", field=f)
            sev: dict[str, str] = {}
            for code, level in value.items():
                if code not in CODES:
                    raise ValidationError(f"{f}.{code}: unknown anomaly code", field=f"{f}.{code}")
                if level not in SEVERITIES:
                    raise ValidationError(f"{f}.{code}: must be one of {', '.join(SEVERITIES)}", field=f"{f}.{code}")
                sev[code] = level
            out[key] = sev
            continue
        if key == "disabled":
            if not isinstance(value, list) or any(c not in CODES for c in value):
                raise ValidationError(f"{f}: expected a list of anomaly codes", field=f)
            out[key] = list(value)
            continue
        if key not in DEFAULTS:
            raise ValidationError(f"{f}: unknown threshold (known: {', '.join(DEFAULTS)})", field=f)
        kind = DEFAULTS[key][1]
        if kind in ("share", "t"):
            d = parse_decimal(value, f, 6)
            if d < 0:
                raise ValidationError(f"{f}: must not be negative", field=f)
            out[key] = str(d.normalize())
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
                raise ValidationError(f"{f}: expected a non-negative whole number", field=f)
            out[key] = int(value)
        else:
            if value not in PERIODS:
                raise ValidationError(f"{f}: must be one of {', '.join(PERIODS)}", field=f)
            out[key] = value
    return out


def merge(overrides: Mapping[str, Any] | None) -> Thresholds:
    """Defaults with the enterprise's (already validated) overrides applied."""
    o = dict(overrides or {})
    values: dict[str, Any] = {}
    for key, (default, kind) in DEFAULTS.items():
        v = o.get(key, default)
        values[key] = Decimal(str(v)) if kind in ("share", "t") else (int(v) if kind == "int" else v)
    return Thresholds(values, dict(o.get("severity", {})), frozenset(o.get("disabled", [])))


def effective(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The merged thresholds in JSON-ready form (what an enterprise reads back)."""
    t = merge(overrides)
    out: dict[str, Any] = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in t.values.items()}
    out["severity"] = {c: t.sev(c) for c in CODES}
    out["disabled"] = sorted(t.disabled)
    return out
