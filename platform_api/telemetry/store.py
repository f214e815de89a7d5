"""Writes telemetry: de-duplicated batches, latest values, history, 5-minute statistics, gaps,
gateway status, and the alarm rules run over every new sample, all in one transaction per flush.

Several workers may write at once: each flush locks the cursor rows of the gateway epochs it
touches (in a fixed order), so gap bookkeeping and alarm state never race, and the unique key on
`(enterprise, gateway, epoch, seq)` makes a redelivered batch a no-op.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from devices.model import parse_iso
from platform_api import db
from platform_api.alarms import store as alarm_store
from platform_api.sqlutil import for_update, greatest, insert_for, least
from platform_api.telemetry.batch import NAME_RE, Batch

Range = list[int]  # [first, last], inclusive


@dataclass(frozen=True, slots=True)
class Gap:
    enterprise: str
    gateway: str
    epoch: str
    first_seq: int
    last_seq: int


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    samples: int = 0
    alarm_events: int = 0
    gaps: list[Gap] = field(default_factory=list)
    """Holes that this write opened (a later batch arrived before an earlier one, or one is lost)."""
    accepted_keys: list[tuple[str, str, str, int]] = field(default_factory=list)


def now_ms() -> int:
    return round(time.time() * 1000)


def merge_ranges(ranges: Sequence[Sequence[int]], seqs: Sequence[int]) -> list[Range]:
    """Union of contiguous ranges and new numbers, as sorted, merged ranges."""
    items = sorted([[int(a), int(b)] for a, b in ranges] + [[s, s] for s in seqs])
    out: list[Range] = []
    for a, b in items:
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def holes(ranges: Sequence[Sequence[int]]) -> list[Range]:
    """Missing numbers between the ranges and before the first (an epoch starts at seq 1)."""
    out: list[Range] = []
    prev = 0
    for a, b in sorted((int(r[0]), int(r[1])) for r in ranges):
        if a > prev + 1:
            out.append([prev + 1, a - 1])
        prev = max(prev, b)
    return out


def _received(ranges: Sequence[Sequence[int]], seq: int) -> bool:
    return any(a <= seq <= b for a, b in ranges)


def write_batches(engine: Engine, batches: Sequence[Batch], received_ms: int | None = None) -> IngestResult:
    """Store the new ones of `batches` in one transaction; duplicates (same key) are skipped."""
    received_ms = now_ms() if received_ms is None else received_ms
    uniq: dict[tuple[str, str, str, int], Batch] = {}
    for b in batches:
        uniq.setdefault(b.key, b)
    res = IngestResult(duplicates=len(batches) - len(uniq))
    if not uniq:
        return res
    with engine.begin() as conn:
        cursors = _lock_cursors(conn, sorted({k[:3] for k in uniq}), received_ms)
        ins = insert_for(conn, db.batches).on_conflict_do_nothing().returning(
            db.batches.c.enterprise, db.batches.c.gateway, db.batches.c.epoch, db.batches.c.seq,
            sort_by_parameter_order=False,
        )
        # the cursor ranges remember every seq ever received, also after old keys are pruned
        todo = [b for b in uniq.values() if not _received(cursors[b.key[:3]], b.seq)]
        rows = [
            {"enterprise": b.enterprise, "gateway": b.gateway, "epoch": b.epoch, "seq": b.seq,
             "device": b.device, "samples": len(b.points), "received_ms": received_ms}
            for b in todo
        ]
        new_keys = {(r[0], r[1], r[2], int(r[3])) for r in conn.execute(ins, rows)} if rows else set()
        res.duplicates += len(uniq) - len(new_keys)
        fresh = [uniq[k] for k in sorted(new_keys)]
        res.accepted = len(fresh)
        res.accepted_keys = sorted(new_keys)
        if not fresh:
            return res
        res.gaps = _update_cursors(conn, cursors, fresh, received_ms)
        res.samples = _store_points(conn, fresh)
        _touch_devices(conn, fresh, received_ms)
        numeric = [
            (b.enterprise, b.gateway, b.device, p.tag, p.ts_ms, p.value)
            for b in fresh
            for p in b.points
            if p.value is not None and p.quality != "bad"
        ]
        res.alarm_events = alarm_store.evaluate(conn, numeric)  # type: ignore[arg-type]
    return res


def _lock_cursors(
    conn: Connection, keys: list[tuple[str, str, str]], ms: int
) -> dict[tuple[str, str, str], list[Range]]:
    conn.execute(
        insert_for(conn, db.cursors).on_conflict_do_nothing(),
        [{"enterprise": e, "gateway": g, "epoch": ep, "ranges": [], "high_seq": 0, "updated_ms": ms}
         for e, g, ep in keys],
    )
    c = db.cursors.c
    out: dict[tuple[str, str, str], list[Range]] = {}
    for e, g, ep in keys:  # sorted: locks are always taken in the same order
        row = conn.execute(
            for_update(conn, select(c.ranges).where(c.enterprise == e, c.gateway == g, c.epoch == ep))
        ).first()
        out[(e, g, ep)] = [list(r) for r in (row[0] if row else [])]
    return out


def _update_cursors(
    conn: Connection, cursors: dict[tuple[str, str, str], list[Range]], fresh: list[Batch], ms: int
) -> list[Gap]:
    seqs: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for b in fresh:
        seqs[b.key[:3]].append(b.seq)
    gaps: list[Gap] = []
    c = db.cursors.c
    for key, new in sorted(seqs.items()):
        before = {tuple(h) for h in holes(cursors[key])}
        merged = merge_ranges(cursors[key], new)
        gaps += [Gap(*key, h[0], h[1]) for h in holes(merged) if tuple(h) not in before]
        conn.execute(
            update(db.cursors)
            .where(c.enterprise == key[0], c.gateway == key[1], c.epoch == key[2])
            .values(ranges=merged, high_seq=merged[-1][1], updated_ms=ms)
        )
    return gaps


def _store_points(conn: Connection, fresh: list[Batch]) -> int:
    rows: list[dict[str, Any]] = [
        {"enterprise": b.enterprise, "gateway": b.gateway, "device": b.device, "tag": p.tag, "ts_ms": p.ts_ms,
         "value": p.value, "text": p.text, "quality": p.quality, "error": p.error}
        for b in fresh
        for p in b.points
    ]
    if not rows:
        return 0
    _insert_samples(conn, rows)

    newest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in rows:
        k: tuple[str, str, str, str] = (r["enterprise"], r["gateway"], r["device"], r["tag"])
        if k not in newest or r["ts_ms"] >= newest[k]["ts_ms"]:
            newest[k] = r
    def latest_upsert(ins: Any) -> Any:
        return ins.on_conflict_do_update(
            index_elements=["enterprise", "gateway", "device", "tag"],
            set_={k: ins.excluded[k] for k in ("ts_ms", "value", "text", "quality", "error")},
            where=ins.excluded.ts_ms >= db.latest.c.ts_ms,
        )

    bulk(conn, db.latest, latest_upsert, [newest[k] for k in sorted(newest)])

    agg: dict[tuple[str, str, str, int, str], list[float]] = {}
    for b in fresh:
        for p in b.points:
            v = p.value
            if v is None or p.quality == "bad":
                continue
            bk = (b.enterprise, b.device, p.tag, p.ts_ms - p.ts_ms % db.ROLLUP_MS, b.gateway)
            a = agg.get(bk)
            if a is None:
                agg[bk] = [v, v, v, 1.0]
            else:
                a[0] = min(a[0], v)
                a[1] = max(a[1], v)
                a[2] += v
                a[3] += 1
    if agg:
        t = db.rollup.c

        def rollup_upsert(ins: Any) -> Any:
            return ins.on_conflict_do_update(
                index_elements=["enterprise", "device", "tag", "bucket_ms", "gateway"],
                set_={
                    "vmin": least(conn, t.vmin, ins.excluded.vmin),
                    "vmax": greatest(conn, t.vmax, ins.excluded.vmax),
                    "vsum": t.vsum + ins.excluded.vsum,
                    "n": t.n + ins.excluded.n,
                },
            )

        bulk(conn, db.rollup, rollup_upsert, [
            {"enterprise": k[0], "device": k[1], "tag": k[2], "bucket_ms": k[3], "gateway": k[4],
             "vmin": a[0], "vmax": a[1], "vsum": a[2], "n": int(a[3])}
            for k, a in sorted(agg.items())
        ])
    return len(rows)


_SAMPLE_COLS = ("enterprise", "gateway", "device", "tag", "ts_ms", "value", "text", "quality", "error")


def _insert_samples(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY (an order of magnitude fewer round trips than executemany); SQLite:
    executemany, which its driver runs in C without round trips."""
    if conn.dialect.name != "postgresql":
        conn.execute(db.samples.insert(), rows)
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY platform_samples ({', '.join(_SAMPLE_COLS)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(tuple(r[c] for c in _SAMPLE_COLS))


def bulk(conn: Connection, table: Any, upsert: Any, rows: list[dict[str, Any]]) -> None:
    """An upsert of many rows: one multi-row statement per chunk on PostgreSQL (executemany would
    send one statement per row), executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(upsert(insert_for(conn, table)), rows)
        return
    # with RETURNING, SQLAlchemy sends executemany as batched multi-row VALUES ("insertmanyvalues"),
    # compiled once and cached
    pk = next(iter(table.primary_key.columns))
    conn.execute(upsert(insert_for(conn, table)).returning(pk, sort_by_parameter_order=False), rows).all()


def _touch_devices(conn: Connection, fresh: list[Batch], ms: int) -> None:
    devs = sorted({(b.enterprise, b.gateway, b.device) for b in fresh})
    conn.execute(
        insert_for(conn, db.devices).on_conflict_do_nothing(),
        [{"enterprise": e, "gateway": g, "device": d, "first_seen": ms} for e, g, d in devs],
    )
    gws = sorted({(b.enterprise, b.gateway) for b in fresh})
    ins = insert_for(conn, db.gateways)
    conn.execute(
        ins.on_conflict_do_update(index_elements=["enterprise", "gateway"], set_={"last_seen": ins.excluded.last_seen}),
        [{"enterprise": e, "gateway": g, "last_seen": ms} for e, g in gws],
    )


# -- status --------------------------------------------------------------------------------------


class StatusError(ValueError):
    pass


def apply_status(engine: Engine, enterprise: str, gateway: str, payload: Any) -> None:
    """Gateway and device state from the retained status message; an older status never
    overwrites a newer one (every worker receives the retained copy)."""
    if not (NAME_RE.match(enterprise) and NAME_RE.match(gateway)):
        raise StatusError("topic: enterprise and gateway must be 1-64 of letters, digits, _ . -")
    if not isinstance(payload, Mapping) or not isinstance(payload.get("online"), bool):
        raise StatusError("status: a JSON object with a boolean `online` is required")
    ts_ms = _ms(payload.get("ts")) or now_ms()
    devs = payload.get("devices") or {}
    dropped = payload.get("dropped") or []
    if not isinstance(devs, Mapping) or not isinstance(dropped, list):
        raise StatusError("status: `devices` must be an object and `dropped` a list")
    with engine.begin() as conn:
        g = db.gateways.c
        conn.execute(
            insert_for(conn, db.gateways).on_conflict_do_nothing(),
            [{"enterprise": enterprise, "gateway": gateway}],
        )
        row = conn.execute(
            for_update(conn, select(g.status_ts).where(g.enterprise == enterprise, g.gateway == gateway))
        ).first()
        if row is not None and row[0] is not None and row[0] > ts_ms:
            return
        conn.execute(
            update(db.gateways)
            .where(g.enterprise == enterprise, g.gateway == gateway)
            .values(online=payload["online"], status_ts=ts_ms, devices=dict(devs), dropped=dropped)
        )
        for name, st in sorted(devs.items()):
            if not isinstance(st, Mapping):
                continue
            ins = insert_for(conn, db.devices)
            vals = {"state": str(st.get("state"))[:8] if st.get("state") else None, "since": _ms(st.get("since")),
                    "error": st.get("error") if isinstance(st.get("error"), str) else None}
            conn.execute(
                ins.on_conflict_do_update(index_elements=["enterprise", "gateway", "device"], set_=vals),
                [{"enterprise": enterprise, "gateway": gateway, "device": str(name)[:64], "first_seen": ts_ms, **vals}],
            )
        drops = [
            {"enterprise": enterprise, "gateway": gateway, "epoch": str(d[0]), "first_seq": int(d[1]),
             "last_seq": int(d[2]), "announced_ms": ts_ms}
            for d in dropped
            if isinstance(d, list) and len(d) == 3 and all(isinstance(x, (int, str)) for x in d)
            and str(d[1]).isdigit() and str(d[2]).isdigit()
        ]
        if drops:
            conn.execute(insert_for(conn, db.drops).on_conflict_do_nothing(), drops)


def _ms(v: Any) -> int | None:
    if isinstance(v, str):
        try:
            return round(parse_iso(v) * 1000)
        except (ValueError, OverflowError):
            return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(v * 1000) if v < 1e11 else round(v)
    return None
