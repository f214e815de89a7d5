"""Alarm rules evaluated during ingest, on both databases."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from devices.model import iso_ms
from platform_api.alarms import store
from platform_api.telemetry.batch import Batch, parse_batch
from platform_api.telemetry.store import write_batches

T0 = 1_796_284_800_000


def gas(code: str, seq: int, value: float, ms: int) -> Batch:
    return parse_batch(
        {"gateway": "gw1", "device": "gas1", "epoch": "e", "seq": seq,
         "samples": [{"tag": "ch4", "value": value, "ts": iso_ms(ms / 1000)}]},
        code, "gw1",
    )


def add(engine: Engine, code: str, **rule: object) -> int:
    with engine.begin() as c:
        return store.add_rule(c, code, {"device": "gas1", "tag": "ch4", "name": "methane", **rule})


def alarms(engine: Engine, code: str, state: str | None = None) -> list[dict]:
    with engine.connect() as c:
        return store.list_alarms(c, [code], state=state)


def test_raise_acknowledge_clear(engine: Engine, code: str) -> None:
    add(engine, code, above=1.0, severity="critical")
    write_batches(engine, [gas(code, 1, 0.5, T0), gas(code, 2, 1.0, T0 + 1000), gas(code, 3, 1.4, T0 + 2000)])
    (a,) = alarms(engine, code)
    assert (a["state"], a["value"], a["peak"], a["severity"]) == ("active", 1.0, 1.4, "critical")
    acked = store.acknowledge(engine, code, a["id"], "enterprise:X#1", "ventilation increased")
    assert acked is not None and acked["state"] == "acknowledged" and acked["acknowledged_by"] == "enterprise:X#1"
    write_batches(engine, [gas(code, 4, 0.99, T0 + 3000)])
    (a,) = alarms(engine, code)
    assert a["state"] == "cleared" and a["cleared_at"] == iso_ms((T0 + 3000) / 1000)
    # a new excursion is a new alarm
    write_batches(engine, [gas(code, 5, 1.2, T0 + 4000)])
    assert [x["state"] for x in alarms(engine, code)] == ["active", "cleared"]


def test_batches_processed_out_of_order_by_two_workers(engine: Engine, code: str) -> None:
    """A later batch written first: the earlier one's samples are history, not alarm input."""
    add(engine, code, above=1.0)
    write_batches(engine, [gas(code, 2, 0.2, T0 + 2000)])
    write_batches(engine, [gas(code, 1, 1.5, T0 + 1000)])
    assert alarms(engine, code) == []


def test_delay_raised_by_tick_without_new_samples(engine: Engine, code: str) -> None:
    add(engine, code, above=1.0, delay=30)
    write_batches(engine, [gas(code, 1, 1.3, T0)])
    assert alarms(engine, code) == []
    store.run_ticks(engine, T0 + 10_000)
    assert alarms(engine, code) == []
    store.run_ticks(engine, T0 + 30_000)
    (a,) = alarms(engine, code)
    assert a["state"] == "active" and a["since"] == iso_ms(T0 / 1000) and a["gateway"] == "gw1"


def test_deleting_a_rule_clears_its_open_alarm(engine: Engine, code: str) -> None:
    rid = add(engine, code, above=1.0)
    write_batches(engine, [gas(code, 1, 2.0, T0)])
    with engine.begin() as c:
        store.delete_rule(c, rid)
    assert [a["state"] for a in alarms(engine, code)] == ["cleared"]
