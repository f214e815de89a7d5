"""Entry validation without a database: every refusal of CONTRACTS §6 names its field."""

from datetime import UTC, datetime
from typing import Any

import pytest

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.entries import Move, moves_from_data, parse_entry
from mine_ledger.errors import ValidationError

ENT = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine", "products": ["limestone"]})
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def parse(**raw: Any):  # type: ignore[no-untyped-def]
    return parse_entry(raw, ENT, now=NOW)


def refused(field: str, **raw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        parse(**raw)
    assert e.value.field == field, (e.value.field, str(e.value))
    return e.value


def test_production_defaults_and_moves() -> None:
    d = parse(kind="production", tonnes="1250.5", at="2026-11-03T15:00", shift="早班")
    assert d.data["product"] == "raw" and d.data["stockpile"] == "raw_yard" and d.data["shift"] == "day"
    assert d.data["tonnes"] == "1250.500"
    assert moves_from_data("production", d.data) == [Move("raw", "raw_yard", "production", 1250500)]


def test_production_refusals() -> None:
    refused("tonnes", kind="production", tonnes="-1", at="2026-11-03")
    refused("product", kind="production", product="coke", tonnes="1", at="2026-11-03")
    refused("shift", kind="production", tonnes="1", at="2026-11-03", shift="lunch")
    refused("to", kind="production", tonnes="1", at="2026-11-03", **{"from": "2026-11-03T08:00"})
    refused("at", kind="production", tonnes="1")
    refused("colour", kind="production", tonnes="1", at="2026-11-03", colour="black")
    refused("kind", kind="smuggling")
    assert parse(kind="production", product="limestone", tonnes="1", at="2026-11-03").data["product"] == "limestone"


def test_shipment_net_must_be_gross_minus_tare() -> None:
    base = dict(kind="shipment", product="raw", stockpile="y", at="2026-11-03T10:00", ticket="T1", vehicle="蒙L 123")
    d = parse(**base, gross="49.5", tare="15.25", net="34.25")
    assert d.vehicle == "蒙L123" and d.data["net"] == "34.250"
    assert moves_from_data("shipment", d.data) == [Move("raw", "y", "shipment", -34250)]
    e = refused("net", **base, gross="49.5", tare="15.25", net="34.3")
    assert "34.250" in str(e)
    refused("tare", **base, gross="10", tare="15")
    refused("net", **base)  # no quantity at all
    assert parse(**base, gross="50", tare="15").data["net"] == "35.000"
    unweighed = parse(kind="shipment", product="raw", stockpile="y", at="2026-11-03", net="30", ticket=None)
    assert unweighed.data["ticket"] is None and unweighed.data["gross"] is None
    refused("weighed_out", **base, gross="50", tare="15", weighed_in="2026-11-03T10:00", weighed_out="2026-11-03T09:00")


def test_washing_balance_within_a_kilogram() -> None:
    raw = {"kind": "washing", "at": "2026-11-03",
           "inputs": [{"product": "raw", "stockpile": "raw_yard", "tonnes": "1000"}],
           "outputs": [{"product": "clean", "stockpile": "clean_yard", "tonnes": "700"},
                       {"product": "gangue", "stockpile": "g", "tonnes": "288"}]}
    d = parse(**raw, loss="12")
    assert [m.kg for m in moves_from_data("washing", d.data)] == [-1000000, 700000, 288000]
    parse(**raw, loss="12.001")  # within 0.001 t
    refused("loss", **raw, loss="12.002")
    refused("inputs", **dict(raw, inputs=[]), loss="0")
    refused("outputs.0.product", **dict(raw, outputs=[{"product": "x", "stockpile": "s", "tonnes": "1"}]), loss="0")


def test_other_kinds() -> None:
    tr = parse(kind="transfer", product="raw", at="2026-11-03", tonnes="5", **{"from": "a", "to": "b"})
    assert moves_from_data("transfer", tr.data) == [Move("raw", "a", "transfer_out", -5000),
                                                    Move("raw", "b", "transfer_in", 5000)]
    refused("to", kind="transfer", product="raw", at="2026-11-03", tonnes="5", **{"from": "a", "to": "a"})
    rc = parse(kind="receipt", product="raw", stockpile="s", at="2026-11-03", supplier="E2", gross="40", tare="10")
    assert rc.data["tonnes"] == "30.000"
    refused("supplier", kind="receipt", product="raw", stockpile="s", at="2026-11-03", tonnes="3")
    sale = parse(kind="sale", buyer="B", product="clean", tonnes="10", unit_price="612.5", at="2026-11-03",
                 tickets=["T1", "T2"], tax_included=False)
    assert sale.data["amount"] == "6125.00" and sale.sale_tickets == ["T1", "T2"] and sale.data["tax_included"] is False
    refused("tickets.1", kind="sale", buyer="B", product="clean", tonnes="1", at="2026-11-03", tickets=["T1", "T1"])
    st = parse(kind="stocktake", product="raw", stockpile="s", measured="100", method="Laser", at="2026-11-03")
    assert st.data["method"] == "laser"
    refused("method", kind="stocktake", product="raw", stockpile="s", measured="100", method="eyes", at="2026-11-03")
    rv = parse(kind="reversal", reverses="17", reason="typo")
    assert rv.reverses == 17 and rv.at == NOW
    refused("reason", kind="reversal", reverses=17)
    refused("reverses", kind="reversal", reason="x")


def test_fields_of_other_kinds_are_left_out_and_typos_refused() -> None:
    sale = parse(kind="sale", buyer="B", product="raw", tonnes="1", at="2026-11-03", stockpile="raw_yard")
    assert "stockpile" not in sale.data
    refused("tonne", kind="production", tonne="1", at="2026-11-03")


def test_enterprise_config_forms() -> None:
    e = EnterpriseInfo.from_data({"code": "E2", "name": "m", "kind": "coal_mine", "night_ban": "22:00-06:00",
                                  "shifts": [["A", "06:00", "18:00"], ["B", "18:00", "06:00"]],
                                  "thresholds": {"stock_tolerance": {"laser": "0.02"}}})
    assert e.night_ban[0].as_list() == ["22:00", "06:00"] and [s.name for s in e.shifts.shifts] == ["A", "B"]
    assert str(e.thresholds.dec("stock_tolerance_laser")) == "0.02"
