"""Hash chain, signed heads and concurrent writers, against rewrites made directly in the database."""

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from mine_ledger import Ledger
from mine_ledger import schema as S
from mine_ledger.chain import GENESIS, entry_document, link_hash
from mine_ledger.store import upsert_aggregates
from mine_ledger.values import day_start, month_start

from .test_ledger_service import prod, ship


def fill(ledger: Ledger, code: str) -> list[dict[str, Any]]:
    return ledger.append_many(code, [
        prod("100", "2026-11-03T09:00"), ship("30.000", "2026-11-03T12:00"), prod("120", "2026-11-04T09:00"),
        ship("40.000", "2026-11-04T12:00", ticket="T2"), prod("90", "2026-11-05T09:00"),
    ])


def rewrite(ledger: Ledger, code: str, entry_id: int, **changes: str) -> None:
    """What an insider with database access would do: change one entry and re-hash the rest."""
    E = S.entries
    with ledger.engine.begin() as conn:
        ent_id = conn.execute(select(S.enterprises.c.id).where(S.enterprises.c.code == code)).scalar_one()
        prev = GENESIS
        for r in conn.execute(select(E).where(E.c.enterprise_id == ent_id).order_by(E.c.seq)).all():
            data = json.loads(r.body)
            if r.id == entry_id:
                data.update(changes)
            doc = entry_document(enterprise=code, seq=r.seq, kind=r.kind, at=r.at, recorded_at=r.recorded_at,
                                 author=r.author, source=r.source, data=data)
            h = link_hash(prev, doc)
            body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            conn.execute(update(E).where(E.c.id == r.id).values(body=body, prev_hash=prev, hash=h))
            prev = h
        if "tonnes" in changes:
            M = S.movements
            conn.execute(update(M).where(M.c.entry_id == entry_id).values(kg=int(float(changes["tonnes"]) * 1000)))
            conn.execute(S.aggregates.delete().where(S.aggregates.c.enterprise_id == ent_id))
            agg: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
            for m in conn.execute(select(M).where(M.c.enterprise_id == ent_id)):
                for grain, start in (("D", day_start(m.at)), ("M", month_start(m.at))):
                    agg[(grain, start, m.product, m.stockpile, m.role)][0] += m.kg
                    agg[(grain, start, m.product, m.stockpile, m.role)][1] += 1
            upsert_aggregates(conn, ent_id, agg)


def test_verify_names_the_first_changed_entry(ledger: Ledger, mine: str) -> None:
    entries = fill(ledger, mine)
    assert ledger.verify(mine) == {"ok": True, "entries": 5, "first_bad": None, "reason": None}
    with ledger.engine.begin() as conn:
        body = json.loads(conn.execute(select(S.entries.c.body).where(S.entries.c.id == entries[2]["id"])).scalar_one())
        body["tonnes"] = "20.000"
        conn.execute(update(S.entries).where(S.entries.c.id == entries[2]["id"]).values(body=json.dumps(body)))
    r = ledger.verify(mine)
    assert r["ok"] is False and r["first_bad"] == entries[2]["id"] and "hash" in r["reason"]


def test_changed_stock_movement_is_caught(ledger: Ledger, mine: str) -> None:
    entries = fill(ledger, mine)
    with ledger.engine.begin() as conn:
        conn.execute(update(S.movements).where(S.movements.c.entry_id == entries[1]["id"]).values(kg=-3000))
    r = ledger.verify(mine)
    assert r["ok"] is False and r["first_bad"] == entries[1]["id"]


def test_signed_heads_catch_a_full_rewrite(ledger: Ledger, mine: str) -> None:
    entries = fill(ledger, mine)
    heads = ledger.export_heads(mine)
    assert heads["algorithm"] == "Ed25519" and heads["heads"][-1]["count"] == 5
    assert ledger.verify(mine, against=heads)["ok"]
    rewrite(ledger, mine, entries[0]["id"], tonnes="200.000")
    assert ledger.verify(mine)["ok"]  # internally consistent: only the exported heads can tell
    r = ledger.verify(mine, against=heads)
    assert r["ok"] is False and r["first_bad"] == entries[0]["id"] and "rewritten" in r["reason"]


def test_heads_catch_truncation_and_forged_heads(ledger: Ledger, mine: str) -> None:
    entries = fill(ledger, mine)
    heads = ledger.export_heads()
    forged = json.loads(json.dumps(heads))
    forged["heads"][0]["count"] = 4
    assert ledger.verify(mine, against=forged)["ok"] is False
    other = Ledger(ledger.engine, signing_key=Ed25519PrivateKey.generate())
    assert "another key" in other.verify(mine, against=heads)["reason"]
    with ledger.engine.begin() as conn:
        conn.execute(S.movements.delete().where(S.movements.c.entry_id == entries[-1]["id"]))
        conn.execute(S.entries.delete().where(S.entries.c.id == entries[-1]["id"]))
        conn.execute(S.aggregates.delete())
    r = ledger.verify(mine, against=heads)
    assert r["ok"] is False


def test_two_writers_keep_one_valid_chain(make_ledger: Callable[..., Ledger], mine: str) -> None:
    writers = [make_ledger(), make_ledger()]
    errors: list[BaseException] = []
    n = 25

    def work(w: int) -> None:
        try:
            for i in range(n):
                writers[w].append(mine, prod(f"{w + 1}.{i:03d}", f"2026-11-{i % 28 + 1:02d}T09:00"), author=f"w{w}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    entries = writers[0].list_entries(mine, limit=None)
    assert sorted(e["seq"] for e in entries) == list(range(1, 2 * n + 1))
    assert {e["author"] for e in entries} == {"w0", "w1"}
    assert writers[1].verify(mine) == {"ok": True, "entries": 2 * n, "first_bad": None, "reason": None}
    total = sum(1 + i / 1000 for i in range(n)) + sum(2 + i / 1000 for i in range(n))
    assert writers[0].balance(mine)[0]["tonnes"] == f"{total:.3f}"


def test_two_writers_on_a_shared_plain_sqlite_engine(tmp_path, signing_key) -> None:  # type: ignore[no-untyped-def]
    """An engine made elsewhere (no BEGIN IMMEDIATE hooks) still serializes appends to one chain."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'shared.db'}", connect_args={"timeout": 30})
    led = Ledger(engine, signing_key=signing_key, migrate=True)
    code = led.create_enterprise({"code": "E1", "name": "m", "kind": "coal_mine"})["code"]
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(20):
                led.append(code, prod(f"{w + 1}", f"2026-11-{i + 1:02d}T09:00"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert led.verify(code) == {"ok": True, "entries": 40, "first_bad": None, "reason": None}
    engine.dispose()
