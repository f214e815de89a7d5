"""Ledger benchmark: N enterprises x D days of shift entries on PostgreSQL.

Per enterprise and day: 3 shift production entries, 3 weigh-ticket shipments, 1 washing and 1 sale
(8 entries; 100 x 365 days = 292,000 entries). Measures the append rate (batched per month, and one
entry per transaction), then latencies of balance-at, monthly and yearly summaries, a one-month
anomaly scan and a full chain verify, on random enterprises and instants.

Baselines in the same run: plain INSERTs of the same entries as JSON rows in one table (no
validation, hashing or stock movements), and balance-at / monthly summary computed by summing every
stock movement since the beginning (what the aggregates avoid).

    python bench/ledger_bench.py              # 100 enterprises x 365 days (a few minutes)
    python bench/ledger_bench.py --quick      # 10 x 31 days
    python bench/ledger_bench.py --database-url postgresql://postgres@127.0.0.1/ledger_bench --keep

Without ``--database-url`` a uniquely named database is created on 127.0.0.1:5432 and dropped at
the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from mine_ledger import Ledger

ADMIN_URLS = ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql+psycopg://root@127.0.0.1:5432/test")
SHIFTS = (("night", 7), ("day", 15), ("evening", 23))  # entry hour inside each default shift


@contextmanager
def scratch_database(keep: bool) -> Iterator[str]:
    admin_url = None
    for url in ADMIN_URLS:
        eng = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with eng.connect():
                admin_url = url
        except OperationalError:
            continue
        finally:
            eng.dispose()
        break
    if admin_url is None:
        sys.exit("PostgreSQL at 127.0.0.1:5432 is not reachable; pass --database-url")
    name = f"ledger_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def day_entries(rng: random.Random, d: date, n: int) -> list[dict[str, Any]]:
    """One day of a mine that washes its own coal: 8 entries."""
    out: list[dict[str, Any]] = []
    iso = d.isoformat()
    for shift, hour in SHIFTS:
        out.append({"kind": "production", "product": "raw", "stockpile": "raw_yard", "shift": shift,
                    "tonnes": f"{rng.uniform(900, 1100):.3f}", "at": f"{iso}T{hour:02d}:00"})
    out.append({"kind": "washing", "at": f"{iso}T12:00", "loss": "20.000",
                "inputs": [{"product": "raw", "stockpile": "raw_yard", "tonnes": "2000.000"}],
                "outputs": [{"product": "clean", "stockpile": "clean_yard", "tonnes": "1500.000"},
                            {"product": "gangue", "stockpile": "gangue_yard", "tonnes": "480.000"}]})
    for i, (_shift, hour) in enumerate(SHIFTS):
        tare = round(rng.uniform(14.5, 15.5), 3)
        net = round(rng.uniform(400, 480), 3)  # a convoy summarized on one ticket
        out.append({"kind": "shipment", "product": "clean", "stockpile": "clean_yard", "at": f"{iso}T{hour:02d}:30",
                    "ticket": f"T{n}-{iso}-{i}", "vehicle": f"蒙L{n:03d}{i}", "gross": f"{tare + net:.3f}",
                    "tare": f"{tare:.3f}", "net": f"{net:.3f}", "destination": "包钢"})
    out.append({"kind": "sale", "buyer": "包钢", "product": "clean", "tonnes": "1300.000", "unit_price": "1480.00",
                "at": f"{iso}T20:00", "tickets": [f"T{n}-{iso}-{i}" for i in range(3)]})
    return out


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"n": repeat, "median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
            "max_ms": round(samples[-1], 2)}


def raw_insert_rate(url: str, enterprises: int, days: int, seed: int) -> float:
    """Baseline: the same batches as JSON rows in a bare table, one transaction per batch."""
    rng = random.Random(seed)
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://")
                        else url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE bench_raw_entries (id BIGSERIAL PRIMARY KEY, enterprise TEXT, "
                          "kind TEXT, at TEXT, body TEXT)"))
    total, t0 = 0, time.perf_counter()
    start = date(2026, 1, 1)
    for n in range(enterprises):
        d = start
        while d < start + timedelta(days=days):
            month_end = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            batch: list[dict[str, Any]] = []
            while d < min(month_end, start + timedelta(days=days)):
                batch += day_entries(rng, d, n)
                d += timedelta(days=1)
            with eng.begin() as conn:
                conn.execute(text("INSERT INTO bench_raw_entries (enterprise, kind, at, body) "
                                  "VALUES (:e, :k, :a, :b)"),
                             [{"e": f"E{n}", "k": e["kind"], "a": e["at"], "b": json.dumps(e, ensure_ascii=False)}
                              for e in batch])
            total += len(batch)
    rate = total / (time.perf_counter() - t0)
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE bench_raw_entries"))
    eng.dispose()
    return rate


def run(url: str, enterprises: int, days: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    ledger = Ledger(url)
    ledger.migrate()
    codes = [f"E15030{n:04d}" for n in range(enterprises)]
    for n, code in enumerate(codes):
        ledger.create_enterprise({"code": code, "name": f"煤矿{n}", "kind": "coal_mine", "district": "海南区",
                                  "approved_capacity_tpa": "1000000",
                                  "night_ban": ["00:00", "08:00"] if n % 10 == 0 else None})
    # batched load: one month of one enterprise per transaction
    total, t0 = 0, time.perf_counter()
    for n, code in enumerate(codes):
        d = start
        while d < start + timedelta(days=days):
            month_end = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            batch: list[dict[str, Any]] = []
            while d < min(month_end, start + timedelta(days=days)):
                batch += day_entries(rng, d, n)
                d += timedelta(days=1)
            ledger.append_many(code, batch, author="bench")
            total += len(batch)
        if n % 10 == 9:
            rate = total / (time.perf_counter() - t0)
            print(f"  loaded {n + 1}/{enterprises} enterprises, {total} entries, {rate:.0f}/s", file=sys.stderr)
    load_s = time.perf_counter() - t0
    # one entry per transaction, the way the API appends
    single_n = 300 if enterprises >= 50 else 100
    t1 = time.perf_counter()
    after = start + timedelta(days=days)
    for i in range(single_n):
        code = codes[i % len(codes)]
        ledger.append(code, {"kind": "production", "product": "raw", "stockpile": "raw_yard", "shift": "day",
                             "tonnes": "1000.000", "at": f"{after.isoformat()}T{9 + i // len(codes) % 6:02d}:00"})
    single_rate = single_n / (time.perf_counter() - t1)
    months = sorted({(start + timedelta(days=i)).strftime("%Y-%m") for i in range(days)})

    def rand_instant() -> str:
        d0 = start + timedelta(days=rng.randrange(days))
        return f"{d0.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"

    results: dict[str, Any] = {
        "enterprises": enterprises, "days": days, "entries": total + single_n,
        "load": {"entries": total, "seconds": round(load_s, 1), "entries_per_s": round(total / load_s)},
        "append_single_per_s": round(single_rate),
        "balance_at": timed(lambda: ledger.balance(rng.choice(codes), rand_instant()), 200),
        "summary_month": timed(lambda: ledger.summary(rng.choice(codes), rng.choice(months)), 200),
        "summary_year": timed(lambda: ledger.summary(rng.choice(codes), "2026"), 50),
        "summary_day": timed(lambda: ledger.summary(rng.choice(codes), rand_instant()[:10]), 100),
    }

    def scan_month() -> None:
        m = rng.choice(months)
        y, mo = map(int, m.split("-"))
        nxt = f"{y + (mo == 12)}-{mo % 12 + 1:02d}-01"
        ledger.anomalies(rng.choice(codes), f"{m}-01", nxt)

    results["anomalies_month"] = timed(scan_month, 30)
    # baselines: sums over every movement since the beginning
    with ledger.engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT code, id FROM ledger_enterprises")).all())

        def rescan_balance() -> None:
            with ledger.engine.connect() as c:
                c.execute(text("SELECT product, stockpile, sum(kg) FROM ledger_movements WHERE enterprise_id = :e "
                               "AND at < :at AND role <> 'sale' GROUP BY product, stockpile"),
                          {"e": ids[rng.choice(codes)], "at": rand_instant() + "+08:00"}).all()

        def rescan_month() -> None:
            m = rng.choice(months)
            y, mo = map(int, m.split("-"))
            lo, hi = f"{m}-01T00:00+08:00", f"{y + (mo == 12)}-{mo % 12 + 1:02d}-01T00:00+08:00"
            with ledger.engine.connect() as c:
                c.execute(text("SELECT product, role, sum(kg) FILTER (WHERE at < :lo), "
                               "sum(kg) FILTER (WHERE at >= :lo) FROM ledger_movements "
                               "WHERE enterprise_id = :e AND at < :hi GROUP BY product, role"),
                          {"e": ids[rng.choice(codes)], "lo": lo, "hi": hi}).all()

    results["baseline_balance_rescan"] = timed(rescan_balance, 200)
    results["baseline_summary_month_rescan"] = timed(rescan_month, 200)
    results["verify_enterprise"] = timed(lambda: ledger.verify(rng.choice(codes)), 5)
    found = ledger.anomalies(codes[0], f"{months[0]}-01", f"{months[0]}-11")
    results["anomalies_sample"] = sorted({a["code"] for a in found})
    ledger.close()
    raw_n = max(1, enterprises // 10)
    results["baseline_raw_insert_per_s"] = round(raw_insert_rate(url, raw_n, days, seed))
    results["load"]["vs_raw_insert"] = round(results["load"]["entries_per_s"] / results["baseline_raw_insert_per_s"], 3)
    return results


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up of the scratch database
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", help="PostgreSQL URL of an empty database (default: a scratch one)")
    ap.add_argument("--enterprises", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--quick", action="store_true", help="10 enterprises x 31 days")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.quick:
        args.enterprises, args.days = 10, 31
    if args.database_url:
        out = run(args.database_url, args.enterprises, args.days, args.seed)
    else:
        with scratch_database(args.keep) as url:
            out = run(url, args.enterprises, args.days, args.seed)
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
