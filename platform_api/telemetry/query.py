"""Reading telemetry back: latest values, history (raw or downsampled), gaps, gateway status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from devices.model import iso_ms
from platform_api import db
from platform_api.telemetry.batch import decode_value
from platform_api.telemetry.store import holes

MAX_POINTS = 100_000
"""Most rows or buckets one history request returns; a wider range needs a larger `step`."""


class QueryError(ValueError):
    """A request that cannot be answered as asked; the message says what to change."""


def _iso(ms: int | None) -> str | None:
    return iso_ms(ms / 1000) if ms is not None else None


def latest(conn: Connection, enterprise: str, device: str | None = None) -> list[dict[str, Any]]:
    t = db.latest.c
    q = select(t.gateway, t.device, t.tag, t.value, t.text, t.quality, t.ts_ms, t.error).where(
        t.enterprise == enterprise
    )
    if device:
        q = q.where(t.device == device)
    out = []
    stamps: dict[int, str | None] = {}  # a gateway stamps a whole batch alike: format each time once
    for gw, dev, tag, value, text, quality, ts_ms, error in conn.execute(q.order_by(t.device, t.tag, t.gateway)):
        ts = stamps.get(ts_ms)
        if ts is None:
            ts = stamps[ts_ms] = _iso(ts_ms)
        d = {"gateway": gw, "device": dev, "tag": tag, "value": decode_value(value, text), "quality": quality, "ts": ts}
        if error is not None:
            d["error"] = error
        out.append(d)
    return out


def history(
    conn: Connection,
    enterprise: str,
    device: str,
    tag: str,
    from_ms: int,
    to_ms: int,
    step_ms: int | None = None,
    gateway: str | None = None,
    limit: int = 10_000,
) -> dict[str, Any]:
    """Raw samples, or with `step` one `{ts, min, max, avg, count}` per bucket aligned to `from`.

    A step that is a whole number of 5-minute buckets over a range on 5-minute boundaries reads
    the statistics table (about 105,000 rows per tag per year) instead of the raw samples.
    """
    if to_ms <= from_ms:
        raise QueryError("to: must be later than from")
    base = {"device": device, "tag": tag, "from": _iso(from_ms), "to": _iso(to_ms)}
    if step_ms is None:
        s = db.samples.c
        q = select(s.ts_ms, s.value, s.text, s.quality, s.error, s.gateway).where(
            s.enterprise == enterprise, s.device == device, s.tag == tag, s.ts_ms >= from_ms, s.ts_ms < to_ms
        )
        if gateway:
            q = q.where(s.gateway == gateway)
        rows = conn.execute(q.order_by(s.ts_ms).limit(min(limit, MAX_POINTS))).all()
        points = []
        for r in rows:
            p = {"ts": _iso(r.ts_ms), "value": decode_value(r.value, r.text), "quality": r.quality}
            if r.error is not None:
                p["error"] = r.error
            points.append(p)
        return {**base, "step": None, "points": points}
    if step_ms <= 0:
        raise QueryError("step: must be positive (e.g. 1m, 5m, 1h, 1d)")
    buckets = -(-(to_ms - from_ms) // step_ms)
    if buckets > MAX_POINTS:
        raise QueryError(f"step: {buckets} buckets requested (allowed: at most {MAX_POINTS}; use a larger step)")
    use_rollup = step_ms % db.ROLLUP_MS == 0 and from_ms % db.ROLLUP_MS == 0 and to_ms % db.ROLLUP_MS == 0
    if use_rollup:
        t = db.rollup.c
        b = ((t.bucket_ms - from_ms) // step_ms).label("b")
        q = select(b, func.min(t.vmin), func.max(t.vmax), func.sum(t.vsum), func.sum(t.n)).where(
            t.enterprise == enterprise, t.device == device, t.tag == tag, t.bucket_ms >= from_ms, t.bucket_ms < to_ms
        )
        if gateway:
            q = q.where(t.gateway == gateway)
    else:
        s = db.samples.c
        b = ((s.ts_ms - from_ms) // step_ms).label("b")
        q = select(b, func.min(s.value), func.max(s.value), func.sum(s.value), func.count(s.value)).where(
            s.enterprise == enterprise, s.device == device, s.tag == tag, s.ts_ms >= from_ms, s.ts_ms < to_ms,
            s.value.is_not(None), s.quality != "bad",
        )
        if gateway:
            q = q.where(s.gateway == gateway)
    rows = conn.execute(q.group_by(b).order_by(b)).all()
    points = [
        {"ts": _iso(from_ms + int(r[0]) * step_ms), "min": r[1], "max": r[2],
         "avg": (r[3] / r[4]) if r[4] else None, "count": int(r[4])}
        for r in rows
        if r[4]
    ]
    return {**base, "step": step_ms / 1000, "points": points}


def gaps(conn: Connection, enterprise: str, gateway: str | None = None) -> list[dict[str, Any]]:
    """Missing batches per gateway epoch; those a gateway announced as dropped say so."""
    c = db.cursors.c
    q = select(db.cursors).where(c.enterprise == enterprise)
    if gateway:
        q = q.where(c.gateway == gateway)
    d = db.drops.c
    dq = select(db.drops).where(d.enterprise == enterprise)
    dropped: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in conn.execute(dq):
        dropped.setdefault((r.gateway, r.epoch), []).append((r.first_seq, r.last_seq))
    out = []
    for r in conn.execute(q.order_by(c.gateway, c.epoch)):
        for a, b in holes(r.ranges):
            lost = dropped.get((r.gateway, r.epoch), [])
            state = "dropped" if any(x <= a and b <= y for x, y in lost) else "missing"
            out.append({"gateway": r.gateway, "epoch": r.epoch, "first_seq": a, "last_seq": b,
                        "count": b - a + 1, "state": state})
    return out


def gateways(conn: Connection, enterprise: str) -> list[dict[str, Any]]:
    g = db.gateways.c
    out = []
    for r in conn.execute(select(db.gateways).where(g.enterprise == enterprise).order_by(g.gateway)):
        out.append({"gateway": r.gateway, "online": r.online, "status_at": _iso(r.status_ts),
                    "last_seen": _iso(r.last_seen), "devices": r.devices or {}, "dropped": r.dropped or [],
                    "broker_user": r.mqtt_password_hash is not None})
    return out


def devices(conn: Connection, enterprise: str) -> list[dict[str, Any]]:
    d = db.devices.c
    q = select(db.devices).where(d.enterprise == enterprise).order_by(d.device, d.gateway)
    return [
        {"gateway": r.gateway, "device": r.device, "profile": r.profile, "state": r.state,
         "since": _iso(r.since), "error": r.error, "first_seen": _iso(r.first_seen)}
        for r in conn.execute(q)
    ]
