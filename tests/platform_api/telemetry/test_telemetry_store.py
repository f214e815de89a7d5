"""Storing and querying telemetry on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from devices.model import iso_ms
from platform_api import db
from platform_api.telemetry import query
from platform_api.telemetry.batch import Batch, parse_batch
from platform_api.telemetry.store import apply_status, holes, merge_ranges, write_batches

T0 = 1_796_284_800_000  # 2026-12-03T08:00:00Z, on a 5-minute boundary


def batch(code: str, seq: int, samples: list[tuple[str, Any, int]], epoch: str = "ep", gw: str = "gw1",
          device: str = "scale") -> Batch:
    return parse_batch(
        {"gateway": gw, "device": device, "epoch": epoch, "seq": seq,
         "samples": [{"tag": t, "value": v, "quality": "good", "ts": iso_ms(ms / 1000)} for t, v, ms in samples]},
        code, gw,
    )


def count_samples(engine: Engine, code: str) -> int:
    with engine.connect() as c:
        q = select(func.count()).select_from(db.samples).where(db.samples.c.enterprise == code)
        return int(c.execute(q).scalar())


def test_duplicate_batch_is_stored_once(engine: Engine, code: str) -> None:
    b = batch(code, 1, [("flow", 1.5, T0)])
    r1 = write_batches(engine, [b, b])
    r2 = write_batches(engine, [batch(code, 1, [("flow", 1.5, T0)])])
    assert (r1.accepted, r1.duplicates, r2.accepted, r2.duplicates) == (1, 1, 0, 1)
    assert count_samples(engine, code) == 1


def test_same_seq_in_another_epoch_is_new(engine: Engine, code: str) -> None:
    write_batches(engine, [batch(code, 1, [("flow", 1.0, T0)], epoch="a")])
    r = write_batches(engine, [batch(code, 1, [("flow", 2.0, T0 + 1)], epoch="b")])
    assert r.accepted == 1 and count_samples(engine, code) == 2


def test_gap_noticed_then_filled(engine: Engine, code: str) -> None:
    write_batches(engine, [batch(code, 1, [("f", 1, T0)]), batch(code, 2, [("f", 2, T0 + 1000)])])
    r = write_batches(engine, [batch(code, 5, [("f", 5, T0 + 4000)])])
    assert [(g.first_seq, g.last_seq) for g in r.gaps] == [(3, 4)]
    with engine.connect() as c:
        assert [(g["first_seq"], g["last_seq"], g["state"]) for g in query.gaps(c, code)] == [(3, 4, "missing")]
    write_batches(engine, [batch(code, 4, [("f", 4, T0 + 3000)]), batch(code, 3, [("f", 3, T0 + 2000)])])
    with engine.connect() as c:
        assert query.gaps(c, code) == []


def test_announced_drop_is_reported_as_dropped(engine: Engine, code: str) -> None:
    write_batches(engine, [batch(code, 1, [("f", 1, T0)]), batch(code, 10, [("f", 1, T0 + 1)])])
    down = {"scale": {"state": "down", "since": iso_ms(T0 / 1000), "error": "timeout"}}
    apply_status(engine, code, "gw1", {"online": True, "ts": iso_ms(T0 / 1000 + 5), "dropped": [["ep", 2, 9]],
                                       "devices": down})
    with engine.connect() as c:
        assert [(g["first_seq"], g["last_seq"], g["state"]) for g in query.gaps(c, code)] == [(2, 9, "dropped")]
        gws = query.gateways(c, code)
        devs = query.devices(c, code)
    assert gws[0]["online"] is True and gws[0]["devices"]["scale"]["state"] == "down"
    assert devs[0]["state"] == "down" and devs[0]["error"] == "timeout"


def test_older_status_does_not_overwrite_newer(engine: Engine, code: str) -> None:
    apply_status(engine, code, "gw1", {"online": False, "ts": iso_ms(T0 / 1000 + 10)})
    apply_status(engine, code, "gw1", {"online": True, "ts": iso_ms(T0 / 1000)})
    with engine.connect() as c:
        assert query.gateways(c, code)[0]["online"] is False


def test_latest_keeps_newest_whatever_the_arrival_order(engine: Engine, code: str) -> None:
    write_batches(engine, [batch(code, 2, [("flow", 20.0, T0 + 2000), ("state", "running", T0 + 2000)])])
    write_batches(engine, [batch(code, 1, [("flow", 10.0, T0 + 1000), ("on", True, T0 + 1000)])])
    with engine.connect() as c:
        got = {r["tag"]: (r["value"], r["ts"]) for r in query.latest(c, code)}
    assert got == {
        "flow": (20, iso_ms((T0 + 2000) / 1000)),
        "state": ("running", iso_ms((T0 + 2000) / 1000)),
        "on": (True, iso_ms((T0 + 1000) / 1000)),
    }


def test_history_raw_and_downsampled_agree_with_rollup(engine: Engine, code: str) -> None:
    rng = random.Random(7)
    pts = [(T0 + i * 7_000, round(rng.uniform(0, 100), 3)) for i in range(600)]  # 70 min of 7 s samples
    bs = [batch(code, i + 1, [("flow", v, ts)]) for i, (ts, v) in enumerate(pts)]
    rng.shuffle(bs)
    for i in range(0, len(bs), 50):
        write_batches(engine, bs[i : i + 50])
    with engine.connect() as c:
        raw = query.history(c, code, "scale", "flow", T0, T0 + 3_600_000)
        assert len(raw["points"]) == sum(1 for ts, _ in pts if ts < T0 + 3_600_000)
        assert raw["points"][0] == {"ts": iso_ms(T0 / 1000), "value": pts[0][1], "quality": "good"}
        # 15-minute buckets: served from the 5-minute statistics; 7-minute buckets: from raw rows
        roll = query.history(c, code, "scale", "flow", T0, T0 + 3_600_000, 900_000)
        odd = query.history(c, code, "scale", "flow", T0, T0 + 3_600_000, 420_000)
    for res, step in ((roll, 900_000), (odd, 420_000)):
        for p in res["points"]:
            start = T0 + (int(p["ts"][11:13]) - 8) * 3_600_000 + int(p["ts"][14:16]) * 60_000
            vals = [v for ts, v in pts if start <= ts < start + step and ts < T0 + 3_600_000]
            assert p["count"] == len(vals)
            assert p["min"] == min(vals) and p["max"] == max(vals)
            assert abs(p["avg"] - sum(vals) / len(vals)) < 1e-9
    assert len(roll["points"]) == 4 and len(odd["points"]) == 9


def test_history_over_a_year_reads_statistics(engine: Engine, code: str) -> None:
    """A year of 5-minute statistics (105,120 rows) answered per day: 365 buckets, one per day."""
    year_ms = 365 * 86_400_000
    n = year_ms // 300_000
    # generated inside the database: sending 105,120 rows from Python would dominate the test
    series = ("SELECT generate_series(0::bigint, :n - 1) AS i" if engine.dialect.name == "postgresql" else
              "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < :n - 1) SELECT i FROM s")
    with engine.begin() as c:
        c.execute(text(
            f"INSERT INTO platform_rollup_5m (enterprise, device, tag, bucket_ms, gateway, vmin, vmax, vsum, n) "
            f"SELECT :code, 'gas', 'ch4', :t0 + i * 300000, 'gw1', 0.1, 0.2 + (i % 288) / 1000.0, 4.5, 30 "
            f"FROM ({series}) AS g"
        ), {"code": code, "t0": T0, "n": n})
    with engine.connect() as c:
        res = query.history(c, code, "gas", "ch4", T0, T0 + year_ms, 86_400_000)
    assert len(res["points"]) == 365
    assert all(p["count"] == 288 * 30 and abs(p["max"] - 0.487) < 1e-9 for p in res["points"])


def test_ranges() -> None:
    assert merge_ranges([[1, 3], [7, 9]], [4, 6, 11]) == [[1, 4], [6, 9], [11, 11]]
    assert holes([[3, 4], [8, 8]]) == [[1, 2], [5, 7]]
