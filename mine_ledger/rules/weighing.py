"""SHIPMENT_UNWEIGHED, TARE_DEVIATION, DUPLICATE_WEIGHING, RECEIPT_UNMATCHED: weighbridge 汽车衡 checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from statistics import median

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.base import Anomaly, EntryView, LedgerView, Rule, pct, ratio, t3
from mine_ledger.values import fmt_time

HISTORY_DAYS = 365  # earlier weighings older than this are not used for a vehicle's usual tare


def unweighed(e: EntryView) -> list[str]:
    """Weigh-ticket fields a shipment lacks."""
    return [f for f in ("ticket", "gross", "tare") if e.data.get(f) in (None, "")]


class ShipmentUnweighed(Rule):
    """A truck that left without a weigh ticket, or without gross and tare."""

    code = "SHIPMENT_UNWEIGHED"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        out = []
        for e in view.entries(start, end, ["shipment"]):
            missing = unweighed(e)
            if missing:
                out.append(Anomaly(
                    self.code, t.sev(self.code), e.at, [e.id],
                    f"shipment of {e.data.get('net')} t {e.data.get('product')} by "
                    f"{e.data.get('vehicle') or 'an unknown vehicle'} without {', '.join(missing)}",
                    {"missing": missing, "net": e.data.get("net"), "vehicle": e.data.get("vehicle"),
                     "ticket": e.data.get("ticket")},
                ))
        return out


def weigh_time(e: EntryView) -> datetime:
    return e.time("weighed_out") or e.at


class TareDeviation(Rule):
    """A tare far (5 % and 0.5 t) from the vehicle's median tare over at least 3 earlier weighings."""

    code = "TARE_DEVIATION"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        items = [e for e in view.entries(start, end, ["shipment", "receipt"])
                 if e.data.get("vehicle") and e.data.get("tare") is not None]
        if not items:
            return []
        history = view.weighing_history({str(e.data["vehicle"]) for e in items},
                                        start - timedelta(days=HISTORY_DAYS), end)
        out = []
        n_hist, min_n = t.count("tare_history"), t.count("tare_min_weighings")
        for e in items:
            earlier = [w.dec("tare") for w in history.get(str(e.data["vehicle"]), [])
                       if w.order < e.order and w.data.get("tare") is not None]
            tares = [x for x in earlier if x is not None][-n_hist:] if n_hist else []
            if len(tares) < max(min_n, 1):
                continue
            med = Decimal(median(tares))
            tare = e.dec("tare") or Decimal(0)
            dev = abs(tare - med)
            if dev > t.dec("tare_share") * med and dev > t.dec("tare_min_t"):
                out.append(Anomaly(
                    self.code, t.sev(self.code), e.at, [e.id],
                    f"tare {t3(tare)} t of {e.data['vehicle']} is {t3(dev)} t off its median {t3(med)} t over "
                    f"{len(tares)} earlier weighings (limit {pct(t.dec('tare_share'))} and {t.dec('tare_min_t')} t)",
                    {"vehicle": e.data["vehicle"], "tare": t3(tare), "median_tare": t3(med), "deviation": t3(dev),
                     "deviation_share": ratio(dev, med), "weighings": len(tares)},
                ))
        return out


class DuplicateWeighing(Rule):
    """The same vehicle weighed out twice within 10 minutes."""

    code = "DUPLICATE_WEIGHING"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        window = timedelta(seconds=t.count("duplicate_window_s"))
        items = [e for e in view.entries(start, end, ["shipment"]) if e.data.get("vehicle")]
        if not items:
            return []
        history = view.weighing_history({str(e.data["vehicle"]) for e in items}, start - window - timedelta(days=1),
                                        end + window + timedelta(days=1))
        out = []
        ids = {e.id for e in items}
        for vehicle, hist in history.items():
            ships = sorted((w for w in hist if w.kind == "shipment"), key=lambda w: (weigh_time(w), w.seq))
            for prev, cur in pairwise(ships):
                if cur.id not in ids:
                    continue
                gap = weigh_time(cur) - weigh_time(prev)
                if gap <= window:
                    out.append(Anomaly(
                        self.code, t.sev(self.code), cur.at, [prev.id, cur.id],
                        f"{vehicle} weighed out at {fmt_time(weigh_time(prev))} and again "
                        f"{int(gap.total_seconds() // 60)} min later",
                        {"vehicle": vehicle, "first": fmt_time(weigh_time(prev)), "second": fmt_time(weigh_time(cur)),
                         "seconds_apart": int(gap.total_seconds()),
                         "tickets": [prev.data.get("ticket"), cur.data.get("ticket")]},
                    ))
        out.sort(key=lambda a: a.at)
        return out


class ReceiptUnmatched(Rule):
    """A receipt from an enterprise on the platform that none of its shipments matches (ticket, 0.5 %)."""

    code = "RECEIPT_UNMATCHED"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        out = []
        for e in view.entries(start, end, ["receipt"]):
            supplier = str(e.data.get("supplier") or "")
            if not supplier or supplier == ent.code:
                continue
            ticket = e.data.get("ticket")
            candidates = view.partner_shipments(supplier, str(ticket) if ticket else "")
            if candidates is None:
                continue  # not an enterprise on the platform
            received = e.dec("net") or e.dec("tonnes") or Decimal(0)
            share = t.dec("receipt_match_share")
            matched = [c for c in candidates
                       if (c.dec("net") or Decimal(0)) and abs((c.dec("net") or Decimal(0)) - received)
                       <= share * (c.dec("net") or Decimal(0))]
            if matched:
                continue
            shipped = ", ".join(str(c.data.get("net")) for c in candidates)
            reason = ("no ticket" if not ticket else
                      "no shipment with this ticket" if not candidates else
                      f"shipped net {shipped} t differs by more than {pct(share)}")
            out.append(Anomaly(
                self.code, t.sev(self.code), e.at, [e.id],
                f"receipt of {t3(received)} t from {supplier} (ticket {ticket or '-'}) matches none of its "
                f"shipments: {reason}",
                {"supplier": supplier, "ticket": ticket, "received": t3(received),
                 "shipped": [c.data.get("net") for c in candidates], "reason": reason},
            ))
        return out
