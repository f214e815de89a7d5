"""Digitalization figures: how long the measured rates and the transformation report take, each
beside a baseline measured in the same run.

  activity   a year of 5-minute statistics of one enterprise (devices x tags x slots), counted per
             month, device and tag by the two grouped queries the platform runs, vs the baseline of
             reading every statistics row and counting in Python
  cached     the same year once its months are final (read from the month cache) vs computed
  region     the regulators' figures for N enterprises, cold (every month computed) vs warm
  report     HTML and PDF report of one enterprise, first in the process (font and plotting
             library cold) vs warm (charts cached), and PDF vs HTML

Runs on SQLite in a temporary folder, and on PostgreSQL at 127.0.0.1:5432 when reachable.

    .venv/bin/python bench/digitalization_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine

from platform_api import db
from platform_api.digitalization import inputs as inp
from platform_api.digitalization import service, store
from platform_api.digitalization.metrics import Activity

ROUNDS = 3  # best of: the machine is shared, noise only adds time
NOW = round(time.mktime((2026, 6, 1, 0, 0, 0, 0, 0, 0)) * 1000)  # all of 2025 is final


def best(fn: Callable[[], Any], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def fill(engine: Engine, code: str, devices: int, tags: int, days: int) -> int:
    """Statistics rows of `days` days from 1 Jan 2025 (one row per device, tag and slot)."""
    start = inp.month_periods(2025)[0].start_ms
    slots = days * 288
    n = 0
    with engine.begin() as conn:
        for d in range(devices):
            for t in range(tags):
                rows = [{"enterprise": code, "device": f"dev{d}", "tag": f"tag{t}", "bucket_ms": start + k * 300_000,
                         "gateway": "gw1", "vmin": 1.0, "vmax": 2.0, "vsum": 3.0, "n": 2}
                        for k in range(slots) if (k + d) % 17]  # every 17th slot missing
                conn.execute(insert(db.rollup), rows)
                n += len(rows)
    return n


def naive_activity(engine: Engine, code: str, year: int) -> dict[str, dict[tuple[str, str], Activity]]:
    """Baseline: every statistics row of the year to Python, counted there."""
    months = inp.month_periods(year)
    out: dict[str, dict[tuple[str, str], Activity]] = {p.label: {} for p in months}
    r = db.rollup.c
    with engine.connect() as conn:
        q = select(r.gateway, r.device, r.tag, r.bucket_ms).where(
            r.enterprise == code, r.bucket_ms >= months[0].start_ms, r.bucket_ms < months[-1].end_ms)
        seen: dict[tuple[str, str, str], set[int]] = {}
        for g, d, tag, b in conn.execute(q):
            p = next(p for p in months if b < p.end_ms)
            a = out[p.label].setdefault((g, d), Activity())
            a.tags[tag] = a.tags.get(tag, 0) + 1
            seen.setdefault((p.label, g, d), set()).add(b)
        for (label, g, d), buckets in seen.items():
            out[label][(g, d)].slots = len(buckets)
            out[label][(g, d)].first_ms = min(buckets)
    return out


def databases(quick: bool) -> Iterator[tuple[str, Engine]]:
    with tempfile.TemporaryDirectory() as tmp:
        e = db.make_engine(f"sqlite:///{tmp}/bench.db")
        db.create_tables(e)
        store.create_tables(e)
        yield "SQLite", e
        e.dispose()
    if quick:
        return
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    name = f"mg_dig_bench_{os.getpid()}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as ex:  # the server is optional here
        print(f"PostgreSQL skipped: {ex.__class__.__name__}")
        return
    try:
        e = db.make_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
        db.create_tables(e)
        store.create_tables(e)
        yield "PostgreSQL", e
        e.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_db(label: str, e: Engine, devices: int, tags: int, days: int, region_n: int) -> None:
    code = "B" + uuid.uuid4().hex[:8]
    t = time.perf_counter()
    rows = fill(e, code, devices, tags, days)
    print(f"\n[{label}] {rows:,} statistics rows ({devices} devices x {tags} tags x {days} days), "
          f"filled in {time.perf_counter() - t:.1f} s")
    months = inp.month_periods(2025)

    def grouped() -> Any:
        with e.connect() as conn:
            return inp.activity(conn, code, months)

    assert {k: {d: a.slots for d, a in v.items()} for k, v in grouped().items()} == \
        {k: {d: a.slots for d, a in v.items()} for k, v in naive_activity(e, code, 2025).items()}
    t_naive = best(lambda: naive_activity(e, code, 2025))
    t_grouped = best(grouped)
    with e.begin() as conn:
        conn.execute(store.activity_months.delete().where(store.activity_months.c.enterprise == code))
    t_cold = best(lambda: inp.year_activity(e, code, 2025, NOW), 1)
    t_warm = best(lambda: inp.year_activity(e, code, 2025, NOW))
    print(f"{'':34}{'seconds':>10}{'ratio':>10}")
    print(f"{'activity: rows to Python (base)':34}{t_naive:10.3f}{1.0:9.2f}x")
    print(f"{'activity: grouped queries':34}{t_grouped:10.3f}{t_naive / t_grouped:9.2f}x")
    print(f"{'year: computed (base)':34}{t_cold:10.3f}{1.0:9.2f}x")
    print(f"{'year: final months cached':34}{t_warm:10.4f}{t_cold / t_warm:9.1f}x")

    # region: N enterprises with a smaller history each
    ents = []
    for k in range(region_n):
        c = f"R{k}" + uuid.uuid4().hex[:6]
        fill(e, c, 2, 2, max(days // 4, 1))
        ents.append({"code": c, "name": c, "district": "海南区" if k % 2 else "乌达区"})
    t_region_cold = best(lambda: service.region_view(e, ents, 2025, now=NOW), 1)
    t_region_warm = best(lambda: service.region_view(e, ents, 2025, now=NOW))
    print(f"{f'region of {region_n}: cold (base)':34}{t_region_cold:10.3f}{1.0:9.2f}x")
    print(f"{f'region of {region_n}: months cached':34}{t_region_warm:10.3f}{t_region_cold / t_region_warm:9.1f}x")


def bench_report() -> None:
    from platform_api.app import create_app
    from platform_api.digitalization import charts, report
    from platform_api.digitalization.report_pdf import render_pdf
    from platform_api.settings import PlatformSettings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(PlatformSettings(database_url=f"sqlite:///{tmp}/r.db", jobs_enabled=False, audit=False))
        ledger = app.state.ledger
        ledger.create_enterprise({"code": "E1", "name": "乌海市海南区某某煤矿有限公司", "kind": "coal_mine",
                                  "district": "海南区", "approved_capacity_tpa": "1200000"})
        e = app.state.engine
        fill(e, "E1", 3, 2, 20)
        store.set_register(e, "E1", [{"name": f"设备{k}", "gateway": "gw1", "device": f"dev{k}"} for k in range(5)])
        ent = ledger.get_enterprise("E1")
        t = time.perf_counter()
        data = report.build(e, ledger, ent, 2025, NOW)
        t_data = time.perf_counter() - t
        t = time.perf_counter()
        report.render_html(data)
        t_html_cold = time.perf_counter() - t
        t = time.perf_counter()
        render_pdf(data)
        t_pdf_first = time.perf_counter() - t
        t_html_warm = best(lambda: report.render_html(data))
        t_pdf_warm = best(lambda: render_pdf(data))

        def pdf_new_charts() -> None:
            charts.clear_cache()
            render_pdf(data)

        t_pdf_draw = best(pdf_new_charts)
        e.dispose()
    print("\n[report] one enterprise, a year")
    print(f"{'':34}{'seconds':>10}{'ratio':>10}")
    print(f"{'figures (build)':34}{t_data:10.3f}")
    print(f"{'HTML first in process (base)':34}{t_html_cold:10.3f}{1.0:9.2f}x")
    print(f"{'HTML warm (charts cached)':34}{t_html_warm:10.4f}{t_html_cold / t_html_warm:9.1f}x")
    print(f"{'PDF first (font glyphs cold)':34}{t_pdf_first:10.3f}{t_pdf_first / t_html_cold:9.2f}x")
    print(f"{'PDF charts drawn, glyphs warm':34}{t_pdf_draw:10.3f}{t_pdf_draw / t_html_cold:9.2f}x")
    print(f"{'PDF warm (charts cached)':34}{t_pdf_warm:10.3f}{t_pdf_warm / t_html_cold:9.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    devices, tags, days, region_n = (2, 2, 10, 4) if args.quick else (8, 4, 60, 20)
    for label, e in databases(args.quick):
        bench_db(label, e, devices, tags, days, region_n)
    bench_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
