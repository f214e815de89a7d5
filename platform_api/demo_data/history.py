"""Months of 产运销存 history for the three demo enterprises, with a few planted anomalies.

Pure data: `build_history(today)` returns the entries per enterprise (CONTRACTS §7 shapes, in
time order) and the stops to declare; the seeder appends them through the Ledger facade, so every
rule of the ledger applies to them as to typed entries. The figures are made to reconcile: stock
is tracked while generating, so stocktakes measure the real book (± survey noise) and nothing goes
negative unless planted.

Planted (dates relative to today, so the demo always shows them):
- mine: an over-capacity month (last complete month), night production, production during a
  declared stop, an unweighed shipment, a tare far from the truck's usual, the same truck
  weighed out twice within minutes, a clean-coal stocktake far from book, one reversed entry;
- washing plant: a receipt from the mine that matches none of the mine's shipments, a month
  whose clean-coal sales exceed what it had;
- coking plant: a coke shipment that takes the yard below zero.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MINE, WASHER, COKING = "E150303001", "E150304001", "E150302001"
MINE_NAME, WASHER_NAME, COKING_NAME = "鑫泰煤矿", "恒源选煤厂", "宏达焦化厂"
Q3 = Decimal("0.001")


def enterprises() -> list[dict[str, Any]]:
    """Create bodies of the three demo enterprises (one per Wuhai district)."""
    return [
        {"code": MINE, "name": MINE_NAME, "kind": "coal_mine", "district": "海南区",
         "approved_capacity_tpa": "1200000", "capacity_effective_from": "2020-01-01",
         "night_ban": ["00:00", "08:00"], "production_source": "declared"},
        {"code": WASHER, "name": WASHER_NAME, "kind": "washing_plant", "district": "乌达区",
         "night_ban": ["00:00", "08:00"]},
        {"code": COKING, "name": COKING_NAME, "kind": "coking", "district": "海勃湾区",
         "products": ["raw", "clean", "middlings", "slime", "gangue", "coke"]},
    ]


def t3(x: Decimal | float) -> str:
    return str(Decimal(str(x)).quantize(Q3, ROUND_HALF_UP))


def _q(x: Decimal | float) -> Decimal:
    return Decimal(str(x)).quantize(Q3, ROUND_HALF_UP)


def month_start(d: date, back: int = 0) -> date:
    y, m = d.year, d.month - back
    while m <= 0:
        y, m = y - 1, m + 12
    return date(y, m, 1)


@dataclass
class Book:
    """Running stock of one enterprise, to make entries that reconcile."""

    code: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    stock: dict[tuple[str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    tickets: dict[tuple[str, str, int], list[str]] = field(default_factory=lambda: defaultdict(list))
    """(buyer, product, month) -> tickets shipped, for the month's sale."""
    sold: dict[tuple[str, str, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.entries.append(entry)
        return entry


@dataclass
class History:
    today: date
    entries: dict[str, list[dict[str, Any]]]
    stops: dict[str, list[dict[str, Any]]]
    reversals: dict[str, list[tuple[int, str]]]
    """code -> [(index of the entry in `entries[code]`, reason)]: reversed after seeding."""
    first_day: date
    planted: dict[str, str]


def _at(d: date, hour: int, minute: int = 0) -> str:
    return datetime(d.year, d.month, d.day, hour, minute).isoformat(timespec="minutes")


class Fleet:
    """Trucks with their usual tare, so the weighbridge rules have a history per vehicle."""

    def __init__(self, rnd: random.Random, prefix: str, n: int, letters: str) -> None:
        self.rnd = rnd
        self.trucks = [(f"蒙L{letters[i % len(letters)]}{3700 + i * 37 % 300:04d}", 15.2 + rnd.random() * 1.6)
                       for i in range(n)]
        self.prefix = prefix
        self.n = 0

    def ticket(self, d: date) -> str:
        self.n += 1
        return f"{self.prefix}{d:%Y%m%d}{self.n % 1000:03d}"

    def weigh(self, d: date, hour: int, minute: int, net: float, truck: int | None = None,
              tare: float | None = None) -> dict[str, Any]:
        plate, usual = self.trucks[self.rnd.randrange(len(self.trucks)) if truck is None else truck]
        tare_t = _q(tare if tare is not None else usual + self.rnd.uniform(-0.15, 0.15))
        net_t = _q(net)
        out = datetime(d.year, d.month, d.day, hour, minute)
        return {"ticket": self.ticket(d), "vehicle": plate, "gross": t3(tare_t + net_t), "tare": t3(tare_t),
                "net": t3(net_t), "weighed_in": (out - timedelta(minutes=25)).isoformat(timespec="minutes"),
                "weighed_out": out.isoformat(timespec="minutes")}


def build_history(today: date, months: int = 5, seed: int = 1) -> History:
    """Entries from the first day `months` months before today's month up to yesterday."""
    rnd = random.Random(seed)
    first = month_start(today, months)
    over_month = month_start(today, 1)  # over capacity, shown by default on the regulator's page
    night_day = month_start(today, 2) + timedelta(days=11)
    stop_from = month_start(today, 3) + timedelta(days=9)
    stop_to = stop_from + timedelta(days=3)
    unweighed_day = month_start(today, 1) + timedelta(days=7)
    tare_day = month_start(today, 2) + timedelta(days=19)
    dup_day = month_start(today, 1) + timedelta(days=16)
    mismatch_month = month_start(today, 2)
    unmatched_day = month_start(today, 1) + timedelta(days=4)
    oversold_month = month_start(today, 2)
    negative_day = month_start(today, 1) + timedelta(days=21)

    mine, washer, coking = Book(MINE), Book(WASHER), Book(COKING)
    trucks_raw = Fleet(rnd, "XT", 14, "ABCDEFG")
    trucks_clean = Fleet(rnd, "HY", 10, "HJKMN")
    reversals: dict[str, list[tuple[int, str]]] = {MINE: []}

    def stocktake(book: Book, d: date, product: str, pile: str, method: str, off: float = 0.0) -> None:
        bookt = book.stock[(product, pile)]
        noise = Decimal(str(rnd.uniform(-0.003, 0.003) + off))
        measured = _q(bookt * (1 + noise))
        book.add({"kind": "stocktake", "product": product, "stockpile": pile, "measured": t3(measured),
                  "method": method, "at": _at(d, 23, 50)})
        book.stock[(product, pile)] = measured

    def sell(book: Book, d: date, rows: list[tuple[str, str, str, float]]) -> None:
        for buyer, product, price, factor in rows:
            key = (buyer, product, d.month)
            tickets = book.tickets.pop(key, [])
            tonnes = book.sold.pop(key, Decimal(0))
            if not tickets:
                continue
            book.add({"kind": "sale", "buyer": buyer, "product": product, "tonnes": t3(tonnes * Decimal(str(factor))),
                      "unit_price": price, "tax_included": True, "at": _at(d, 22, 30), "tickets": tickets})

    def ship(book: Book, d: date, product: str, pile: str, buyer: str, w: dict[str, Any]) -> dict[str, Any]:
        e = book.add({"kind": "shipment", "product": product, "stockpile": pile, "at": w["weighed_out"],
                      "destination": buyer, **w})
        book.stock[(product, pile)] -= Decimal(w["net"])
        if w.get("ticket"):
            book.tickets[(buyer, product, d.month)].append(w["ticket"])
            book.sold[(buyer, product, d.month)] += Decimal(w["net"])
        return e

    def wash(book: Book, d: date, pile_in: str, product_in: str, tonnes: Decimal,
             outputs: list[tuple[str, str, float]]) -> None:
        outs = [(p, s, _q(tonnes * Decimal(str(share)))) for p, s, share in outputs]
        loss = tonnes - sum(t for _, _, t in outs)
        book.add({"kind": "washing", "at": _at(d, 23, 40),
                  "inputs": [{"product": product_in, "stockpile": pile_in, "tonnes": t3(tonnes)}],
                  "outputs": [{"product": p, "stockpile": s, "tonnes": t3(t)} for p, s, t in outs],
                  "loss": t3(loss)})
        book.stock[(product_in, pile_in)] -= tonnes
        for p, s, t in outs:
            book.stock[(p, s)] += t

    def _mine_day(d: date, in_stop: bool, pace: float) -> None:
        """In time order: clean train 07:40, raw trucks 09-15h, middlings train 14:30, shifts 15:30
        and 23:30, washing 23:40, own use 23:55."""
        clean = mine.stock[("clean", "clean_yard")]
        if clean > 1200:
            net = _q(min(clean - 150, Decimal(str(rnd.uniform(1500, 1700)))))
            train = {"ticket": f"TL{d:%Y%m%d}01", "vehicle": f"专列{40000 + d.toordinal() % 9000}",
                     "tare": "708.000", "gross": t3(Decimal("708.000") + net), "net": t3(net),
                     "weighed_in": _at(d, 6, 10), "weighed_out": _at(d, 7, 40)}
            ship(mine, d, "clean", "clean_yard", COKING_NAME, train)
            coking.add({"kind": "receipt", "product": "clean", "stockpile": "coal_yard", "tonnes": train["net"],
                        "supplier": MINE, "ticket": train["ticket"], "vehicle": train["vehicle"],
                        "gross": train["gross"], "tare": train["tare"], "net": train["net"], "at": _at(d, 11, 20)})
            coking.stock[("clean", "coal_yard")] += net
        if night_day == d:
            mine.add({"kind": "production", "product": "raw", "stockpile": "raw_yard", "tonnes": "286.400",
                      "at": _at(d, 3, 10), "shift": "night"})
            mine.stock[("raw", "raw_yard")] += Decimal("286.400")
        # raw coal to the washing plant by truck; the washing plant books each as a receipt
        for k in range(0 if in_stop else 5):
            hour, minute = 9 + k, 5 + rnd.randrange(40)
            truck: int | None = None
            tare: float | None = None
            if d == tare_day and k == 2:
                truck, tare = 3, 12.05  # far below this truck's usual ~16 t
            if d == dup_day and k in (1, 2):
                truck, hour, minute = 5, 10, 2 + 7 * (k - 1)  # weighed out twice 7 minutes apart
            if d == unweighed_day and k == 4:
                e = ship(mine, d, "raw", "raw_yard", WASHER_NAME,
                         {"ticket": None, "vehicle": "蒙L·无牌", "gross": None, "tare": None, "net": "34.000",
                          "weighed_in": None, "weighed_out": None})
                e["at"] = _at(d, 13, 40)
                continue
            w = trucks_raw.weigh(d, hour, minute, rnd.uniform(36.5, 39.5), truck=truck, tare=tare)
            ship(mine, d, "raw", "raw_yard", WASHER_NAME, w)
            washer.add({"kind": "receipt", "product": "raw", "stockpile": "raw_yard", "tonnes": w["net"],
                        "supplier": MINE, "ticket": w["ticket"], "vehicle": w["vehicle"], "gross": w["gross"],
                        "tare": w["tare"], "net": w["net"], "at": _at(d, hour + 1, minute)})
            washer.stock[("raw", "raw_yard")] += Decimal(w["net"])
        if d == first + timedelta(days=20):
            # keyed twice by mistake and reversed: the reversal cancels it in every figure
            w = trucks_raw.weigh(d, 17, 45, 37.2)
            ship(mine, d, "raw", "raw_yard", "乌达区散户", w)
            reversals[MINE].append((len(mine.entries) - 1, "重复录入，运单作废"))
            mine.stock[("raw", "raw_yard")] += Decimal(w["net"])
        if d.toordinal() % 3 == 0 and mine.stock[("middlings", "middlings_yard")] > 1000:
            net = _q(mine.stock[("middlings", "middlings_yard")] - Decimal(str(rnd.uniform(50, 150))))
            ship(mine, d, "middlings", "middlings_yard", "乌海热电厂",
                 {"ticket": f"TL{d:%Y%m%d}02", "vehicle": f"专列{50000 + d.toordinal() % 9000}", "tare": "690.000",
                  "gross": t3(Decimal("690.000") + net), "net": t3(net), "weighed_in": _at(d, 13, 0),
                  "weighed_out": _at(d, 14, 30)})
        if not in_stop or d == stop_from + timedelta(days=1):
            shifts = [("day", 15, 30)] if in_stop else [("day", 15, 30), ("evening", 23, 30)]
            for shift, h, m in shifts:
                tonnes = _q(rnd.gauss(1650, 80) * pace * (0.15 if in_stop else 1))
                mine.add({"kind": "production", "product": "raw", "stockpile": "raw_yard", "tonnes": t3(tonnes),
                          "at": _at(d, h, m), "shift": shift})
                mine.stock[("raw", "raw_yard")] += tonnes
        raw_in_yard = mine.stock[("raw", "raw_yard")]
        if raw_in_yard > 900:
            wash(mine, d, "raw_yard", "raw", _q(min(raw_in_yard - 700, Decimal(str(rnd.gauss(2900, 60) * pace)))),
                 [("clean", "clean_yard", 0.58), ("middlings", "middlings_yard", 0.16),
                  ("slime", "slime_yard", 0.07), ("gangue", "gangue_yard", 0.17)])
        for product, pile in (("gangue", "gangue_yard"), ("slime", "slime_yard")):
            have = mine.stock[(product, pile)]
            if have > 100:
                used = _q(have * Decimal("0.9"))
                mine.add({"kind": "own_use", "product": product, "stockpile": pile, "tonnes": t3(used),
                          "at": _at(d, 23, 55)})
                mine.stock[(product, pile)] -= used

    def _washer_day(d: date) -> None:
        """In time order: clean trucks 08-15h, receipts 10-18h, clean train 17:30, washing 23:40,
        own use 23:58 (the mine's trucks were booked as receipts above)."""
        for k in range(3):
            if washer.stock[("clean", "clean_yard")] < 300:
                break
            w = trucks_clean.weigh(d, 8 + 2 * k, 15 + rnd.randrange(30), rnd.uniform(38, 41))
            ship(washer, d, "clean", "clean_yard", COKING_NAME, w)
            coking.add({"kind": "receipt", "product": "clean", "stockpile": "coal_yard", "tonnes": w["net"],
                        "supplier": WASHER, "ticket": w["ticket"], "vehicle": w["vehicle"], "gross": w["gross"],
                        "tare": w["tare"], "net": w["net"], "at": _at(d, 8 + 2 * k + 1, 10)})
            coking.stock[("clean", "coal_yard")] += Decimal(w["net"])
        if d == unmatched_day:
            washer.add({"kind": "receipt", "product": "raw", "stockpile": "raw_yard", "tonnes": "38.600",
                        "supplier": MINE, "ticket": "XT-NOT-ISSUED-77", "vehicle": "蒙LK3999", "gross": "54.700",
                        "tare": "16.100", "net": "38.600", "at": _at(d, 16, 20)})
            washer.stock[("raw", "raw_yard")] += Decimal("38.600")
        clean = washer.stock[("clean", "clean_yard")]
        if clean > 600:
            net = _q(clean - 350)
            ship(washer, d, "clean", "clean_yard", "宁夏钢铁集团",
                 {"ticket": f"WD{d:%Y%m%d}01", "vehicle": f"专列{60000 + d.toordinal() % 9000}", "tare": "702.000",
                  "gross": t3(Decimal("702.000") + net), "net": t3(net), "weighed_in": _at(d, 16, 0),
                  "weighed_out": _at(d, 17, 30)})
        local = _q(rnd.gauss(1250, 60))
        washer.add({"kind": "receipt", "product": "raw", "stockpile": "raw_yard", "tonnes": t3(local),
                    "supplier": "乌达区地方煤矿联营", "at": _at(d, 18, 0)})
        washer.stock[("raw", "raw_yard")] += local
        have = washer.stock[("raw", "raw_yard")]
        if have > 500:
            wash(washer, d, "raw_yard", "raw", _q(have - 200),
                 [("clean", "clean_yard", 0.55), ("middlings", "middlings_yard", 0.2),
                  ("slime", "slime_yard", 0.06), ("gangue", "gangue_yard", 0.17)])
        for product, pile in (("middlings", "middlings_yard"), ("slime", "slime_yard"), ("gangue", "gangue_yard")):
            have = washer.stock[(product, pile)]
            if have > 100:
                used = _q(have * Decimal("0.95"))
                washer.add({"kind": "own_use", "product": product, "stockpile": pile, "tonnes": t3(used),
                            "at": _at(d, 23, 58)})
                washer.stock[(product, pile)] -= used

    def _coking_day(d: date) -> None:
        """In time order: coke train 10:20 (from yesterday's coke), receipts (booked above), ovens 23:45."""
        coke_have = coking.stock[("coke", "coke_yard")]
        if coke_have > 800 or (d == negative_day and coke_have > 0):
            net = _q(coke_have - 200 if d != negative_day else coke_have + Decimal("412.500"))
            ship(coking, d, "coke", "coke_yard", "包头钢铁集团",
                 {"ticket": f"HD{d:%Y%m%d}01", "vehicle": f"专列{70000 + d.toordinal() % 9000}", "tare": "715.000",
                  "gross": t3(Decimal("715.000") + net), "net": t3(net), "weighed_in": _at(d, 9, 0),
                  "weighed_out": _at(d, 10, 20)})
        have = coking.stock[("clean", "coal_yard")]
        if have > 500:
            charge = _q(have - 300)
            coke = _q(charge * Decimal("0.76"))
            coking.add({"kind": "washing", "at": _at(d, 23, 45),
                        "inputs": [{"product": "clean", "stockpile": "coal_yard", "tonnes": t3(charge)}],
                        "outputs": [{"product": "coke", "stockpile": "coke_yard", "tonnes": t3(coke)}],
                        "loss": t3(charge - coke)})
            coking.stock[("clean", "coal_yard")] -= charge
            coking.stock[("coke", "coke_yard")] += coke

    opening = [(mine, "raw", "raw_yard", "2600.000"), (mine, "clean", "clean_yard", "1850.000"),
               (mine, "middlings", "middlings_yard", "420.000"), (washer, "raw", "raw_yard", "300.000"),
               (washer, "clean", "clean_yard", "900.000"), (coking, "clean", "coal_yard", "600.000"),
               (coking, "coke", "coke_yard", "1200.000")]
    for book, product, pile, tonnes in opening:
        # stock carried over from before the platform: booked once as a receipt, so it reconciles
        book.add({"kind": "receipt", "product": product, "stockpile": pile, "tonnes": tonnes,
                  "supplier": "期初库存结转", "at": _at(first, 0, 0)})
        book.stock[(product, pile)] += Decimal(tonnes)

    d = first
    while d < today:
        last_of_month = (d + timedelta(days=1)).day == 1
        in_stop = stop_from <= d < stop_to
        pace = 1.32 if month_start(d) == over_month else 1.0
        _mine_day(d, in_stop, pace)
        _washer_day(d)
        _coking_day(d)
        if last_of_month:
            stocktake(mine, d, "raw", "raw_yard", "laser")
            stocktake(mine, d, "clean", "clean_yard", "manual", off=-0.09 if month_start(d) == mismatch_month else 0.0)
            stocktake(washer, d, "raw", "raw_yard", "laser")
            stocktake(coking, d, "clean", "coal_yard", "drone")
            sell(mine, d, [(COKING_NAME, "clean", "1380.00", 1.0), ("乌海热电厂", "middlings", "520.00", 1.0),
                           (WASHER_NAME, "raw", "760.00", 1.0)])
            oversold = 1.6 if month_start(d) == oversold_month else 1.0
            sell(washer, d, [(COKING_NAME, "clean", "1420.00", oversold), ("宁夏钢铁集团", "clean", "1450.00", 1.0)])
            sell(coking, d, [("包头钢铁集团", "coke", "2150.00", 1.0)])
        d += timedelta(days=1)

    # ticketed shipments of the current month are not sold yet; that is the normal state mid-month
    stops = {MINE: [{"from": _at(stop_from, 0), "to": _at(stop_to, 0), "reason": "安全检查停产整顿"}]}
    planted = {
        "OVER_CAPACITY_MONTH": f"{MINE} {over_month:%Y-%m}",
        "NIGHT_PRODUCTION": f"{MINE} {night_day}",
        "PRODUCTION_DURING_STOP": f"{MINE} {stop_from + timedelta(days=1)}",
        "SHIPMENT_UNWEIGHED": f"{MINE} {unweighed_day}",
        "TARE_DEVIATION": f"{MINE} {tare_day}",
        "DUPLICATE_WEIGHING": f"{MINE} {dup_day}",
        "STOCK_MISMATCH": f"{MINE} {mismatch_month:%Y-%m}",
        "RECEIPT_UNMATCHED": f"{WASHER} {unmatched_day}",
        "SALES_EXCEED_STOCK": f"{WASHER} {oversold_month:%Y-%m}",
        "NEGATIVE_STOCK": f"{COKING} {negative_day}",
    }
    return History(today, {MINE: mine.entries, WASHER: washer.entries, COKING: coking.entries}, stops,
                   reversals, first, planted)
