"""Balances from the day/month aggregates equal a brute-force sum over the entries, for any order."""

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mine_ledger import Ledger
from mine_ledger.values import TZ, parse_time

BASE = datetime(2026, 10, 25, tzinfo=TZ)
counter = itertools.count()


@pytest.fixture(scope="module")
def sqlite_ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    path: Path = tmp_path_factory.mktemp("prop") / "prop.db"
    led = Ledger(f"sqlite:///{path}", migrate=True)
    yield led  # type: ignore[misc]
    led.close()


moves = st.lists(
    st.tuples(
        st.sampled_from(["production", "shipment", "own_use"]),
        st.integers(min_value=0, max_value=60 * 24 * 70),  # minutes after BASE: ten weeks, three months
        st.integers(min_value=1, max_value=500_000),  # kg
        st.sampled_from(["a", "b"]),
    ),
    min_size=1,
    max_size=25,
)
instants = st.lists(st.integers(min_value=-60, max_value=60 * 24 * 72), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves, instants)
def test_balance_matches_brute_force(sqlite_ledger: Ledger, items: list[tuple[str, int, int, str]],
                                     probes: list[int]) -> None:
    code = f"P{next(counter)}"
    sqlite_ledger.create_enterprise({"code": code, "name": "p", "kind": "coal_mine"})
    entries = []
    for kind, minute, kg, pile in items:
        at = (BASE + timedelta(minutes=minute)).isoformat()
        tonnes = str(Decimal(kg) / 1000)
        if kind == "shipment":
            entries.append({"kind": kind, "product": "raw", "stockpile": pile, "net": tonnes, "at": at})
        else:
            entries.append({"kind": kind, "product": "raw", "stockpile": pile, "tonnes": tonnes, "at": at})
    sqlite_ledger.append_many(code, entries)
    for p in probes:
        when = BASE + timedelta(minutes=p)
        expected: dict[str, int] = {}
        for kind, minute, kg, pile in items:
            if BASE + timedelta(minutes=minute) < when:
                expected[pile] = expected.get(pile, 0) + (kg if kind == "production" else -kg)
        got = {r["stockpile"]: int(Decimal(r["tonnes"]) * 1000) for r in sqlite_ledger.balance(code, when)}
        assert got == expected
    month = sqlite_ledger.summary(code, "2026-11")
    closing = sum(int(Decimal(r["tonnes"]) * 1000)
                  for r in sqlite_ledger.balance(code, parse_time("2026-12-01", "at")))
    assert int(Decimal(month["closing"].get("raw", "0")) * 1000) == closing
