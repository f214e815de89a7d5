from datetime import UTC, datetime
from decimal import Decimal

import pytest

from mine_ledger.errors import ValidationError
from mine_ledger.values import TZ, canon_time, canonical_json, money, parse_time, qty


def test_quantities_are_exact_decimals_with_three_places() -> None:
    assert qty("1250.5", "tonnes") == Decimal("1250.500")
    assert str(qty("1250.5", "tonnes")) == "1250.500"
    assert qty(12, "tonnes") == Decimal("12.000")
    assert qty(0.1, "tonnes") == Decimal("0.100")  # a JSON float is read through its shortest repr
    assert qty("12.0000", "tonnes") == Decimal("12.000")


@pytest.mark.parametrize("bad", ["1.0005", "abc", "", None, True, "NaN", "inf"])
def test_bad_quantities_name_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as e:
        qty(bad, "inputs.0.tonnes")
    assert e.value.field == "inputs.0.tonnes"
    assert "inputs.0.tonnes" in str(e.value)


def test_positive_and_money() -> None:
    with pytest.raises(ValidationError):
        qty("0", "tonnes", positive=True)
    with pytest.raises(ValidationError):
        qty("-1", "tonnes", non_negative=True)
    assert str(money("612.5", "unit_price")) == "612.50"
    with pytest.raises(ValidationError):
        money("1.005", "unit_price")


def test_times_default_to_shanghai_and_keep_offsets() -> None:
    assert parse_time("2026-11-03T08:00", "at") == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    assert parse_time("2026-11-03T08:00:00Z", "at") == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert parse_time("2026-11-03T08:00:00+09:00", "at") == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
    assert parse_time("2026-11-03", "at") == datetime(2026, 11, 3, tzinfo=TZ)
    with pytest.raises(ValidationError, match="at"):
        parse_time("3 Nov", "at")


def test_canonical_forms() -> None:
    assert canon_time(datetime(2026, 11, 3, 8, tzinfo=TZ)) == "2026-11-03T00:00:00.000000Z"
    assert canonical_json({"b": Decimal("1.500"), "a": "煤"}) == '{"a":"煤","b":"1.500"}'
    with pytest.raises(TypeError):
        canonical_json({"x": 1.5 + 1j})
