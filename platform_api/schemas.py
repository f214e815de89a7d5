"""Request bodies of the API (CONTRACTS §7). They document the shapes in `/openapi.json` and
refuse malformed input early with a message naming the field; the ledger still owns its rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="letters, digits, _ . -")]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="enterprise code")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Tonnes = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=3, description="tonnes, decimal string")]
SignedTonnes = Annotated[Decimal, Field(max_digits=15, decimal_places=3)]
Money = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2)]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$", description="HH:MM")]
Product = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="raw, clean, middlings, slime, gangue, ...")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


class Shift(Strict):
    name: Name
    label: str | None = Field(None, max_length=40)
    start: HHMM
    end: HHMM


class Capacity(Strict):
    tpa: Tonnes
    effective_from: date


class EnterpriseIn(Strict):
    code: Code
    name: Text
    kind: Literal["coal_mine", "washing_plant", "coking", "non_metal_mine", "factory"]
    district: str | None = Field(None, max_length=64)
    approved_capacity_tpa: Tonnes | None = None
    capacity_effective_from: date | None = None
    capacities: list[Capacity] | None = Field(None, max_length=100)
    night_ban: list[HHMM] | list[list[HHMM]] | None = Field(None, max_length=24)
    shifts: list[Shift] | None = Field(None, min_length=1, max_length=12)
    production_source: Literal["declared", "metered"] | None = None
    products: list[Product] | None = Field(None, min_length=1, max_length=40)
    thresholds: dict[str, Any] | None = None


class EnterprisePatch(Strict):
    name: Text | None = None
    district: str | None = Field(None, max_length=64)
    night_ban: list[HHMM] | list[list[HHMM]] | None = Field(None, max_length=24)
    shifts: list[Shift] | None = Field(None, min_length=1, max_length=12)
    production_source: Literal["declared", "metered"] | None = None
    products: list[Product] | None = Field(None, min_length=1, max_length=40)
    thresholds: dict[str, Any] | None = None


class StopIn(Strict):
    from_: datetime = Field(alias="from")
    to: datetime
    reason: str | None = Field(None, max_length=500)


class CloseIn(Strict):
    month: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="2026-11; default: last month")


class Flow(Strict):
    product: Product
    stockpile: Name
    tonnes: Tonnes


class _Entry(Strict):
    at: datetime
    note: str | None = Field(None, max_length=2000)


class Production(_Entry):
    kind: Literal["production"]
    product: Product = "raw"
    stockpile: Name
    tonnes: Tonnes
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    shift: Name | None = None


class Washing(_Entry):
    kind: Literal["washing"]
    inputs: list[Flow] = Field(min_length=1, max_length=50)
    outputs: list[Flow] = Field(max_length=50)
    loss: Tonnes


class Transfer(_Entry):
    kind: Literal["transfer"]
    product: Product
    from_: Name = Field(alias="from")
    to: Name
    tonnes: Tonnes


class Receipt(_Entry):
    kind: Literal["receipt"]
    product: Product
    stockpile: Name
    tonnes: Tonnes | None = None
    supplier: Text
    ticket: str | None = Field(None, max_length=64)
    vehicle: str | None = Field(None, max_length=32)
    gross: Tonnes | None = None
    tare: Tonnes | None = None
    net: Tonnes | None = None


class Shipment(_Entry):
    kind: Literal["shipment"]
    product: Product
    stockpile: Name
    ticket: str | None = Field(None, max_length=64)
    vehicle: str | None = Field(None, max_length=32)
    gross: Tonnes | None = None
    tare: Tonnes | None = None
    net: Tonnes | None = None
    tonnes: Tonnes | None = None
    weighed_in: datetime | None = None
    weighed_out: datetime | None = None
    destination: str | None = Field(None, max_length=200)


class Sale(_Entry):
    kind: Literal["sale"]
    buyer: Text
    product: Product
    tonnes: Tonnes
    unit_price: Money
    tax_included: bool = True
    tickets: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=1000)


class OwnUse(_Entry):
    kind: Literal["own_use"]
    product: Product
    stockpile: Name
    tonnes: Tonnes


class Stocktake(_Entry):
    kind: Literal["stocktake"]
    product: Product
    stockpile: Name
    measured: Tonnes
    method: Literal["laser", "drone", "manual"] | None = None


class Reversal(Strict):
    kind: Literal["reversal"]
    reverses: int = Field(ge=1, le=2**62)
    reason: Text
    at: datetime | None = None
    note: str | None = Field(None, max_length=2000)


EntryIn = Annotated[
    Production | Washing | Transfer | Receipt | Shipment | Sale | OwnUse | Stocktake | Reversal,
    Field(discriminator="kind"),
]


class EntryBody(RootModel[EntryIn]):
    """One ledger entry; `kind` selects the shape."""


class MeterIn(Strict):
    gateway: Name
    device: Name
    tag: Annotated[str, Field(min_length=1, max_length=100)]
    measures: Literal["production", "energy"]
    product: Product | None = None
    stockpile: Name | None = None
    max_rate: float | None = Field(None, gt=0, le=1e9)
    rollover: float | None = Field(None, gt=0, le=1e19)
    max_gap: float | None = Field(None, gt=0, le=1e9)


class RuleIn(Strict):
    device: Name
    tag: Annotated[str, Field(min_length=1, max_length=100)]
    name: Name
    severity: Literal["info", "warning", "major", "critical"] = "warning"
    above: float | None = Field(None, allow_inf_nan=False)
    below: float | None = Field(None, allow_inf_nan=False)
    clear: float | None = Field(None, allow_inf_nan=False)
    delay: float = Field(0.0, ge=0, le=86400, description="seconds the level must hold before the alarm")


class RuleOut(BaseModel):
    id: int
    device: str
    tag: str
    name: str
    severity: str
    above: float | None
    below: float | None
    clear: float | None
    delay: float
    source: str


class ProfileRulesIn(Strict):
    device: Name
    profile: Name
    gateway: Name | None = None


class DeviceIn(Strict):
    gateway: Name
    profile: Name | None = None


class AckIn(Strict):
    note: str | None = Field(None, max_length=2000)


class AlarmOut(BaseModel):
    id: int
    enterprise: str
    gateway: str | None
    device: str
    tag: str
    rule: int
    name: str
    severity: str
    state: Literal["active", "acknowledged", "cleared"]
    condition: str
    value: float | None
    peak: float | None
    since: str
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    note: str | None
    cleared_at: str | None


class SampleIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    tag: Annotated[str, Field(min_length=1, max_length=100)]
    value: float | bool | str | None = None
    quality: Literal["good", "uncertain", "bad"] = "good"
    ts: datetime | None = None
    error: str | None = None


class IngestIn(BaseModel):
    """The MQTT data payload (CONTRACTS §5), posted by a gateway that cannot reach the broker."""

    gateway: Name
    device: Name
    epoch: Annotated[str, Field(min_length=1, max_length=64)] | int
    seq: int = Field(ge=1, lt=2**62)
    samples: list[SampleIn] = Field(max_length=100_000)


class IngestOut(BaseModel):
    accepted: bool
    duplicate: bool
    samples: int
    gaps: list[dict[str, Any]]


class LatestOut(BaseModel):
    gateway: str
    device: str
    tag: str
    value: Any
    quality: str
    ts: str | None
    error: str | None = None


class OverviewRow(BaseModel):
    code: str
    name: str
    district: str | None
    kind: str | None
    period: str
    production: str | None
    shipments: str | None
    sales: str | None
    closing_stock: str | None
    capacity_use: float | None
    anomalies: int | None
    alarms: int
    digitalization: Any = None
