"""Public facade of the 产运销存 (production, transport, sales, stock) ledger.

Everything the platform API and the command line need goes through :class:`Ledger`; the modules
behind it may change freely. Inputs and outputs are plain JSON-ready dicts in the shapes of
CONTRACTS §7 (quantities as decimal strings, times as ISO 8601 with offset), so a web layer can pass
them through unchanged.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from mine_ledger import chain, meters, spreadsheet, store
from mine_ledger import schema as S
from mine_ledger.enterprise import ALWAYS, EnterpriseInfo, parse_config, parse_date, parse_stop
from mine_ledger.entries import SALE_ROLE
from mine_ledger.errors import Conflict, NotFound, ValidationError
from mine_ledger.periods import parse_period
from mine_ledger.rules import scan
from mine_ledger.values import (
    add_months,
    fmt_t,
    fmt_time,
    from_kg,
    local_date,
    parse_time,
    qty,
    to_kg,
)

DEFAULT_DATABASE_URL = "sqlite:///./data/minegate.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
KEY_SETTING = "signing_key_ed25519"

TimeArg = datetime | str | None


def default_database_url() -> str:
    """``MINEGATE_DATABASE_URL`` or the SQLite file under ``./data/``."""
    return os.environ.get("MINEGATE_DATABASE_URL") or DEFAULT_DATABASE_URL


def _opt_time(value: TimeArg, fld: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_time(value, fld)


def _page(limit: int | None, offset: int | None) -> tuple[int | None, int]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError("limit: must be a non-negative whole number", field="limit")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int) or offset < 0):
        raise ValidationError("offset: must be a non-negative whole number", field="offset")
    return limit, offset or 0


class Ledger:
    """The ledger of every enterprise stored in one database.

    Construct it from a SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``) or from an existing
    :class:`~sqlalchemy.engine.Engine` shared with other tables (all ledger tables are prefixed
    ``ledger_``). Call :meth:`migrate` once (or pass ``migrate=True``) to create or upgrade them.

    ``signing_key`` signs the daily chain heads: an Ed25519 private key object, PEM bytes, or a path
    to a PEM file (created with a new key, mode 0600, if it does not exist). Without one,
    ``MINEGATE_LEDGER_KEY`` (a path) is used, else a key is generated on first use and kept in the
    database.

    Errors: :class:`~mine_ledger.errors.ValidationError` (refused, nothing changed: 422),
    :class:`~mine_ledger.errors.NotFound` (404), :class:`~mine_ledger.errors.Conflict` (409).
    The object is safe to share between threads.
    """

    def __init__(
        self,
        database: str | Engine | None = None,
        *,
        signing_key: Any = None,
        migrate: bool = False,
    ) -> None:
        if isinstance(database, Engine):
            self.engine, self._owns_engine = database, False
        else:
            self.engine, self._owns_engine = store.make_engine(database or default_database_url()), True
        self._immediate = bool(getattr(self.engine, "info_ledger_immediate", False))
        self._key_spec = signing_key
        self._key: Ed25519PrivateKey | None = None
        if migrate:
            self.migrate()

    # -- lifecycle -------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the ledger tables to the newest schema (Alembic ``upgrade head``)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(7412093)"))  # one migrator at a time
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

    def close(self) -> None:
        """Release the database connections if this object created the engine."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _locked(self, code: str, *, full: bool = False) -> Iterator[tuple[Connection, EnterpriseInfo]]:
        """A write transaction holding the enterprise's lock: appends to one chain serialize here."""
        with self._write() as conn:
            if conn.dialect.name == "sqlite" and not self._immediate:
                # a foreign engine without BEGIN IMMEDIATE: take the write lock with the first statement
                conn.execute(update(S.enterprises).where(S.enterprises.c.code == code)
                             .values(code=S.enterprises.c.code))
            row = store.find_enterprise(conn, code, lock=True)
            yield conn, store.enterprise_info(conn, row, full=full)

    def _info(self, conn: Connection, code: str, *, full: bool = True) -> EnterpriseInfo:
        return store.enterprise_info(conn, store.find_enterprise(conn, code), full=full)

    # -- signing key -----------------------------------------------------------------------------

    def _signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            spec = self._key_spec if self._key_spec is not None else os.environ.get("MINEGATE_LEDGER_KEY")
            self._key = chain.load_private_key(spec, create=True) if spec else self._stored_key()
        return self._key

    def _stored_key(self) -> Ed25519PrivateKey:
        T = S.settings
        with self._read() as conn:
            pem = conn.execute(select(T.c.value).where(T.c.key == KEY_SETTING)).scalar()
        if pem is None:
            try:
                with self._write() as conn:
                    conn.execute(T.insert().values(key=KEY_SETTING,
                                                   value=chain.private_pem(Ed25519PrivateKey.generate())))
            except IntegrityError:
                pass  # another process made it first
            with self._read() as conn:
                pem = conn.execute(select(T.c.value).where(T.c.key == KEY_SETTING)).scalar()
        return chain.load_private_key(str(pem).encode())

    def public_key_pem(self) -> str:
        return chain.public_pem(self._signing_key())

    # -- enterprises -----------------------------------------------------------------------------

    def create_enterprise(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Register an enterprise; returns it as :meth:`get_enterprise` does. Duplicate code: Conflict."""
        cfg = parse_config(data)
        now = datetime.now(UTC)
        E = S.enterprises
        try:
            with self._write() as conn:
                if conn.execute(select(E.c.id).where(E.c.code == cfg["code"])).first() is not None:
                    raise Conflict(f"code: enterprise {cfg['code']!r} already exists", field="code")
                eid = conn.execute(E.insert().values(
                    code=cfg["code"], name=cfg["name"], kind=cfg["kind"], district=cfg.get("district"),
                    production_source=cfg["production_source"], config=self._config_json(cfg), created_at=now,
                ).returning(E.c.id)).scalar_one()
                for since, tpa in cfg["capacities"]:
                    conn.execute(S.capacities.insert().values(enterprise_id=eid, effective_from=since,
                                                              tpa_kg=to_kg(tpa), created_at=now))
        except IntegrityError:
            raise Conflict(f"code: enterprise {cfg['code']!r} already exists", field="code") from None
        return self.get_enterprise(cfg["code"])

    @staticmethod
    def _config_json(cfg: Mapping[str, Any]) -> str:
        return json.dumps({k: cfg[k] for k in ("shifts", "night_ban", "products", "thresholds")},
                          sort_keys=True, ensure_ascii=False)

    def get_enterprise(self, code: str) -> dict[str, Any]:
        with self._read() as conn:
            return self._info(conn, code).as_dict()

    def list_enterprises(
        self, *, district: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        lim, off = _page(limit, offset)
        E = S.enterprises
        q = select(E).order_by(E.c.code)
        if district:
            q = q.where(E.c.district == district)
        if kind:
            q = q.where(E.c.kind == kind)
        q = q.offset(off)
        if lim is not None:
            q = q.limit(lim)
        with self._read() as conn:
            infos = [store.enterprise_info(conn, r, full=False) for r in conn.execute(q).all()]
            store.load_details_many(conn, infos)
        return [i.as_dict() for i in infos]

    def enterprise_codes(self) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(select(S.enterprises.c.code).order_by(S.enterprises.c.code)).scalars())

    def update_enterprise(self, code: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change name, district, night_ban, shifts, production_source, products or thresholds."""
        cfg = parse_config(changes, partial=True)
        with self._locked(code) as (conn, ent):
            row = store.find_enterprise(conn, code)
            stored = json.loads(row.config)
            for k in ("shifts", "night_ban", "products", "thresholds"):
                if k in cfg:
                    stored[k] = cfg[k]
            values: dict[str, Any] = {"config": self._config_json(stored)}
            for k in ("name", "district", "production_source"):
                if k in cfg:
                    values[k] = cfg[k]
            conn.execute(update(S.enterprises).where(S.enterprises.c.id == ent.id).values(**values))
        return self.get_enterprise(code)

    def set_capacity(self, code: str, tpa: Any, effective_from: Any) -> dict[str, Any]:
        """Record a new approved annual capacity (t/a) effective from a date; history is kept."""
        amount = qty(tpa, "approved_capacity_tpa", non_negative=True)
        since = parse_date(effective_from, "effective_from") if effective_from else ALWAYS
        C = S.capacities
        with self._locked(code) as (conn, ent):
            existing = conn.execute(
                select(C.c.id).where(C.c.enterprise_id == ent.id, C.c.effective_from == since)
            ).scalar()
            if existing is None:
                conn.execute(C.insert().values(enterprise_id=ent.id, effective_from=since, tpa_kg=to_kg(amount),
                                               created_at=datetime.now(UTC)))
            else:
                conn.execute(update(C).where(C.c.id == existing).values(tpa_kg=to_kg(amount)))
        return self.get_enterprise(code)

    def add_stop(self, code: str, data: Mapping[str, Any], *, author: str = "system") -> dict[str, Any]:
        """Declare a stop ``{"from", "to", "reason"}``; production inside it is an anomaly."""
        start, end, reason = parse_stop(data)
        with self._locked(code) as (conn, ent):
            sid = conn.execute(S.stops.insert().values(
                enterprise_id=ent.id, start=start, end=end, reason=reason, author=author[:200],
                created_at=datetime.now(UTC),
            ).returning(S.stops.c.id)).scalar_one()
        return {"id": sid, "enterprise": code, "from": fmt_time(start), "to": fmt_time(end), "reason": reason}

    def list_stops(self, code: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            ent = self._info(conn, code)
        return [dict(s.as_dict(), enterprise=code) for s in ent.stops]

    def close_month(self, code: str, month: str | None = None, *, author: str = "system") -> dict[str, Any]:
        """月结 (monthly close): nothing dated before the end of ``month`` (``2026-11``) is accepted after.

        Without ``month`` the previous calendar month is closed. Closing a month that is already
        closed (it or a later one) is a Conflict.
        """
        if month is None:
            today = local_date(datetime.now(UTC))
            prev = add_months(today.replace(day=1), -1)
            month = f"{prev.year:04d}-{prev.month:02d}"
        p = parse_period(str(month))
        if p.grain != "month":
            raise ValidationError(f"month: expected YYYY-MM, got {month!r}", field="month")
        now = datetime.now(UTC)
        with self._locked(code) as (conn, ent):
            if ent.closed_until is not None and p.end <= ent.closed_until:
                raise Conflict(f"month: {p.label} is already closed (closed through {fmt_time(ent.closed_until)})",
                               field="month")
            E = S.entries
            head = conn.execute(select(E.c.seq, E.c.hash).where(E.c.enterprise_id == ent.id)
                                .order_by(E.c.seq.desc()).limit(1)).first()
            closing = self._balance_rows(store.balance(conn, ent.id, p.end))
            conn.execute(S.closes.insert().values(
                enterprise_id=ent.id, month=p.label, start=p.start, end=p.end, closed_at=now, author=author[:200],
                head_seq=head.seq if head else 0, head_hash=head.hash if head else chain.GENESIS,
                closing=json.dumps(closing, ensure_ascii=False),
            ))
            store.set_closed_until(conn, ent.id, p.end)
        return {"enterprise": code, "month": p.label, "from": fmt_time(p.start), "to": fmt_time(p.end),
                "closed_at": fmt_time(now), "author": author, "entries": head.seq if head else 0,
                "head": head.hash if head else chain.GENESIS, "closing": closing}

    def list_closes(self, code: str) -> list[dict[str, Any]]:
        C = S.closes
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            rows = conn.execute(select(C).where(C.c.enterprise_id == ent.id).order_by(C.c.start)).all()
        return [{"enterprise": code, "month": r.month, "from": fmt_time(r.start), "to": fmt_time(r.end),
                 "closed_at": fmt_time(r.closed_at), "author": r.author, "entries": r.head_seq, "head": r.head_hash,
                 "closing": json.loads(r.closing)} for r in rows]

    # -- entries ---------------------------------------------------------------------------------

    def append(self, code: str, entry: Mapping[str, Any], *, author: str = "system") -> dict[str, Any]:
        """Validate and append one entry (CONTRACTS §7 shape); returns it with ``id``, ``hash``, ``flags``.

        ``flags`` lists the anomaly codes the entry raises by itself (e.g. ``NEGATIVE_STOCK``);
        :meth:`anomalies` gives the full picture.
        """
        return self.append_many(code, [entry], author=author)[0]

    def append_many(
        self, code: str, entries: Sequence[Mapping[str, Any]], *, author: str = "system"
    ) -> list[dict[str, Any]]:
        """Append several entries atomically: all or none (errors carry the index of each bad entry)."""
        if isinstance(entries, Mapping) or not isinstance(entries, Sequence):
            raise ValidationError("entries: expected a list of entries", field="entries")
        with self._locked(code) as (conn, ent):
            return store.append_batch(conn, ent, entries, author=author, now=datetime.now(UTC))

    def get_entry(self, code: str, entry_id: int) -> dict[str, Any]:
        E = S.entries
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            row = conn.execute(select(E).where(E.c.id == entry_id, E.c.enterprise_id == ent.id)).first()
            if row is None:
                raise NotFound(f"entry {entry_id} not found in {code}", field="id")
            rev = store.reversed_by_map(conn, [row.id])
        return store.entry_out(row, code, reversed_by=rev.get(row.id))

    def list_entries(
        self,
        code: str,
        *,
        from_: TimeArg = None,
        to: TimeArg = None,
        kind: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Entries with ``from_ <= at < to``, oldest first (``limit=None``: all)."""
        lim, off = _page(limit, offset)
        start, end = _opt_time(from_, "from"), _opt_time(to, "to")
        E = S.entries
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            q = select(E).where(E.c.enterprise_id == ent.id)
            if start is not None:
                q = q.where(E.c.at >= start)
            if end is not None:
                q = q.where(E.c.at < end)
            if kind:
                kinds = [k.strip() for k in kind.split(",") if k.strip()]
                q = q.where(E.c.kind.in_(kinds))
            q = q.order_by(E.c.at, E.c.seq).offset(off)
            if lim is not None:
                q = q.limit(lim)
            rows = conn.execute(q).all()
            rev = store.reversed_by_map(conn, [r.id for r in rows])
        return [store.entry_out(r, code, reversed_by=rev.get(r.id)) for r in rows]

    @staticmethod
    def _balance_rows(bal: Mapping[tuple[str, str], int]) -> list[dict[str, Any]]:
        return [{"product": p, "stockpile": s, "tonnes": fmt_t(kg)} for (p, s), kg in sorted(bal.items())]

    def balance(self, code: str, at: TimeArg = None) -> list[dict[str, Any]]:
        """``[{"product", "stockpile", "tonnes"}]`` counting entries dated strictly before ``at``."""
        when = _opt_time(at, "at")
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            return self._balance_rows(store.balance(conn, ent.id, when))

    def summary(self, code: str, period: str) -> dict[str, Any]:
        """Period summary (CONTRACTS §7) for ``2026``, ``2026-11``, ``2026-11-2旬``, ``2026-11-03``, ``2026-11-03/day``.

        Flows are per product and positive (shipments, own use and washing inputs included);
        ``stocktake_variance`` is signed; closing = opening + production + receipts + washing_out
        - washing_in - shipments - own_use + stocktake_variance.
        """
        with self._read() as conn:
            ent = self._info(conn, code)
            p = parse_period(period, ent.shifts)
            opening = store.balance(conn, ent.id, p.start)
            fl = store.flows(conn, ent.id, p.start, p.end)
        return self._summary(ent, p.label, p.start, p.end, opening, fl)

    @staticmethod
    def _summary(
        ent: EnterpriseInfo, label: str, start: datetime, end: datetime,
        opening: Mapping[tuple[str, str], int], fl: Mapping[tuple[str, str, str], int],
    ) -> dict[str, Any]:
        products = sorted({p for p, _ in opening} | {p for p, _, _ in fl})
        by: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (product, _pile, role), kg in fl.items():
            by[role][product] += kg
        open_p: dict[str, int] = defaultdict(int)
        for (product, _pile), kg in opening.items():
            open_p[product] += kg
        close_p = dict(open_p)
        for (product, _pile, role), kg in fl.items():
            if role != SALE_ROLE:
                close_p[product] = close_p.get(product, 0) + kg

        def per(role: str, sign: int = 1) -> dict[str, str]:
            return {p: fmt_t(sign * by[role].get(p, 0)) for p in products}

        raw = from_kg(by["production"].get("raw", 0))
        cap = ent.capacity_over(start, end)
        return {
            "period": label,
            "from": fmt_time(start),
            "to": fmt_time(end),
            "production": str(raw),
            "production_by_product": per("production"),
            "washing_in": per("washing_in", -1),
            "washing_out": per("washing_out"),
            "receipts": per("receipt"),
            "shipments": per("shipment", -1),
            "sales": per(SALE_ROLE),
            "own_use": per("own_use", -1),
            "transfers_in": per("transfer_in"),
            "transfers_out": per("transfer_out", -1),
            "stocktake_variance": per("stocktake"),
            "opening": {p: fmt_t(open_p.get(p, 0)) for p in products},
            "closing": {p: fmt_t(close_p.get(p, 0)) for p in products},
            "capacity_tpa": fmt_t(cap) if cap else None,
            "capacity_use": float(round(raw / cap, 6)) if cap else None,
        }

    # -- integrity -------------------------------------------------------------------------------

    def verify(self, code: str, *, against: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Recompute the hash chain: ``{"ok", "entries", "first_bad", "reason"}``.

        ``against`` is a document from :meth:`export_heads`: its signatures must be valid for this
        ledger's key, and every head of this enterprise must still match the chain, which catches a
        rewrite made inside the database even when all hashes were recomputed.
        """
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            result = store.verify_chain(conn, ent)
            if not result["ok"] or against is None:
                return result
            return self._verify_heads(conn, ent, against, result)

    def _verify_heads(
        self, conn: Connection, ent: EnterpriseInfo, doc: Mapping[str, Any], result: dict[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("heads"), list):
            raise ValidationError("against: not a chain heads document (no heads list)", field="against")
        mine = self.public_key_pem()
        if doc.get("public_key") and str(doc["public_key"]).strip() != mine.strip():
            return dict(result, ok=False, reason="the heads were signed with another key than this ledger's")
        pub = chain.load_public_key(mine)
        heads = sorted((h for h in doc["heads"] if isinstance(h, Mapping) and h.get("enterprise") == ent.code),
                       key=lambda h: int(h.get("count", 0)))
        E = S.entries
        good = 0
        for h in heads:
            if not chain.head_signature_ok(pub, h):
                return dict(result, ok=False, reason=f"head of {h.get('day')}: signature does not verify")
            count = int(h["count"])
            row = conn.execute(select(E.c.id, E.c.hash).where(E.c.enterprise_id == ent.id, E.c.seq == count)).first()
            if row is None or row.hash != h["hash"]:
                first = conn.execute(select(E.c.id).where(E.c.enterprise_id == ent.id, E.c.seq == good + 1)).scalar()
                what = "is missing" if row is None else "has a different hash"
                return dict(result, ok=False, first_bad=first,
                            reason=f"entry seq {count} {what} than in the signed head of {h.get('day')}: "
                                   f"the ledger was rewritten after seq {good}")
            good = count
        return dict(result, heads_checked=len(heads))

    def export_heads(self, code: str | None = None) -> dict[str, Any]:
        """Signed daily chain heads of one or every enterprise, to be kept outside the database."""
        key = self._signing_key()
        heads = []
        with self._read() as conn:
            codes = [code] if code else list(
                conn.execute(select(S.enterprises.c.code).order_by(S.enterprises.c.code)).scalars()
            )
            for c in codes:
                ent = self._info(conn, c, full=False)
                for day, count, h in store.daily_heads(conn, ent.id):
                    head: dict[str, Any] = {"enterprise": c, "day": day, "count": count, "hash": h}
                    head["signature"] = chain.sign_head(key, head)
                    heads.append(head)
        return {"algorithm": "Ed25519", "public_key": chain.public_pem(key),
                "exported_at": fmt_time(datetime.now(UTC)), "heads": heads}

    # -- anomalies -------------------------------------------------------------------------------

    def anomalies(self, code: str, from_: TimeArg = None, to: TimeArg = None) -> list[dict[str, Any]]:
        """``[{"code", "severity", "at", "entries", "detail", "figures"}]`` with ``from_ <= at < to``.

        Without bounds the scan covers everything recorded (first entry or reading to now or the
        last entry, whichever is later).
        """
        start, end = _opt_time(from_, "from"), _opt_time(to, "to")
        with self._read() as conn:
            ent = self._info(conn, code)
            if start is None or end is None:
                lo, hi = self._extent(conn, ent)
                start = start or lo
                end = end or hi
            if end <= start:
                return []
            found = scan(ent, store.DbView(conn, ent), start, end)
        return [a.as_dict() for a in found]

    def _extent(self, conn: Connection, ent: EnterpriseInfo) -> tuple[datetime, datetime]:
        E, R, M = S.entries, S.meter_readings, S.meters
        lo_e, hi_e = conn.execute(select(func.min(E.c.at), func.max(E.c.at)).where(E.c.enterprise_id == ent.id)).one()
        lo_r = conn.execute(select(func.min(R.c.ts)).join(M, M.c.id == R.c.meter_id)
                            .where(M.c.enterprise_id == ent.id)).scalar()
        now = datetime.now(UTC)
        los = [x for x in (lo_e, lo_r) if x is not None]
        lo = min(self._dt(x) for x in los) if los else now
        hi = max(now, self._dt(hi_e)) if hi_e is not None else now
        return lo, hi + timedelta(microseconds=1)

    @staticmethod
    def _dt(v: Any) -> datetime:
        return S.UTCDateTime().process_result_value(v, None)  # type: ignore[arg-type,return-value]

    # -- meters ----------------------------------------------------------------------------------

    def set_meters(self, code: str, mapping: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace which telemetry tag measures what (CONTRACTS §7 ``PUT .../meters``).

        A tag already mapped keeps its reading history and differencing state.
        """
        Mt = S.meters
        with self._locked(code) as (conn, ent):
            items = meters.parse_mapping(mapping, ent.products)
            existing = {(r.gateway, r.device, r.tag): r
                        for r in conn.execute(select(Mt).where(Mt.c.enterprise_id == ent.id))}
            keep: set[int] = set()
            for it in items:
                row = existing.get((it["gateway"], it["device"], it["tag"]))
                if row is None:
                    conn.execute(Mt.insert().values(enterprise_id=ent.id, active=True,
                                                    created_at=datetime.now(UTC), **it))
                else:
                    conn.execute(update(Mt).where(Mt.c.id == row.id).values(active=True, **it))
                    keep.add(row.id)
            stale = [r.id for r in existing.values() if r.id not in keep
                     and (r.gateway, r.device, r.tag) not in {(i["gateway"], i["device"], i["tag"]) for i in items}]
            if stale:
                conn.execute(update(Mt).where(Mt.c.id.in_(stale)).values(active=False))
        return self.get_meters(code)

    def get_meters(self, code: str) -> list[dict[str, Any]]:
        Mt = S.meters
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            rows = conn.execute(
                select(Mt).where(Mt.c.enterprise_id == ent.id, Mt.c.active.is_(True)).order_by(Mt.c.id)
            ).all()
        return [{"gateway": r.gateway or None, "device": r.device, "tag": r.tag, "measures": r.measures,
                 "product": r.product, "stockpile": r.stockpile, "max_rate": r.max_rate, "rollover": r.rollover,
                 "max_gap": r.max_gap_s, "last_ts": fmt_time(r.last_ts),
                 "last_value": str(from_kg(r.last_milli)) if r.last_milli is not None else None} for r in rows]

    def add_meter_readings(self, code: str, readings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Feed totalizer readings ``{"gateway", "device", "tag", "value", "ts", "quality"?}``.

        Returns ``{"accepted", "ignored", "rejected": [...], "events": [...], "gaps": [...],
        "entries": [...], "invalid": [...]}``: rejected are spikes; events are rollovers, resets and
        steps; ignored are bad, late, duplicate, unmapped or malformed readings (the first malformed
        ones are listed in ``invalid``); ``entries`` are the per-shift production entries written
        (``source: telemetry``) when the enterprise's production source is metered.
        """
        report: dict[str, Any] = {"accepted": 0, "ignored": 0, "rejected": [], "events": [], "gaps": [],
                                  "entries": [], "invalid": []}
        parsed = []
        for i, reading in enumerate(readings):
            try:
                parsed.append(meters.parse_reading(reading, i))
            except ValidationError as exc:  # telemetry: one malformed sample must not block the rest
                report["ignored"] += 1
                if len(report["invalid"]) < 20:
                    report["invalid"].append({"index": i, "message": exc.message})
        Mt = S.meters
        with self._locked(code) as (conn, ent):
            rows = conn.execute(select(Mt).where(Mt.c.enterprise_id == ent.id, Mt.c.active.is_(True))).all()
            by_key = {(r.gateway, r.device, r.tag): r for r in rows}
            by_dt: dict[tuple[str, str], list[Any]] = defaultdict(list)
            for r in rows:
                by_dt[(r.device, r.tag)].append(r)
            grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
            for gw, dev, tag, ts, value, quality in parsed:
                m = by_key.get((gw or "", dev, tag))
                if m is None and (gw is None or (gw, dev, tag) not in by_key):
                    cands = by_dt.get((dev, tag), [])
                    m = cands[0] if len(cands) == 1 and (gw is None or cands[0].gateway in ("", gw)) else None
                if m is None:
                    report["ignored"] += 1
                    continue
                grouped[m.id].append((ts, value, quality))
            meter_rows = {r.id: r for r in rows}
            for mid, series in grouped.items():
                m = meter_rows[mid]
                self._ingest(conn, ent, m, sorted(series, key=lambda x: x[0]), report)
        return report

    def _ingest(self, conn: Connection, ent: EnterpriseInfo, m: Any, series: list[tuple[Any, ...]],
                report: dict[str, Any]) -> None:
        Mt, R, P = S.meters, S.meter_readings, S.meter_periods
        label = store.meter_label(m)
        spec = meters.MeterSpec(m.id, label, m.measures, m.product, m.stockpile, Decimal(m.max_rate),
                                Decimal(m.rollover) if m.rollover else None, m.max_gap_s)
        state = meters.MeterState(m.last_ts, from_kg(m.last_milli) if m.last_milli is not None else None,
                                  m.pending_ts, from_kg(m.pending_milli) if m.pending_milli is not None else None)
        steps = meters.difference(spec, state, series)
        reading_rows = []
        cells: dict[datetime, list[Any]] = {}
        for st in steps:
            delta_milli = to_kg(st.delta) if st.delta is not None else None
            reading_rows.append({"meter_id": m.id, "ts": st.ts, "since": st.since,
                                 "value_milli": to_kg(st.value) if st.value is not None else None,
                                 "quality": st.quality[:16], "status": st.status, "delta_milli": delta_milli})
            if st.accepted:
                report["accepted"] += 1
                assert st.since is not None and delta_milli is not None
                for name, s, e, milli, ms in meters.spread(delta_milli, st.since, st.ts,
                                                           meters.timeline(ent.shifts, st.since, st.ts)):
                    cell = cells.setdefault(s, [name, e, 0, 0])
                    cell[2] += milli
                    cell[3] += ms
                if st.status != "ok":
                    report["events"].append(meters.step_report(label, st))
                if st.gap_s is not None:
                    report["gaps"].append({"meter": label, "from": fmt_time(st.since), "to": fmt_time(st.ts),
                                           "seconds": int(st.gap_s), "delta": str(st.delta)})
            elif st.status == "spike":
                report["rejected"].append(meters.step_report(label, st))
            elif st.status == "first":
                report["accepted"] += 1
            else:
                report["ignored"] += 1
        if reading_rows:
            conn.execute(R.insert(), reading_rows)
        if cells:
            ins = pg_insert(P) if conn.dialect.name == "postgresql" else sqlite_insert(P)
            stmt = ins.on_conflict_do_update(
                index_elements=[P.c.meter_id, P.c.start],
                set_={"milli": P.c.milli + ins.excluded.milli, "covered_ms": P.c.covered_ms + ins.excluded.covered_ms},
            )
            conn.execute(stmt, [{"meter_id": m.id, "start": s, "end": c[1], "shift": c[0], "milli": c[2],
                                 "covered_ms": c[3], "entry_id": None} for s, c in cells.items()])
        conn.execute(update(Mt).where(Mt.c.id == m.id).values(
            last_ts=state.last_ts, last_milli=to_kg(state.last) if state.last is not None else None,
            pending_ts=state.pending_ts, pending_milli=to_kg(state.pending) if state.pending is not None else None,
        ))
        if state.last_ts is None:
            return
        done = conn.execute(select(P).where(P.c.meter_id == m.id, P.c.entry_id.is_(None), P.c.end <= state.last_ts)
                            .order_by(P.c.start)).all()
        if not done:
            return
        write = ent.production_source == "metered" and m.measures == "production"
        todo = [r for r in done if write and r.milli > 0
                and not (ent.closed_until is not None and r.start < ent.closed_until)]
        ids: dict[datetime, int] = {}
        if todo:
            new = store.append_batch(conn, ent, [{
                "kind": "production", "product": m.product or "raw", "stockpile": m.stockpile,
                "tonnes": str(from_kg(r.milli)), "at": r.start, "from": r.start, "to": r.end,
                "shift": r.shift if ent.shifts.get(r.shift) else None,
            } for r in todo], author=f"meter:{label}"[:200], now=datetime.now(UTC), source="telemetry")
            for r, made in zip(todo, new, strict=True):
                ids[r.start] = int(made["id"])
            report["entries"].extend(new)
        for r in done:
            conn.execute(update(P).where(P.c.meter_id == m.id, P.c.start == r.start)
                         .values(entry_id=ids.get(r.start, 0)))

    def meter_production(
        self, code: str, *, from_: TimeArg = None, to: TimeArg = None
    ) -> list[dict[str, Any]]:
        """Per-shift metered totals.

        ``[{"meter", "measures", "product", "shift", "from", "to", "amount", "covered", "entry"}]``.
        """
        start = _opt_time(from_, "from") or datetime(1900, 1, 1, tzinfo=UTC)
        end = _opt_time(to, "to") or datetime(9999, 1, 1, tzinfo=UTC)
        P, Mt = S.meter_periods, S.meters
        with self._read() as conn:
            ent = self._info(conn, code, full=False)
            q = select(P, Mt.c.gateway, Mt.c.device, Mt.c.tag, Mt.c.measures, Mt.c.product).join(
                Mt, Mt.c.id == P.c.meter_id).where(Mt.c.enterprise_id == ent.id, P.c.start >= start, P.c.start < end) \
                .order_by(P.c.start, Mt.c.id)
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            span = (r.end - r.start).total_seconds() * 1000
            out.append({"meter": store.meter_label(r), "measures": r.measures, "product": r.product, "shift": r.shift,
                        "from": fmt_time(r.start), "to": fmt_time(r.end), "amount": fmt_t(int(r.milli)),
                        "covered": round(min(1.0, r.covered_ms / span), 4) if span else 0.0,
                        "entry": r.entry_id or None})
        return out

    # -- import / export -------------------------------------------------------------------------

    def import_entries(
        self,
        code: str,
        source: str | Path | bytes | BinaryIO,
        *,
        format: str | None = None,
        author: str = "import",
    ) -> dict[str, Any]:
        """Import a CSV or Excel file (layout in README); one bad row and nothing is committed.

        A ValidationError lists every bad row as ``{"row": N, "field", "message"}`` (the header is row 1).
        """
        name: str | None = None
        if isinstance(source, bytes | bytearray):
            data = bytes(source)
        elif isinstance(source, str | Path):
            name = str(source)
            data = Path(source).read_bytes()
        else:
            data = source.read()
            name = getattr(source, "name", None)
        fmt = (format or spreadsheet.detect_format(data, name)).lower().lstrip(".")
        if fmt == "excel":
            fmt = "xlsx"
        rows = spreadsheet.read_rows(data, fmt)
        if not rows:
            raise ValidationError("file: no entries below the header row", field="file")
        entries: list[dict[str, Any]] = []
        numbers: list[int] = []
        errors: list[dict[str, Any]] = []
        for n, rec in rows:
            try:
                e = spreadsheet.row_to_entry(n, rec)
                e.setdefault("source", "import")
                entries.append(e)
                numbers.append(n)
            except ValidationError as exc:
                errors.append({"row": n, "field": exc.field, "message": exc.message})
        if errors:
            raise ValidationError(f"{len(errors)} bad rows, nothing imported: "
                                  + "; ".join(e["message"] for e in errors[:10]), errors=errors)
        with self._locked(code) as (conn, ent):
            stored = store.append_batch(conn, ent, entries, author=author, now=datetime.now(UTC),
                                        row_label="row", row_numbers=numbers)
        return {"imported": len(stored), "entries": [e["id"] for e in stored]}

    def export_entries(
        self, code: str, *, format: str = "csv", from_: TimeArg = None, to: TimeArg = None
    ) -> bytes:
        """Entries as CSV (UTF-8 with BOM, for Excel) or ``xlsx`` bytes, in the import layout."""
        rows = self.list_entries(code, from_=from_, to=to, limit=None)
        fmt = format.lower().lstrip(".")
        if fmt == "csv":
            return spreadsheet.write_csv(rows)
        if fmt in ("xlsx", "excel"):
            return spreadsheet.write_xlsx(rows)
        raise ValidationError("format: must be csv or xlsx", field="format")


__all__ = ["DEFAULT_DATABASE_URL", "Ledger", "default_database_url"]
