"""Entry kinds of CONTRACTS §6: validation and the stock movements each entry implies.

Validation here is stateless (it needs only the enterprise's configuration); checks that need the
ledger's state (closed months, reversal targets, ticket reuse, the book stock of a stocktake) are
made by the store inside the append transaction. :func:`moves_from_data` derives the movements from
the stored fields alone, so ``verify`` can recompute them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.errors import ValidationError
from mine_ledger.values import Q2, canon_time, fmt_time, money, opt_time, parse_time, qty, to_kg

KINDS = ("production", "washing", "transfer", "receipt", "shipment", "sale", "own_use", "stocktake", "reversal")
METHODS = ("laser", "drone", "manual")
SOURCES = ("manual", "declared", "import", "telemetry")
TOLERANCE_WASHING = Decimal("0.001")

WEIGH_FIELDS = ("ticket", "vehicle", "gross", "tare", "net", "weighed_in", "weighed_out")
FIELDS: dict[str, tuple[str, ...]] = {
    "production": ("product", "stockpile", "tonnes", "shift", "from", "to"),
    "washing": ("inputs", "outputs", "loss"),
    "transfer": ("product", "from", "to", "tonnes"),
    "receipt": ("product", "stockpile", "tonnes", "supplier", *WEIGH_FIELDS),
    "shipment": ("product", "stockpile", "tonnes", "destination", *WEIGH_FIELDS),
    "sale": ("buyer", "product", "tonnes", "unit_price", "tax_included", "tickets"),
    "own_use": ("product", "stockpile", "tonnes", "purpose"),
    "stocktake": ("product", "stockpile", "measured", "method"),
    "reversal": ("reverses", "reason"),
}
COMMON = ("kind", "at", "note", "source")
#: produced by the ledger; accepted back (an exported entry re-posted) and ignored
OUTPUT_ONLY = ("id", "seq", "hash", "prev_hash", "recorded_at", "author", "flags", "reversed_by", "enterprise",
               "book", "variance", "amount", "reverses_hash", "reverses_seq")
KNOWN = frozenset(f for fs in FIELDS.values() for f in fs) | set(COMMON) | set(OUTPUT_ONLY)
TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "production": ("from", "to"),
    "receipt": ("weighed_in", "weighed_out"),
    "shipment": ("weighed_in", "weighed_out"),
}

#: roles of stock movements; ``sale`` is recorded alongside for sums but moves no stock
STOCK_ROLES = ("production", "receipt", "transfer_in", "transfer_out", "washing_in", "washing_out",
               "shipment", "own_use", "stocktake")
SALE_ROLE = "sale"


@dataclass(frozen=True)
class Move:
    product: str
    stockpile: str
    role: str
    kg: int  # signed: + into the stockpile, - out of it (sales: + tonnes sold)


@dataclass
class Draft:
    """A validated entry not yet stored."""

    kind: str
    at: datetime
    source: str
    data: dict[str, Any]
    ticket: str | None = None
    vehicle: str | None = None
    reverses: int | None = None
    sale_tickets: list[str] = field(default_factory=list)


def _text(v: Any, fld: str, *, required: bool = False, max_len: int = 200) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValidationError(f"{fld}: required", field=fld)
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise ValidationError(f"{fld}: expected text", field=fld)
    s = str(v).strip()
    if len(s) > max_len:
        raise ValidationError(f"{fld}: longer than {max_len} characters", field=fld)
    return s


def _vehicle(v: Any, fld: str) -> str | None:
    s = _text(v, fld, max_len=100)
    return "".join(s.split()).upper() if s else None


def _product(v: Any, ent: EnterpriseInfo, fld: str = "product", default: str | None = None) -> str:
    p = _text(v, fld, max_len=32) or default
    if p is None:
        raise ValidationError(f"{fld}: required (one of {', '.join(ent.products)})", field=fld)
    if p not in ent.products:
        raise ValidationError(f"{fld}: unknown product {p!r} (known: {', '.join(ent.products)})", field=fld)
    return p


def _stockpile(v: Any, fld: str, product: str) -> str:
    return _text(v, fld, max_len=64) or f"{product}_yard"


def _t(d: Decimal) -> str:
    return str(d)


def _time_out(dt: datetime | None) -> str | None:
    return canon_time(dt) if dt is not None else None


def parse_entry(raw: Mapping[str, Any], ent: EnterpriseInfo, *, now: datetime, source: str | None = None) -> Draft:
    """Validate one entry dict (CONTRACTS §7 shape) against the enterprise's configuration."""
    if not isinstance(raw, Mapping):
        raise ValidationError("entry: expected an object", field="entry")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValidationError(f"kind: must be one of {', '.join(KINDS)}", field="kind")
    for key in raw:
        if key not in KNOWN:
            # a misspelt field must not vanish silently; a field of another kind (a sale's
            # stockpile) has no meaning here and is left out
            raise ValidationError(
                f"{key}: not a field of a {kind} entry (fields: {', '.join(FIELDS[kind])}, at, note)", field=key
            )
    src = source or _text(raw.get("source"), "source") or "manual"
    if src not in SOURCES:
        raise ValidationError(f"source: must be one of {', '.join(SOURCES)}", field="source")
    parse = _PARSERS[kind]
    draft = parse(raw, ent, now)
    draft.source = src
    note = _text(raw.get("note"), "note", max_len=2000)
    if note:
        draft.data["note"] = note
    return draft


def _at(raw: Mapping[str, Any], *fallbacks: datetime | None) -> datetime:
    if raw.get("at") not in (None, ""):
        return parse_time(raw["at"], "at")
    for f in fallbacks:
        if f is not None:
            return f
    raise ValidationError("at: required (ISO 8601 time)", field="at")


def _production(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent, default="raw")
    stockpile = _stockpile(raw.get("stockpile"), "stockpile", product)
    tonnes = qty(raw.get("tonnes"), "tonnes", positive=True)
    start, end = opt_time(raw.get("from"), "from"), opt_time(raw.get("to"), "to")
    if (start is None) != (end is None):
        missing = "to" if end is None else "from"
        raise ValidationError(f"{missing}: from and to go together", field=missing)
    if start is not None and end is not None and end <= start:
        raise ValidationError("to: must be after from", field="to")
    shift_name = _text(raw.get("shift"), "shift", max_len=32)
    if shift_name is not None:
        sh = ent.shifts.get(shift_name)
        if sh is None:
            names = ", ".join(s.name for s in ent.shifts.shifts)
            raise ValidationError(f"shift: unknown shift {shift_name!r} (shifts: {names})", field="shift")
        shift_name = sh.name
    at = _at(raw, start)
    data = {"product": product, "stockpile": stockpile, "tonnes": _t(tonnes), "shift": shift_name,
            "from": _time_out(start), "to": _time_out(end)}
    return Draft("production", at, "manual", data)


def _lines(value: Any, fld: str, ent: EnterpriseInfo) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValidationError(f'{fld}: expected a non-empty list of {{"product", "stockpile", "tonnes"}}', field=fld)
    out = []
    for i, item in enumerate(value):
        f = f"{fld}.{i}"
        if not isinstance(item, Mapping):
            raise ValidationError(f'{f}: expected {{"product", "stockpile", "tonnes"}}', field=f)
        for key in item:
            if key not in ("product", "stockpile", "tonnes"):
                raise ValidationError(f"{f}.{key}: unknown field (product, stockpile, tonnes)", field=f"{f}.{key}")
        product = _product(item.get("product"), ent, f"{f}.product")
        out.append({
            "product": product,
            "stockpile": _stockpile(item.get("stockpile"), f"{f}.stockpile", product),
            "tonnes": _t(qty(item.get("tonnes"), f"{f}.tonnes", positive=True)),
        })
    return out


def _washing(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    inputs = _lines(raw.get("inputs"), "inputs", ent)
    outputs = _lines(raw.get("outputs"), "outputs", ent)
    loss = qty(raw.get("loss"), "loss")
    total_in = sum((Decimal(x["tonnes"]) for x in inputs), Decimal(0))
    total_out = sum((Decimal(x["tonnes"]) for x in outputs), Decimal(0))
    if abs(total_in - total_out - loss) > TOLERANCE_WASHING:
        raise ValidationError(
            f"loss: inputs {total_in} - outputs {total_out} = {total_in - total_out}, "
            f"not the declared loss {loss} (tolerance 0.001 t)",
            field="loss",
        )
    data = {"inputs": inputs, "outputs": outputs, "loss": _t(loss)}
    return Draft("washing", _at(raw), "manual", data)


def _transfer(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent)
    src = _text(raw.get("from"), "from", required=True, max_len=64)
    dst = _text(raw.get("to"), "to", required=True, max_len=64)
    if src == dst:
        raise ValidationError("to: must differ from from", field="to")
    tonnes = qty(raw.get("tonnes"), "tonnes", positive=True)
    data = {"product": product, "from": src, "to": dst, "tonnes": _t(tonnes)}
    return Draft("transfer", _at(raw), "manual", data)


def _weighing(raw: Mapping[str, Any], kind: str) -> tuple[dict[str, Any], Decimal | None]:
    """Ticket fields of a shipment or receipt; returns them and the net weight (if known)."""
    gross = qty(raw["gross"], "gross", non_negative=True) if raw.get("gross") not in (None, "") else None
    tare = qty(raw["tare"], "tare", non_negative=True) if raw.get("tare") not in (None, "") else None
    net = qty(raw["net"], "net", non_negative=True) if raw.get("net") not in (None, "") else None
    tonnes = qty(raw["tonnes"], "tonnes", non_negative=True) if raw.get("tonnes") not in (None, "") else None
    if gross is not None and tare is not None:
        if tare > gross:
            raise ValidationError(f"tare: {tare} is greater than gross {gross}", field="tare")
        if net is None:
            net = gross - tare
        elif net != gross - tare:
            raise ValidationError(f"net: {net} is not gross {gross} - tare {tare} = {gross - tare}", field="net")
    if kind == "shipment" and tonnes is not None:
        if net is None:
            net = tonnes
        elif tonnes != net:
            raise ValidationError(f"tonnes: {tonnes} differs from net {net}", field="tonnes")
    weighed_in = opt_time(raw.get("weighed_in"), "weighed_in")
    weighed_out = opt_time(raw.get("weighed_out"), "weighed_out")
    if weighed_in and weighed_out and weighed_out < weighed_in:
        raise ValidationError("weighed_out: before weighed_in", field="weighed_out")
    data = {
        "ticket": _text(raw.get("ticket"), "ticket", max_len=100),
        "vehicle": _vehicle(raw.get("vehicle"), "vehicle"),
        "gross": _t(gross) if gross is not None else None,
        "tare": _t(tare) if tare is not None else None,
        "net": _t(net) if net is not None else None,
        "weighed_in": _time_out(weighed_in),
        "weighed_out": _time_out(weighed_out),
    }
    return data, net


def _shipment(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent)
    stockpile = _stockpile(raw.get("stockpile"), "stockpile", product)
    weigh, net = _weighing(raw, "shipment")
    if net is None:
        raise ValidationError("net: required (or gross and tare, or tonnes)", field="net")
    if net <= 0:
        raise ValidationError("net: must be greater than 0", field="net")
    data = {"product": product, "stockpile": stockpile, **weigh,
            "destination": _text(raw.get("destination"), "destination")}
    at = _at(raw, opt_time(raw.get("weighed_out"), "weighed_out"), opt_time(raw.get("weighed_in"), "weighed_in"))
    return Draft("shipment", at, "manual", data, ticket=weigh["ticket"], vehicle=weigh["vehicle"])


def _receipt(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent)
    stockpile = _stockpile(raw.get("stockpile"), "stockpile", product)
    weigh, net = _weighing(raw, "receipt")
    if raw.get("tonnes") not in (None, ""):
        tonnes = qty(raw.get("tonnes"), "tonnes", positive=True)
        if net is not None and net != tonnes:
            raise ValidationError(f"tonnes: {tonnes} differs from net {net}", field="tonnes")
    elif net is not None and net > 0:
        tonnes = net
    else:
        raise ValidationError("tonnes: required (or net, or gross and tare)", field="tonnes")
    data = {"product": product, "stockpile": stockpile, "tonnes": _t(tonnes),
            "supplier": _text(raw.get("supplier"), "supplier", required=True), **weigh}
    at = _at(raw, opt_time(raw.get("weighed_out"), "weighed_out"), opt_time(raw.get("weighed_in"), "weighed_in"))
    return Draft("receipt", at, "manual", data, ticket=weigh["ticket"], vehicle=weigh["vehicle"])


def _bool(v: Any, fld: str, default: bool) -> bool:
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "y", "是", "含税"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "no", "0", "n", "否", "不含税"):
        return False
    raise ValidationError(f"{fld}: expected true or false", field=fld)


def _sale(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent)
    tonnes = qty(raw.get("tonnes"), "tonnes", positive=True)
    price = money(raw.get("unit_price"), "unit_price") if raw.get("unit_price") not in (None, "") else None
    tickets_raw = raw.get("tickets") or []
    if isinstance(tickets_raw, str):
        tickets_raw = [t for t in tickets_raw.replace(",", ";").split(";")]
    if not isinstance(tickets_raw, list):
        raise ValidationError("tickets: expected a list of ticket numbers", field="tickets")
    tickets: list[str] = []
    for i, t in enumerate(tickets_raw):
        s = _text(t, f"tickets.{i}", max_len=100)
        if s is None:
            continue
        if s in tickets:
            raise ValidationError(f"tickets.{i}: ticket {s!r} listed twice", field=f"tickets.{i}")
        tickets.append(s)
    amount = (tonnes * price).quantize(Q2, rounding=ROUND_HALF_UP) if price is not None else None
    data = {
        "buyer": _text(raw.get("buyer"), "buyer", required=True),
        "product": product,
        "tonnes": _t(tonnes),
        "unit_price": str(price) if price is not None else None,
        "amount": str(amount) if amount is not None else None,
        "tax_included": _bool(raw.get("tax_included"), "tax_included", True),
        "tickets": tickets,
    }
    return Draft("sale", _at(raw), "manual", data, sale_tickets=tickets)


def _own_use(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent)
    data = {"product": product, "stockpile": _stockpile(raw.get("stockpile"), "stockpile", product),
            "tonnes": _t(qty(raw.get("tonnes"), "tonnes", positive=True))}
    purpose = _text(raw.get("purpose"), "purpose")
    if purpose:
        data["purpose"] = purpose
    return Draft("own_use", _at(raw), "manual", data)


def _stocktake(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    product = _product(raw.get("product"), ent)
    method = _text(raw.get("method"), "method", max_len=16)
    if method is not None:
        method = method.lower()
        if method not in METHODS:
            raise ValidationError(f"method: must be one of {', '.join(METHODS)}", field="method")
    data = {"product": product, "stockpile": _stockpile(raw.get("stockpile"), "stockpile", product),
            "measured": _t(qty(raw.get("measured"), "measured", non_negative=True)), "method": method,
            "book": None, "variance": None}  # filled in by the store from the book stock at ``at``
    return Draft("stocktake", _at(raw), "manual", data)


def _reversal(raw: Mapping[str, Any], ent: EnterpriseInfo, now: datetime) -> Draft:
    target = raw.get("reverses")
    if isinstance(target, str) and target.strip().isdigit():
        target = int(target.strip())
    if isinstance(target, bool) or not isinstance(target, int) or target <= 0:
        raise ValidationError("reverses: the id of the entry to reverse is required", field="reverses")
    reason = _text(raw.get("reason"), "reason", required=True, max_len=2000)
    data = {"reverses": target, "reason": reason, "reverses_seq": None, "reverses_hash": None}
    return Draft("reversal", _at(raw, now), "manual", data, reverses=target)


_PARSERS = {
    "production": _production,
    "washing": _washing,
    "transfer": _transfer,
    "receipt": _receipt,
    "shipment": _shipment,
    "sale": _sale,
    "own_use": _own_use,
    "stocktake": _stocktake,
    "reversal": _reversal,
}


def _kg(s: str | None) -> int:
    return to_kg(Decimal(s)) if s is not None else 0


def moves_from_data(kind: str, data: Mapping[str, Any]) -> list[Move]:
    """Movements implied by a stored entry (not for reversals: they negate their target's)."""
    if kind == "production":
        return [Move(data["product"], data["stockpile"], "production", _kg(data["tonnes"]))]
    if kind == "receipt":
        return [Move(data["product"], data["stockpile"], "receipt", _kg(data["tonnes"]))]
    if kind == "shipment":
        return [Move(data["product"], data["stockpile"], "shipment", -_kg(data["net"]))]
    if kind == "own_use":
        return [Move(data["product"], data["stockpile"], "own_use", -_kg(data["tonnes"]))]
    if kind == "transfer":
        kg = _kg(data["tonnes"])
        return [Move(data["product"], data["from"], "transfer_out", -kg),
                Move(data["product"], data["to"], "transfer_in", kg)]
    if kind == "washing":
        return [Move(x["product"], x["stockpile"], "washing_in", -_kg(x["tonnes"])) for x in data["inputs"]] + [
            Move(x["product"], x["stockpile"], "washing_out", _kg(x["tonnes"])) for x in data["outputs"]
        ]
    if kind == "stocktake":
        # kept even when zero: the movement marks where the survey pins the stock
        return [Move(data["product"], data["stockpile"], "stocktake", _kg(data.get("variance")))]
    if kind == "sale":
        return [Move(data["product"], "", SALE_ROLE, _kg(data["tonnes"]))]
    return []


def data_for_output(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored fields as users read them: times back in Asia/Shanghai."""
    out = dict(data)
    for key in TIME_FIELDS.get(kind, ()):
        v = out.get(key)
        if isinstance(v, str):
            out[key] = fmt_time(parse_time(v, key))
    return out
