"""Scheduled work of the platform, run as an asyncio task in the app's lifespan:

- every `job_interval`: feed new readings of mapped meter tags to the ledger (which differences
  the totalizers and, for a `metered` enterprise, writes one production entry per completed shift);
- once a day after `anomaly_hour` (Asia/Shanghai): run the ledger's anomaly rules over the
  previous day and log new findings;
- housekeeping: forget de-duplication keys older than the retention.

With several workers on PostgreSQL an advisory lock lets one of them do a run; the others skip.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Engine

from devices.model import iso_ms
from mine_ledger import Ledger, LedgerError
from platform_api import db
from platform_api.settings import PlatformSettings
from platform_api.sqlutil import insert_for

log = logging.getLogger("minegate.platform.jobs")
SHANGHAI = ZoneInfo("Asia/Shanghai")
READ_CHUNK = 20_000
_LOCK_KEY = 0x6D67706A  # "mgpj"


class Jobs:
    def __init__(self, engine: Engine, ledger: Ledger, settings: PlatformSettings) -> None:
        self.engine = engine
        self.ledger = ledger
        self.settings = settings
        self._lock = threading.Lock()
        self.runs = 0
        self.last: dict[str, Any] = {}

    async def loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("scheduled job failed; next try in %.0fs", self.settings.job_interval)
            await asyncio.sleep(self.settings.job_interval)

    def run_once(self, *, force_daily: bool = False, now: datetime | None = None) -> dict[str, Any]:
        """One run; returns what it did. Skips (`{"skipped": ...}`) when another run holds the lock."""
        if not self._lock.acquire(blocking=False):
            return {"skipped": "a run is in progress in this worker"}
        try:
            with self.engine.connect() as lock_conn:
                if db.is_postgres(self.engine):
                    got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY}).scalar()
                    lock_conn.commit()
                    if not got:
                        return {"skipped": "another worker is running the jobs"}
                try:
                    out = {
                        "meters": self.feed_meters(),
                        "anomalies": self.daily(now or datetime.now(UTC), force=force_daily),
                        "pruned": self.prune(now or datetime.now(UTC)),
                    }
                finally:
                    if db.is_postgres(self.engine):
                        lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                        lock_conn.commit()
            self.runs += 1
            self.last = out
            return out
        finally:
            self._lock.release()

    # -- meters ----------------------------------------------------------------------------------

    def _enterprises(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.ledger.list_enterprises(limit=500, offset=len(out))
            out += page
            if len(page) < 500:
                return out

    def feed_meters(self, code: str | None = None) -> dict[str, Any]:
        """Readings newer than each meter's cursor go to the ledger, oldest first."""
        report: dict[str, Any] = {}
        codes = [code] if code else [e["code"] for e in self._enterprises()]
        for c in codes:
            try:
                meters = self.ledger.get_meters(c)
            except (LedgerError, NotImplementedError) as e:
                log.warning("meters of %s unavailable: %s", c, e)
                continue
            for m in meters:
                key = (c, m["gateway"], m["device"], m["tag"])
                try:
                    report["/".join(key)] = self._feed_one(key)
                except LedgerError as e:
                    log.warning("meter %s: ledger refused readings: %s", "/".join(key), e)
                    report["/".join(key)] = {"error": str(e)}
        return report

    def _feed_one(self, key: tuple[str, str, str, str]) -> dict[str, Any]:
        c = db.meter_cursors.c
        s = db.samples.c
        total = {"readings": 0, "accepted": 0, "entries": 0}
        while True:
            with self.engine.connect() as conn:
                cursor = conn.execute(
                    select(c.last_ms).where(c.enterprise == key[0], c.gateway == key[1], c.device == key[2],
                                           c.tag == key[3])
                ).scalar()
                rows = conn.execute(
                    select(s.ts_ms, s.value, s.quality)
                    .where(s.enterprise == key[0], s.device == key[2], s.tag == key[3], s.gateway == key[1],
                           s.ts_ms > (cursor if cursor is not None else -(2**62)), s.value.is_not(None),
                           s.quality != "bad")
                    .order_by(s.ts_ms)
                    .limit(READ_CHUNK)
                ).all()
            if not rows:
                return total
            readings = [
                {"gateway": key[1], "device": key[2], "tag": key[3], "value": r.value, "ts": iso_ms(r.ts_ms / 1000),
                 "quality": r.quality}
                for r in rows
            ]
            res = self.ledger.add_meter_readings(key[0], readings)
            total["readings"] += len(readings)
            total["accepted"] += int(res.get("accepted", 0) or 0)
            total["entries"] += len(res.get("entries") or [])
            last = rows[-1].ts_ms
            with self.engine.begin() as conn:
                ins = insert_for(conn, db.meter_cursors)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=["enterprise", "gateway", "device", "tag"],
                        set_={"last_ms": ins.excluded.last_ms},
                    ),
                    [{"enterprise": key[0], "gateway": key[1], "device": key[2], "tag": key[3], "last_ms": last}],
                )
            if len(rows) < READ_CHUNK:
                return total

    # -- anomalies -------------------------------------------------------------------------------

    def run_anomalies(self, code: str, from_: datetime | None, to: datetime | None) -> dict[str, Any]:
        """The ledger's anomaly rules over `[from_, to)`; findings not seen before are logged."""
        found = self.ledger.anomalies(code, from_, to)
        now = datetime.now(UTC)
        rows = []
        for a in found:
            body = json.dumps(a, sort_keys=True, default=str)
            key = hashlib.sha256(body.encode()).hexdigest()
            rows.append({"enterprise": code, "key": key, "code": str(a.get("code")),
                         "severity": a.get("severity"), "at": str(a.get("at"))[:40], "found_at": now,
                         "body": json.loads(body)})
        new = 0
        if rows:
            with self.engine.begin() as conn:
                res = conn.execute(
                    insert_for(conn, db.anomaly_log).on_conflict_do_nothing().returning(db.anomaly_log.c.id),
                    rows,
                )
                new = len(res.all())
        if new:
            log.info("%s: %d new anomalies", code, new)
        return {"all": found, "new": new}

    def daily(self, now: datetime, *, force: bool = False) -> dict[str, Any]:
        local = now.astimezone(SHANGHAI)
        day_end = local.replace(hour=0, minute=0, second=0, microsecond=0)
        day = (day_end - timedelta(days=1)).date().isoformat()
        if not force and local.hour < self.settings.anomaly_hour:
            return {"skipped": "before the daily hour"}
        with self.engine.connect() as conn:
            last = conn.execute(select(db.job_runs.c.last_key).where(db.job_runs.c.name == "anomalies")).scalar()
        if last == day and not force:
            return {"skipped": f"{day} already done"}
        counts: dict[str, Any] = {}
        for e in self._enterprises():
            try:
                counts[e["code"]] = self.run_anomalies(e["code"], day_end - timedelta(days=1), day_end)["new"]
            except (LedgerError, NotImplementedError) as err:
                counts[e["code"]] = f"error: {err}"
        with self.engine.begin() as conn:
            ins = insert_for(conn, db.job_runs)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["name"],
                    set_={k: ins.excluded[k] for k in ("last_key", "last_at", "detail")},
                ),
                [{"name": "anomalies", "last_key": day, "last_at": now, "detail": counts}],
            )
        return {"day": day, "new": counts}

    # -- housekeeping ----------------------------------------------------------------------------

    def prune(self, now: datetime) -> int:
        cutoff = round((now - timedelta(days=self.settings.batch_key_retention_days)).timestamp() * 1000)
        with self.engine.begin() as conn:
            res = conn.execute(delete(db.batches).where(db.batches.c.received_ms < cutoff))
        return int(res.rowcount or 0)


__all__ = ["Jobs"]
