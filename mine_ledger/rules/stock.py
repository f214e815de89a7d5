"""NEGATIVE_STOCK, STOCK_MISMATCH and SALES_EXCEED_STOCK: stock that does not reconcile."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from itertools import groupby

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.base import Anomaly, EntryView, LedgerView, Rule, pct, periods, ratio, t3

AVAILABLE_ROLES = ("production", "receipt", "washing_out", "washing_in")


class NegativeStock(Rule):
    """An entry that takes a stockpile below zero (recorded anyway: the ledger keeps what happened)."""

    code = "NEGATIVE_STOCK"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        bal = dict(view.balance(start))
        out: list[Anomaly] = []
        # movements of one instant are applied together: a reversal and what it cancels share the time
        for _at, group in groupby(view.moves(start, end), key=lambda m: m.at):
            items = list(group)
            before = dict(bal)
            for m in items:
                bal[(m.product, m.stockpile)] = bal.get((m.product, m.stockpile), 0) + m.kg
            for m in items:
                after = bal[(m.product, m.stockpile)]
                if m.live and m.kg < 0 and m.role != "stocktake" and after < 0:
                    out.append(Anomaly(
                        self.code, t.sev(self.code), m.at, [m.entry_id],
                        f"{m.role} of {t3(-m.kg)} t takes {m.product} in {m.stockpile} to {t3(after)} t",
                        {"product": m.product, "stockpile": m.stockpile,
                         "before": t3(before.get((m.product, m.stockpile), 0)), "change": t3(m.kg), "after": t3(after)},
                    ))
        return out


def mismatch(ent: EnterpriseInfo, e: EntryView, book_kg: int | None = None) -> dict[str, object] | None:
    """Figures of a stocktake whose variance exceeds the method's tolerance and the minimum tonnage.

    ``book_kg`` is the book as the ledger knows it now (later corrections included); without it
    the book stored when the survey was recorded is used.
    """
    t = ent.thresholds
    book, variance = e.dec("book"), e.dec("variance")
    if book_kg is not None:
        book = Decimal(book_kg) / 1000
        variance = (e.dec("measured") or Decimal(0)) - book
    if book is None or variance is None:
        return None
    method = e.data.get("method") or "default"
    tol = t.dec(f"stock_tolerance_{method}")
    if abs(variance) > tol * abs(book) and abs(variance) > t.dec("stock_mismatch_min_t"):
        return {"product": e.data.get("product"), "stockpile": e.data.get("stockpile"), "book": t3(book),
                "measured": e.data.get("measured"), "variance": t3(variance), "method": e.data.get("method"),
                "tolerance": str(tol), "variance_share": ratio(variance, book)}
    return None


class StockMismatch(Rule):
    """A stocktake 盘点 off the book by more than its method's tolerance and more than 10 t."""

    code = "STOCK_MISMATCH"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        out: list[Anomaly] = []
        for e in view.entries(start, end, ["stocktake"]):
            pair = (str(e.data["product"]), str(e.data["stockpile"]))
            fig = mismatch(ent, e, view.balance(e.at).get(pair, 0))
            if fig is None:
                continue
            out.append(Anomaly(
                self.code, t.sev(self.code), e.at, [e.id],
                f"{fig['method'] or 'stocktake'} survey of {fig['product']} in {fig['stockpile']} measured "
                f"{fig['measured']} t against a book of {fig['book']} t (variance {fig['variance']} t, "
                f"tolerance {pct(Decimal(str(fig['tolerance'])))})",
                fig,
            ))
        return out


class SalesExceedStock(Rule):
    """A product's sales in a period above opening + production + receipts + washing outputs - inputs."""

    code = "SALES_EXCEED_STOCK"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        out: list[Anomaly] = []
        for ps, pe, label in periods(t.text("sales_period"), start, end, ent.shifts):
            sales: dict[str, list[EntryView]] = defaultdict(list)
            for e in view.entries(ps, pe, ["sale"]):
                sales[str(e.data["product"])].append(e)
            if not sales:
                continue
            opening: dict[str, int] = defaultdict(int)
            for (product, _pile), kg in view.balance(ps).items():
                opening[product] += kg
            flows: dict[tuple[str, str], int] = defaultdict(int)
            for (product, _pile, role), kg in view.flows(ps, pe).items():
                flows[(product, role)] += kg
            for product, items in sales.items():
                parts = {role: flows[(product, role)] for role in AVAILABLE_ROLES}
                available = opening[product] + sum(parts.values())
                sold, i = 0, -1
                for j, e in enumerate(items):
                    sold += int((e.dec("tonnes") or Decimal(0)) * 1000)
                    if sold > available:
                        i = j
                        break
                if i < 0 or not (start <= items[i].at < end):
                    continue
                total = sum(int((x.dec("tonnes") or Decimal(0)) * 1000) for x in items)
                out.append(Anomaly(
                    self.code, t.sev(self.code), items[i].at, [x.id for x in items[i:]],
                    f"sales of {product} in {label} ({t3(total)} t) exceed what was available ({t3(available)} t)",
                    {"product": product, "period": label, "sales": t3(total), "available": t3(available),
                     "opening": t3(opening[product]), "production": t3(parts["production"]),
                     "receipts": t3(parts["receipt"]), "washing_out": t3(parts["washing_out"]),
                     "washing_in": t3(-parts["washing_in"])},
                ))
        return out
