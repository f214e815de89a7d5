"""Database access: engines, locking, appends, range sums, and the rules' view of the ledger.

Sums never rescan history: every movement is also added to a per-day and a per-month aggregate
row in the same transaction, and a range ``[start, end)`` is answered from whole months, whole days
and at most two partial days of raw movements.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import and_, create_engine, event, func, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from mine_ledger import schema as S
from mine_ledger.chain import GENESIS, entry_document, link_hash
from mine_ledger.enterprise import EnterpriseInfo, Stop
from mine_ledger.entries import (
    SALE_ROLE,
    Draft,
    Move,
    data_for_output,
    moves_from_data,
    parse_entry,
)
from mine_ledger.errors import NotFound, ValidationError
from mine_ledger.periods import ShiftTable, parse_windows
from mine_ledger.rules.base import EntryView, FlowKey, MeterDelta, MeterPeriod, MoveView, Pair, production_interval
from mine_ledger.rules.stock import mismatch
from mine_ledger.rules.weighing import unweighed
from mine_ledger.stocktakes import STOCKTAKE_ROLE, Pins
from mine_ledger.values import (
    add_months,
    canon_time,
    day_start,
    fmt_t,
    fmt_time,
    from_kg,
    local_date,
    local_midnight,
    month_start,
    next_day,
)

ONE_US = timedelta(microseconds=1)


# -- engines -------------------------------------------------------------------------------------

def make_engine(url: str) -> Engine:
    """Engine for a URL; ``postgresql://`` uses psycopg 3, SQLite gets WAL and ``BEGIN IMMEDIATE`` writes."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_pre_ping=True)
    db = u.database
    memory = not db or db == ":memory:" or db.startswith("file::memory:")
    if not memory and db:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(u, **kwargs)
    install_sqlite_hooks(engine, wal=not memory)
    return engine


def install_sqlite_hooks(engine: Engine, *, wal: bool) -> None:
    """Let SQLAlchemy emit BEGIN itself so that ledger writes can start with ``BEGIN IMMEDIATE``:
    the write lock is taken before the chain head is read, and two writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "BEGIN")

    engine.info_ledger_immediate = True  # type: ignore[attr-defined]


# -- period decomposition ------------------------------------------------------------------------

def _next_month(dt: datetime) -> datetime:
    return local_midnight(add_months(local_date(dt).replace(day=1), 1))


def plan(start: datetime | None, end: datetime | None) -> list[tuple[str, datetime | None, datetime | None]]:
    """Split ``[start, end)`` into month aggregates (M), day aggregates (D) and raw movements (R)."""
    if start is None and end is None:
        return [("M", None, None)]
    if start is None:
        assert end is not None
        ms, ds = month_start(end), day_start(end)
        out: list[tuple[str, datetime | None, datetime | None]] = [("M", None, ms)]
        if ds > ms:
            out.append(("D", ms, ds))
        if end > ds:
            out.append(("R", ds, end))
        return out
    if end is None:
        out = []
        c = start
        if c > day_start(c):
            out.append(("R", c, next_day(c)))
            c = next_day(c)
        if c > month_start(c):
            out.append(("D", c, _next_month(c)))
            c = _next_month(c)
        out.append(("M", c, None))
        return out
    if end <= start:
        return []
    out = []
    c = start
    if c != day_start(c):
        e1 = min(next_day(c), end)
        out.append(("R", c, e1))
        c = e1
    end_day = day_start(end)
    if c < end_day:
        if c != month_start(c):
            e2 = min(_next_month(c), end_day)
            out.append(("D", c, e2))
            c = e2
        if c < end_day and c == month_start(c):
            em = month_start(end)
            if c < em:
                out.append(("M", c, em))
                c = em
        if c < end_day:
            out.append(("D", c, end_day))
            c = end_day
    if c < end:
        out.append(("R", c, end))
    return out


# -- reading helpers -----------------------------------------------------------------------------

@dataclass
class _ConfigCache:
    key: str
    shifts: ShiftTable
    night_ban: list[Any]
    products: list[str]
    thresholds: dict[str, Any]


_config_cache: dict[str, _ConfigCache] = {}


def _config(raw: str) -> _ConfigCache:
    hit = _config_cache.get(raw)
    if hit is None:
        cfg = json.loads(raw)
        hit = _ConfigCache(raw, ShiftTable.parse(cfg["shifts"]), parse_windows(cfg["night_ban"], "night_ban"),
                           list(cfg["products"]), dict(cfg["thresholds"]))
        if len(_config_cache) > 512:
            _config_cache.clear()
        _config_cache[raw] = hit
    return hit


def enterprise_info(conn: Connection, row: Row[Any], *, full: bool = True) -> EnterpriseInfo:
    cfg = _config(row.config)
    info = EnterpriseInfo(
        id=row.id, code=row.code, name=row.name, kind=row.kind, district=row.district,
        production_source=row.production_source, shifts=cfg.shifts, night_ban=list(cfg.night_ban),
        products=list(cfg.products), threshold_overrides=dict(cfg.thresholds), closed_until=row.closed_until,
        created_at=row.created_at,
    )
    if full:
        load_details(conn, info)
    return info


def load_details(conn: Connection, info: EnterpriseInfo) -> None:
    caps = conn.execute(
        select(S.capacities.c.effective_from, S.capacities.c.tpa_kg)
        .where(S.capacities.c.enterprise_id == info.id).order_by(S.capacities.c.effective_from)
    ).all()
    info.capacities = [(r.effective_from, from_kg(r.tpa_kg)) for r in caps]
    load_stops(conn, info)


def load_details_many(conn: Connection, infos: Sequence[EnterpriseInfo]) -> None:
    """Capacities and stops of many enterprises in two queries (listings)."""
    by_id = {i.id: i for i in infos}
    for i in infos:
        i.capacities, i.stops = [], []
    ids = list(by_id)
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        C, T = S.capacities, S.stops
        for r in conn.execute(select(C).where(C.c.enterprise_id.in_(chunk)).order_by(C.c.effective_from)):
            by_id[r.enterprise_id].capacities.append((r.effective_from, from_kg(r.tpa_kg)))
        for r in conn.execute(select(T).where(T.c.enterprise_id.in_(chunk)).order_by(T.c.start, T.c.id)):
            by_id[r.enterprise_id].stops.append(Stop(r.id, r.start, r.end, r.reason))


def load_stops(conn: Connection, info: EnterpriseInfo) -> None:
    stops = conn.execute(
        select(S.stops).where(S.stops.c.enterprise_id == info.id).order_by(S.stops.c.start, S.stops.c.id)
    ).all()
    info.stops = [Stop(r.id, r.start, r.end, r.reason) for r in stops]


def find_enterprise(conn: Connection, code: str, *, lock: bool = False) -> Row[Any]:
    q = select(S.enterprises).where(S.enterprises.c.code == code)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"enterprise {code!r} not found", field="code")
    return row


def flows(
    conn: Connection, ent_id: int, start: datetime | None, end: datetime | None,
    *, product: str | None = None, stockpile: str | None = None,
) -> dict[FlowKey, int]:
    """kg per (product, stockpile, role) dated in ``[start, end)`` (``None``: unbounded)."""
    out: dict[FlowKey, int] = defaultdict(int)
    A, M = S.aggregates, S.movements
    parts = []
    for src, lo, hi in plan(start, end):
        conds: list[ColumnElement[bool]]
        if src == "R":
            conds = [M.c.enterprise_id == ent_id]
            if lo is not None:
                conds.append(M.c.at >= lo)
            if hi is not None:
                conds.append(M.c.at < hi)
            if product is not None:
                conds.append(M.c.product == product)
            if stockpile is not None:
                conds.append(M.c.stockpile == stockpile)
            q = select(M.c.product, M.c.stockpile, M.c.role, func.sum(M.c.kg)).where(and_(*conds)) \
                .group_by(M.c.product, M.c.stockpile, M.c.role)
        else:
            conds = [A.c.enterprise_id == ent_id, A.c.grain == src]
            if lo is not None:
                conds.append(A.c.start >= lo)
            if hi is not None:
                conds.append(A.c.start < hi)
            if product is not None:
                conds.append(A.c.product == product)
            if stockpile is not None:
                conds.append(A.c.stockpile == stockpile)
            q = select(A.c.product, A.c.stockpile, A.c.role, func.sum(A.c.kg)).where(and_(*conds)) \
                .group_by(A.c.product, A.c.stockpile, A.c.role)
        parts.append(q)
    if not parts:
        return {}
    # one round trip for the whole range
    for p, s, role, kg in conn.execute(parts[0] if len(parts) == 1 else union_all(*parts)):
        out[(p, s, role)] += int(kg or 0)
    return dict(out)


def balance(conn: Connection, ent_id: int, at: datetime | None, **kw: Any) -> dict[Pair, int]:
    """Stock in kg per (product, stockpile) from entries dated strictly before ``at``."""
    out: dict[Pair, int] = defaultdict(int)
    for (p, s, role), kg in flows(conn, ent_id, None, at, **kw).items():
        if role != SALE_ROLE:
            out[(p, s)] += kg
    return dict(out)


def _view(row: Any) -> EntryView:
    return EntryView(row.id, row.seq, row.kind, row.at, row.source, json.loads(row.body))


def _not_reversed(e: Any) -> ColumnElement[bool]:
    r = S.entries.alias("r")
    return ~select(r.c.id).where(r.c.reverses == e.c.id).exists()


def reversed_by_map(conn: Connection, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    E = S.entries
    out: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        chunk = list(ids[i:i + 500])
        for rid, target in conn.execute(select(E.c.id, E.c.reverses).where(E.c.reverses.in_(chunk))):
            out[int(target)] = int(rid)
    return out


def entry_out(row: Any, code: str, *, reversed_by: int | None = None, flags: list[str] | None = None) -> dict[str, Any]:
    data = json.loads(row.body) if isinstance(row.body, str) else row.body
    out: dict[str, Any] = {"id": row.id, "enterprise": code, "seq": row.seq, "kind": row.kind, "at": fmt_time(row.at)}
    out.update(data_for_output(row.kind, data))
    out.update({
        "source": row.source, "author": row.author, "recorded_at": fmt_time(row.recorded_at),
        "prev_hash": row.prev_hash, "hash": row.hash, "reversed_by": reversed_by,
    })
    if flags is not None:
        out["flags"] = flags
    return out


# -- appends -------------------------------------------------------------------------------------

@dataclass
class _Pending:
    values: dict[str, Any]
    moves: list[tuple[datetime, Move]]
    tickets: list[str]
    flags: list[str]


class _PileBook:
    """Stock of (product, stockpile) pairs during a batch: database + not yet written movements.

    Appends usually arrive in time order; then the answer is the stored total, read once per batch,
    plus the batch's own movements. A back-dated entry asks the database for the exact instant.
    """

    def __init__(self, conn: Connection, ent_id: int):
        self.conn, self.ent_id = conn, ent_id
        self._totals: dict[Pair, int] | None = None
        self._last_day: dict[Pair, datetime] = {}
        self.pending: dict[Pair, list[tuple[datetime, int]]] = defaultdict(list)

    def _load(self) -> dict[Pair, int]:
        if self._totals is None:
            A = S.aggregates
            base = and_(A.c.enterprise_id == self.ent_id, A.c.role != SALE_ROLE)
            self._totals = {
                (p, s): int(kg or 0)
                for p, s, kg in self.conn.execute(
                    select(A.c.product, A.c.stockpile, func.sum(A.c.kg)).where(base, A.c.grain == "M")
                    .group_by(A.c.product, A.c.stockpile)
                )
            }
            self._last_day = {
                (p, s): d
                for p, s, d in self.conn.execute(
                    select(A.c.product, A.c.stockpile, func.max(A.c.start)).where(base, A.c.grain == "D")
                    .group_by(A.c.product, A.c.stockpile)
                )
            }
            for k, d in list(self._last_day.items()):
                if isinstance(d, str):  # SQLite returns max() of a datetime column as text
                    self._last_day[k] = S.UTCDateTime().process_result_value(d, self.conn.dialect)  # type: ignore[assignment]
        return self._totals

    def at(self, pair: Pair, t: datetime, *, inclusive: bool) -> int:
        totals = self._load()
        last = self._last_day.get(pair)
        if last is None or t >= next_day(last):
            db = totals.get(pair, 0)
        else:
            db = balance(self.conn, self.ent_id, t + ONE_US if inclusive else t,
                         product=pair[0], stockpile=pair[1]).get(pair, 0)
        pend = sum(kg for when, kg in self.pending.get(pair, []) if (when <= t if inclusive else when < t))
        return db + pend

    def add(self, pair: Pair, t: datetime, kg: int) -> None:
        self.pending[pair].append((t, kg))


def _check_open(ent: EnterpriseInfo, at: datetime, fld: str = "at") -> None:
    if ent.closed_until is not None and at < ent.closed_until:
        raise ValidationError(
            f"{fld}: {fmt_time(at)} lies in a closed period (月结 monthly close through {fmt_time(ent.closed_until)})",
            field=fld,
        )


def append_batch(
    conn: Connection, ent: EnterpriseInfo, raws: Sequence[Mapping[str, Any]], *, author: str, now: datetime,
    source: str | None = None, row_label: str = "index", row_numbers: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Validate and store entries in order inside the caller's (locked) transaction.

    Every bad entry is collected; if any, nothing is written and one ValidationError lists them.
    """
    E = S.entries
    head = conn.execute(
        select(E.c.seq, E.c.hash).where(E.c.enterprise_id == ent.id).order_by(E.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    book = _PileBook(conn, ent.id)
    pending: list[_Pending] = []
    errors: list[dict[str, Any]] = []
    batch_tickets: dict[str, int] = {}
    batch_reversed: set[int] = set()
    pins = load_pins(conn, ent.id)
    if any(isinstance(r, Mapping) and r.get("kind") == "production" for r in raws):
        load_stops(conn, ent)  # for the PRODUCTION_DURING_STOP flag
    wanted = [str(t) for r in raws if isinstance(r, Mapping) and r.get("kind") == "sale"
              and isinstance(r.get("tickets"), list) for t in r["tickets"] if t]
    sold: dict[str, int | None] = dict.fromkeys(wanted)
    if wanted:
        sold.update(sold_tickets(conn, ent.id, wanted))
    for i, raw in enumerate(raws):
        try:
            d = parse_entry(raw, ent, now=now, source=source)
            _check_open(ent, d.at)
            target = None
            if d.kind == "reversal":
                target = _prepare_reversal(conn, ent, d, batch_reversed)
            elif d.kind == "stocktake":
                pair = (d.data["product"], d.data["stockpile"])
                if pins.at_instant(pair, d.at) is not None:
                    raise ValidationError(f"at: {d.data['product']} in {d.data['stockpile']} already has a "
                                          f"stocktake at {fmt_time(d.at)}", field="at")
                bk = from_kg(book.at(pair, d.at, inclusive=False))
                d.data["book"] = fmt_t(bk)
                d.data["variance"] = fmt_t(Decimal(d.data["measured"]) - bk)
            elif d.kind == "sale":
                _check_tickets(conn, ent.id, d, sold, batch_tickets)
            # nothing below refuses the entry: state may change from here on
            seq += 1
            if target is not None:
                base = reversal_moves(target.id, target.kind, json.loads(target.body), target.at, pins)
            else:
                base = [(d.at, m) for m in moves_from_data(d.kind, d.data)]
            timed = base + pins.compensate(base)
            if d.kind == "stocktake":
                pins.add((d.data["product"], d.data["stockpile"]), ("new", seq), d.at, base[0][1].kg)
            flags = _flags(ent, d, base, book)
            for at, m in timed:
                if m.role != SALE_ROLE:
                    book.add((m.product, m.stockpile), at, m.kg)
            author_s = (author or "system")[:200]
            doc = entry_document(enterprise=ent.code, seq=seq, kind=d.kind, at=d.at, recorded_at=now,
                                 author=author_s, source=d.source, data=d.data)
            h = link_hash(prev, doc)
            values = {
                "enterprise_id": ent.id, "seq": seq, "kind": d.kind, "at": d.at, "recorded_at": now,
                "author": author_s, "source": d.source, "body": _body(d.data), "prev_hash": prev, "hash": h,
                "reverses": d.reverses, "ticket": d.ticket, "vehicle": d.vehicle,
            }
            prev = h
            pending.append(_Pending(values, timed, list(d.sale_tickets), flags))
            for t in d.sale_tickets:
                batch_tickets[t] = i
            if d.reverses is not None:
                batch_reversed.add(d.reverses)
        except ValidationError as exc:
            errors.append({row_label: row_numbers[i] if row_numbers else i, "field": exc.field,
                           "message": exc.message})
    if errors:
        if len(raws) == 1 and row_label == "index":
            raise ValidationError(errors[0]["message"], field=errors[0]["field"])
        shown = "; ".join(f"{row_label} {e[row_label]}: {e['message']}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        what = "rows" if row_label == "row" else "entries"
        raise ValidationError(f"{len(errors)} bad {what}, nothing stored: {shown}{more}", errors=errors)
    if not pending:
        return []
    ids = list(conn.execute(
        E.insert().returning(E.c.id, sort_by_parameter_order=True), [p.values for p in pending]
    ).scalars())
    move_rows: list[dict[str, Any]] = []
    agg: dict[tuple[str, datetime, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    ticket_rows: list[dict[str, Any]] = []
    for eid, p in zip(ids, pending, strict=True):
        n = -1 if p.values["kind"] == "reversal" else 1
        for at, m in p.moves:
            move_rows.append({"entry_id": eid, "enterprise_id": ent.id, "at": at, "product": m.product,
                              "stockpile": m.stockpile, "role": m.role, "kg": m.kg})
            for grain, start in (("D", day_start(at)), ("M", month_start(at))):
                cell = agg[(grain, start, m.product, m.stockpile, m.role)]
                cell[0] += m.kg
                cell[1] += n
        ticket_rows += [{"enterprise_id": ent.id, "ticket": t, "entry_id": eid} for t in p.tickets]
    if move_rows:
        conn.execute(S.movements.insert(), move_rows)
    if agg:
        upsert_aggregates(conn, ent.id, agg)
    if ticket_rows:
        conn.execute(S.sale_tickets.insert(), ticket_rows)
    out = []
    code = ent.code
    for eid, p in zip(ids, pending, strict=True):
        row = _RowLike(id=eid, **p.values)
        out.append(entry_out(row, code, flags=p.flags))
    return out


class _RowLike:
    def __init__(self, **kw: Any):
        self.__dict__.update(kw)

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - only for typing
        raise AttributeError(name)


def _body(data: Mapping[str, Any]) -> str:
    from mine_ledger.values import canonical_json

    return canonical_json(data)


def upsert_aggregates(
    conn: Connection, ent_id: int, agg: Mapping[tuple[str, datetime, str, str, str], list[int]]
) -> None:
    A = S.aggregates
    rows = [
        {"enterprise_id": ent_id, "grain": g, "start": s, "product": p, "stockpile": sp, "role": r, "kg": kg, "n": n}
        for (g, s, p, sp, r), (kg, n) in agg.items()
    ]
    ins = pg_insert(A) if conn.dialect.name == "postgresql" else sqlite_insert(A)
    stmt = ins.on_conflict_do_update(
        index_elements=[A.c.enterprise_id, A.c.grain, A.c.start, A.c.product, A.c.stockpile, A.c.role],
        set_={"kg": A.c.kg + ins.excluded.kg, "n": A.c.n + ins.excluded.n},
    )
    for i in range(0, len(rows), 1000):
        conn.execute(stmt, rows[i:i + 1000])


def load_pins(conn: Connection, ent_id: int) -> Pins:
    """The enterprise's live stocktakes with their effective variances."""
    E, M = S.entries, S.movements
    pins = Pins()
    rows = conn.execute(
        select(E.c.id, E.c.at, M.c.product, M.c.stockpile).join(M, M.c.entry_id == E.c.id).where(
            E.c.enterprise_id == ent_id, E.c.kind == "stocktake", M.c.role == STOCKTAKE_ROLE, _not_reversed(E))
    ).all()
    if not rows:
        return pins
    eff: dict[tuple[str, str, datetime], int] = defaultdict(int)
    times = sorted({r.at for r in rows})
    for i in range(0, len(times), 500):
        q = select(M.c.product, M.c.stockpile, M.c.at, func.sum(M.c.kg)).where(
            M.c.enterprise_id == ent_id, M.c.role == STOCKTAKE_ROLE, M.c.at.in_(times[i:i + 500])
        ).group_by(M.c.product, M.c.stockpile, M.c.at)
        for p, s, at, kg in conn.execute(q):
            eff[(p, s, at)] += int(kg or 0)
    for r in rows:
        pins.add((r.product, r.stockpile), r.id, r.at, eff[(r.product, r.stockpile, r.at)])
    return pins


def reversal_moves(
    target_id: int, kind: str, data: Mapping[str, Any], at: datetime, pins: Pins
) -> list[tuple[datetime, Move]]:
    """What reversing an entry moves: the negation of its movements at its own time; for a
    stocktake, its effective variance (the survey stops pinning the stock)."""
    if kind == "stocktake":
        hit = pins.get(target_id)
        kg = hit[1].effective if hit is not None else _kg_of(data.get("variance"))
        pins.remove(target_id)
        return [(at, Move(data["product"], data["stockpile"], STOCKTAKE_ROLE, -kg))]
    return [(at, Move(m.product, m.stockpile, m.role, -m.kg)) for m in moves_from_data(kind, data)]


def _kg_of(s: Any) -> int:
    return int(Decimal(str(s)) * 1000) if s is not None else 0


def _prepare_reversal(conn: Connection, ent: EnterpriseInfo, d: Draft, batch_reversed: set[int]) -> Any:
    E = S.entries
    tid = d.reverses
    assert tid is not None
    target = conn.execute(select(E).where(E.c.id == tid, E.c.enterprise_id == ent.id)).first()
    if target is None:
        raise ValidationError(f"reverses: entry {tid} does not exist in this enterprise's ledger", field="reverses")
    if target.kind == "reversal":
        raise ValidationError(f"reverses: entry {tid} is itself a reversal and cannot be reversed", field="reverses")
    by = conn.execute(select(E.c.id).where(E.c.reverses == tid)).scalar()
    if by is not None or tid in batch_reversed:
        raise ValidationError(
            f"reverses: entry {tid} is already reversed" + (f" by entry {by}" if by is not None else ""),
            field="reverses",
        )
    _check_open(ent, target.at, "reverses")
    d.data["reverses_seq"] = target.seq
    d.data["reverses_hash"] = target.hash
    return target


def sold_tickets(conn: Connection, ent_id: int, tickets: Sequence[str]) -> dict[str, int]:
    """Which of these tickets already belong to a sale that is not reversed (ticket -> sale id)."""
    T, E = S.sale_tickets, S.entries
    out: dict[str, int] = {}
    wanted = sorted(set(tickets))
    for i in range(0, len(wanted), 500):
        q = select(T.c.ticket, T.c.entry_id).where(
            T.c.enterprise_id == ent_id, T.c.ticket.in_(wanted[i:i + 500]),
            ~select(E.c.id).where(E.c.reverses == T.c.entry_id).exists(),
        )
        out.update({t: int(eid) for t, eid in conn.execute(q)})
    return out


def _check_tickets(conn: Connection, ent_id: int, d: Draft, sold: dict[str, int | None],
                   batch: Mapping[str, int]) -> None:
    for i, t in enumerate(d.sale_tickets):
        if t in batch:
            raise ValidationError(f"tickets.{i}: ticket {t!r} already belongs to another sale in this batch",
                                  field=f"tickets.{i}")
        if t not in sold:
            sold[t] = sold_tickets(conn, ent_id, [t]).get(t)
        if sold[t] is not None:
            raise ValidationError(f"tickets.{i}: ticket {t!r} already belongs to sale entry {sold[t]}",
                                  field=f"tickets.{i}")


def _flags(ent: EnterpriseInfo, d: Draft, moves: list[tuple[datetime, Move]], book: _PileBook) -> list[str]:
    """Anomaly codes this entry raises on its own (the full scan is :meth:`Ledger.anomalies`)."""
    flags: list[str] = []
    for at, m in moves:
        if m.kg < 0 and m.role not in (SALE_ROLE, STOCKTAKE_ROLE):
            if book.at((m.product, m.stockpile), at, inclusive=True) + m.kg < 0:
                flags.append("NEGATIVE_STOCK")
                break
    view = EntryView(0, 0, d.kind, d.at, d.source, d.data)
    if d.kind == "shipment" and unweighed(view):
        flags.append("SHIPMENT_UNWEIGHED")
    if d.kind == "stocktake" and mismatch(ent, view):
        flags.append("STOCK_MISMATCH")
    if d.kind == "production" and d.source != "telemetry":
        s, t = production_interval(ent, view)

        def hits(ws: datetime, we: datetime) -> bool:
            return (ws <= s < we) if s == t else (s < we and t > ws)

        if any(hits(ws, we) for w in ent.night_ban for ws, we in w.instances(s, t)):
            flags.append("NIGHT_PRODUCTION")
        if any(hits(st.start, st.end) for st in ent.stops):
            flags.append("PRODUCTION_DURING_STOP")
    return flags


# -- the rules' view -----------------------------------------------------------------------------

class DbView:
    """:class:`~mine_ledger.rules.base.LedgerView` over the database for one enterprise."""

    def __init__(self, conn: Connection, ent: EnterpriseInfo):
        self.conn, self.ent = conn, ent
        # one scan runs many rules over the same ranges: read each range once
        self._entries: dict[tuple[datetime, datetime], list[EntryView]] = {}
        self._balances: dict[datetime, dict[Pair, int]] = {}
        self._partners: dict[str, int | None] = {}

    def entries(self, start: datetime, end: datetime, kinds: Sequence[str]) -> list[EntryView]:
        cached = self._entries.get((start, end))
        if cached is None:
            E = S.entries
            q = select(E.c.id, E.c.seq, E.c.kind, E.c.at, E.c.source, E.c.body).where(
                E.c.enterprise_id == self.ent.id, E.c.at >= start, E.c.at < end, E.c.kind != "reversal",
                _not_reversed(E),
            ).order_by(E.c.at, E.c.seq)
            cached = self._entries[(start, end)] = [_view(r) for r in self.conn.execute(q)]
        return [e for e in cached if e.kind in kinds]

    def moves(self, start: datetime, end: datetime) -> list[MoveView]:
        M, E = S.movements, S.entries
        live = and_(E.c.kind != "reversal", _not_reversed(E)).label("live")
        q = select(M.c.entry_id, E.c.seq, M.c.at, M.c.product, M.c.stockpile, M.c.role, M.c.kg, live).join(
            E, E.c.id == M.c.entry_id
        ).where(
            M.c.enterprise_id == self.ent.id, M.c.at >= start, M.c.at < end, M.c.role != SALE_ROLE,
        ).order_by(M.c.at, E.c.seq, M.c.id)
        return [MoveView(r.entry_id, r.seq, r.at, r.product, r.stockpile, r.role, int(r.kg), bool(r.live))
                for r in self.conn.execute(q)]

    def flows(self, start: datetime | None, end: datetime | None) -> dict[FlowKey, int]:
        return flows(self.conn, self.ent.id, start, end)

    def balance(self, at: datetime) -> dict[Pair, int]:
        if at not in self._balances:
            self._balances[at] = balance(self.conn, self.ent.id, at)
        return dict(self._balances[at])

    def weighing_history(self, vehicles: set[str], start: datetime, end: datetime) -> dict[str, list[EntryView]]:
        E = S.entries
        out: dict[str, list[EntryView]] = defaultdict(list)
        vs = sorted(vehicles)
        for i in range(0, len(vs), 500):
            q = select(E.c.id, E.c.seq, E.c.kind, E.c.at, E.c.source, E.c.body, E.c.vehicle).where(
                E.c.enterprise_id == self.ent.id, E.c.vehicle.in_(vs[i:i + 500]), E.c.at >= start, E.c.at < end,
                E.c.kind.in_(["shipment", "receipt"]), _not_reversed(E),
            ).order_by(E.c.at, E.c.seq)
            for r in self.conn.execute(q):
                out[r.vehicle].append(_view(r))
        return dict(out)

    def partner_shipments(self, supplier: str, ticket: str) -> list[EntryView] | None:
        P, E = S.enterprises, S.entries
        if supplier in self._partners:
            partner = self._partners[supplier]
        else:  # one look-up per supplier per scan, not per receipt
            partner = self.conn.execute(select(P.c.id).where(P.c.code == supplier)).scalar()
            if partner is None:
                partner = self.conn.execute(
                    select(P.c.id).where(func.lower(P.c.name) == supplier.lower())).scalar()
            self._partners[supplier] = partner
        if partner is None:
            return None
        if not ticket:
            return []
        q = select(E.c.id, E.c.seq, E.c.kind, E.c.at, E.c.source, E.c.body).where(
            E.c.enterprise_id == partner, E.c.ticket == ticket, E.c.kind == "shipment", _not_reversed(E)
        ).order_by(E.c.at, E.c.seq)
        return [_view(r) for r in self.conn.execute(q)]

    def _meters(self, measures: str) -> dict[int, Row[Any]]:
        Mt = S.meters
        return {r.id: r for r in self.conn.execute(
            select(Mt).where(Mt.c.enterprise_id == self.ent.id, Mt.c.measures == measures))}

    def meter_periods(self, measures: str, start: datetime, end: datetime) -> list[MeterPeriod]:
        meters = self._meters(measures)
        if not meters:
            return []
        P = S.meter_periods
        q = select(P).where(P.c.meter_id.in_(list(meters)), P.c.start >= start, P.c.start < end).order_by(P.c.start)
        out = []
        for r in self.conn.execute(q):
            m = meters[r.meter_id]
            span = (r.end - r.start).total_seconds() * 1000
            out.append(MeterPeriod(meter_label(m), measures, m.product, r.start, r.end, from_kg(r.milli),
                                   min(1.0, r.covered_ms / span) if span else 0.0, r.entry_id))
        return out

    def meter_deltas(self, measures: str, start: datetime, end: datetime) -> list[MeterDelta]:
        meters = self._meters(measures)
        if not meters:
            return []
        R = S.meter_readings
        q = select(R.c.meter_id, R.c.since, R.c.ts, R.c.delta_milli).where(
            R.c.meter_id.in_(list(meters)), R.c.delta_milli > 0, R.c.ts > start, R.c.since < end
        ).order_by(R.c.ts)
        return [MeterDelta(meter_label(meters[r.meter_id]), measures, meters[r.meter_id].product, r.since, r.ts,
                           from_kg(r.delta_milli)) for r in self.conn.execute(q)]


def meter_label(m: Any) -> str:
    return f"{m.gateway}/{m.device}/{m.tag}"


# -- integrity -----------------------------------------------------------------------------------

def verify_chain(conn: Connection, ent: EnterpriseInfo) -> dict[str, Any]:
    """Recompute every link, then the movements and aggregates derived from the entries."""
    E = S.entries
    prev, n, expected = GENESIS, 0, 1
    bodies: dict[int, tuple[str, dict[str, Any], datetime]] = {}
    order: list[tuple[int, int]] = []
    q = select(E).where(E.c.enterprise_id == ent.id).order_by(E.c.seq)
    for r in conn.execution_options(yield_per=2000).execute(q):
        n += 1
        problem = None
        try:
            data = json.loads(r.body)
        except ValueError:
            data, problem = {}, "stored body is not JSON"
        if problem is None and r.seq != expected:
            problem = f"sequence jumps from {expected - 1} to {r.seq} (entries missing)"
        elif problem is None and r.prev_hash != prev:
            problem = "does not link to the previous entry's hash"
        elif problem is None:
            doc = entry_document(enterprise=ent.code, seq=r.seq, kind=r.kind, at=r.at, recorded_at=r.recorded_at,
                                 author=r.author, source=r.source, data=data)
            if link_hash(prev, doc) != r.hash:
                problem = "content does not match its hash (changed after it was recorded)"
        if problem is not None:
            return {"ok": False, "entries": _count(conn, ent.id), "first_bad": r.id,
                    "reason": f"entry {r.id} (seq {r.seq}): {problem}"}
        prev, expected = r.hash, expected + 1
        bodies[r.id] = (r.kind, data, r.at)
        order.append((r.seq, r.id))
    # movements derived from the entries
    # replay the movements each entry implies, stocktake pins included, in chain order
    expected_moves: dict[int, dict[tuple[str, str, str, datetime], int]] = {}
    pins = Pins()
    for _seq, eid in order:
        kind, data, at = bodies[eid]
        if kind == "reversal":
            tid = int(data["reverses"])
            target = bodies.get(tid)
            if target is None or tid not in expected_moves:
                return {"ok": False, "entries": n, "first_bad": eid,
                        "reason": f"entry {eid}: reverses entry {data['reverses']}, which is not earlier in the chain"}
            base = reversal_moves(tid, target[0], target[1], target[2], pins)
        else:
            base = [(at, m) for m in moves_from_data(kind, data)]
        timed = base + pins.compensate(base)
        if kind == "stocktake":
            pins.add((data["product"], data["stockpile"]), eid, at, base[0][1].kg)
        cell: dict[tuple[str, str, str, datetime], int] = defaultdict(int)
        for when, m in timed:
            cell[(m.product, m.stockpile, m.role, when)] += m.kg
        expected_moves[eid] = {k: v for k, v in cell.items() if v}
    stored: dict[int, dict[tuple[str, str, str, datetime], int]] = defaultdict(lambda: defaultdict(int))
    M = S.movements
    for r in conn.execute(select(M).where(M.c.enterprise_id == ent.id)):
        stored[r.entry_id][(r.product, r.stockpile, r.role, r.at)] += int(r.kg)
    for _seq, eid in order:
        got = {k: v for k, v in stored.pop(eid, {}).items() if v}
        if got != expected_moves[eid]:
            return {"ok": False, "entries": n, "first_bad": eid,
                    "reason": f"entry {eid}: stored stock movements differ from the entry"}
    if any(any(v for v in cells.values()) for cells in stored.values()):
        return {"ok": False, "entries": n, "first_bad": None,
                "reason": "stock movements exist that belong to no entry"}
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    for cells in expected_moves.values():
        for (p, s, role, _at), kg in cells.items():
            totals[(p, s, role)] += kg
    A = S.aggregates
    for grain in ("D", "M"):
        agg: dict[tuple[str, str, str], int] = defaultdict(int)
        for p, s, role, kg in conn.execute(
            select(A.c.product, A.c.stockpile, A.c.role, func.sum(A.c.kg))
            .where(A.c.enterprise_id == ent.id, A.c.grain == grain).group_by(A.c.product, A.c.stockpile, A.c.role)
        ):
            agg[(p, s, role)] += int(kg or 0)
        if {k: v for k, v in agg.items() if v} != {k: v for k, v in totals.items() if v}:
            return {"ok": False, "entries": n, "first_bad": None,
                    "reason": f"{'daily' if grain == 'D' else 'monthly'} totals differ from the entries"}
    return {"ok": True, "entries": n, "first_bad": None, "reason": None}


def _count(conn: Connection, ent_id: int) -> int:
    q = select(func.count()).select_from(S.entries).where(S.entries.c.enterprise_id == ent_id)
    return int(conn.execute(q).scalar() or 0)


def daily_heads(conn: Connection, ent_id: int) -> list[tuple[str, int, str]]:
    """(day, count, hash) at the end of each Asia/Shanghai day on which entries were recorded."""
    E = S.entries
    heads: dict[str, tuple[int, str]] = {}
    q = select(E.c.seq, E.c.hash, E.c.recorded_at).where(E.c.enterprise_id == ent_id).order_by(E.c.seq)
    for r in conn.execution_options(yield_per=5000).execute(q):
        heads[local_date(r.recorded_at).isoformat()] = (r.seq, r.hash)
    return [(day, c, h) for day, (c, h) in sorted(heads.items(), key=lambda x: x[1][0])]


def set_closed_until(conn: Connection, ent_id: int, until: datetime) -> None:
    conn.execute(update(S.enterprises).where(S.enterprises.c.id == ent_id).values(closed_until=until))


@contextmanager
def nothing() -> Iterator[None]:
    yield None


__all__ = ["DbView", "append_batch", "balance", "canon_time", "flows", "make_engine", "plan"]
