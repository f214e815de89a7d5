"""Read planning: tag byte ranges -> spans -> items -> multi-variable read requests. Pure, no I/O.

Every S7 request costs a round trip, and a PLC answers at most `max_items` (20) variables per
request within the negotiated PDU, in both directions. So the planner
  1. merges the byte ranges of one area/DB into spans when the gap between them is at most
     `max_gap` bytes (reading a few unused bytes is cheaper than another item),
  2. cuts spans longer than one reply can carry into items, never through a value that would fit
     whole (a REAL is never torn between two requests; only a long string may be), and
  3. packs items first-fit-decreasing into requests so that the request PDU
     (12 + 12 per item) and the reply PDU (14 + per item 4 header bytes + data + fill to even)
     stay within the PDU size.

Wire sizes (S7 communication, "read var" job):
  request  = 10 header + 2 parameter head + 12 per item address
  reply    = 12 header + 2 parameter head + per item: 4 + data (+1 fill if odd and not last)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

MAX_ITEMS = 20
REQUEST_HEAD = 12
REQUEST_PER_ITEM = 12
REPLY_HEAD = 14
REPLY_PER_ITEM = 4
MIN_PDU = 32


@dataclass(frozen=True, slots=True)
class Block:
    """The bytes one tag needs. `alone` keeps it out of any merge (used to isolate a bad address)."""

    key: Hashable
    area: int
    db: int
    start: int
    size: int
    alone: bool = False

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Span:
    area: int
    db: int
    start: int
    size: int
    keys: tuple[Hashable, ...]

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Item:
    """One variable of a multi-read: `size` bytes at `start`, landing at `offset` of span `span`."""

    area: int
    db: int
    start: int
    size: int
    span: int
    offset: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Request:
    items: tuple[Item, ...]

    @property
    def request_bytes(self) -> int:
        return request_size(len(self.items))

    @property
    def reply_bytes(self) -> int:
        return reply_size([i.size for i in self.items])


@dataclass(frozen=True, slots=True)
class ReadPlan:
    spans: tuple[Span, ...]
    requests: tuple[Request, ...]
    pdu_size: int

    @property
    def items(self) -> int:
        return sum(len(r.items) for r in self.requests)

    @property
    def payload_bytes(self) -> int:
        return sum(i.size for r in self.requests for i in r.items)


def request_size(n_items: int) -> int:
    return REQUEST_HEAD + REQUEST_PER_ITEM * n_items


def reply_size(sizes: Sequence[int]) -> int:
    """Exact reply PDU size for items of these sizes in this order (fill bytes between items)."""
    fills = sum(s % 2 for s in sizes[:-1])
    return REPLY_HEAD + sum(REPLY_PER_ITEM + s for s in sizes) + fills


def max_payload(pdu_size: int) -> int:
    """Largest data one item may carry: a one-item reply must fit, and even so fills never overflow."""
    return (pdu_size - REPLY_HEAD - REPLY_PER_ITEM) & ~1


def max_items_per_request(pdu_size: int, max_items: int = MAX_ITEMS) -> int:
    return max(1, min(max_items, (pdu_size - REQUEST_HEAD) // REQUEST_PER_ITEM))


def plan_reads(blocks: Sequence[Block], pdu_size: int, max_gap: int = 32,
               max_items: int = MAX_ITEMS) -> ReadPlan:
    """Plan one read cycle of `blocks` for a PLC with this PDU size."""
    if pdu_size < MIN_PDU:
        raise ValueError(f"PDU size {pdu_size} is too small (at least {MIN_PDU})")
    if not 1 <= max_items <= MAX_ITEMS:
        raise ValueError(f"max_items {max_items} out of range (allowed: 1-{MAX_ITEMS})")
    spans, members = merge_spans(blocks, max_gap)
    limit = max_payload(pdu_size)
    items: list[Item] = []
    for index, span in enumerate(spans):
        items.extend(cut_span(span, index, members[index], limit))
    return ReadPlan(tuple(spans), pack(items, pdu_size, max_items), pdu_size)


def merge_spans(blocks: Sequence[Block], max_gap: int) -> tuple[list[Span], list[list[Block]]]:
    """Group blocks of one area/DB whose gap is at most `max_gap` bytes; `alone` blocks get a span each."""
    ordered = sorted(blocks, key=lambda b: (b.area, b.db, b.start, -b.size))
    groups: list[list[Block]] = []
    end = 0
    for b in ordered:
        if b.size <= 0:
            raise ValueError(f"block {b.key!r} has no bytes")
        if b.alone:
            continue
        group = groups[-1] if groups else None
        if group is not None and b.area == group[0].area and b.db == group[0].db and b.start - end <= max_gap:
            group.append(b)
            end = max(end, b.end)
        else:
            groups.append([b])
            end = b.end
    groups.extend([b] for b in ordered if b.alone)
    groups.sort(key=lambda g: (g[0].area, g[0].db, g[0].start))
    spans = []
    for g in groups:
        start, stop = g[0].start, max(b.end for b in g)
        spans.append(Span(g[0].area, g[0].db, start, stop - start, tuple(b.key for b in g)))
    return spans, groups


def cut_span(span: Span, index: int, blocks: Sequence[Block], limit: int) -> list[Item]:
    """Cut a span into items of at most `limit` bytes; no cut goes through a block that fits whole
    (unless blocks overlap each other so that no cut can spare them all), and no item is made of gap
    bytes alone."""
    if span.size <= limit:
        return [Item(span.area, span.db, span.start, span.size, index, 0)]
    ordered = sorted(blocks, key=lambda b: b.start)
    items: list[Item] = []
    pos = span.start
    while pos < span.end:
        # skip a gap in front of the next needed byte
        nxt = min((b.start for b in ordered if b.end > pos), default=span.end)
        pos = max(pos, nxt)
        if pos >= span.end:
            break
        cut = min(pos + limit, span.end)
        # the values that start here stay whole; then pull the cut back in front of any value it would tear
        floor = max((b.end for b in ordered if b.start == pos and b.size <= limit), default=pos + 1)
        while cut < span.end:
            straddling = [b.start for b in ordered
                          if b.start < cut < b.end and b.size <= limit and b.start >= floor]
            if not straddling:
                break
            cut = min(straddling)
        items.append(Item(span.area, span.db, pos, cut - pos, index, pos - span.start))
        pos = cut
    return items


def _reply_cost(size: int) -> int:
    """Reply bytes an item may take wherever it lands (data + header + a possible fill byte)."""
    return REPLY_PER_ITEM + size + (size % 2)


def pack(items: Sequence[Item], pdu_size: int, max_items: int = MAX_ITEMS) -> tuple[Request, ...]:
    """First-fit decreasing by reply size, within item count, request size and reply size."""
    per_request = max_items_per_request(pdu_size, max_items)
    reply_room = pdu_size - REPLY_HEAD
    bins: list[list[Item]] = []
    used: list[int] = []
    for item in sorted(items, key=lambda i: (-_reply_cost(i.size), i.area, i.db, i.start)):
        cost = _reply_cost(item.size)
        for n, b in enumerate(bins):
            if len(b) < per_request and used[n] + cost <= reply_room:
                b.append(item)
                used[n] += cost
                break
        else:
            bins.append([item])
            used.append(cost)
    return tuple(Request(tuple(sorted(b, key=lambda i: (i.area, i.db, i.start)))) for b in bins)


def describe(plan: ReadPlan) -> list[str]:
    """One line per request, for the log and `minegate` diagnostics."""
    area = {0x84: "DB", 0x83: "M", 0x81: "I", 0x82: "Q"}
    lines = []
    for n, r in enumerate(plan.requests, 1):
        parts = []
        for i in r.items:
            where = f"DB{i.db}" if i.area == 0x84 else area.get(i.area, hex(i.area))
            parts.append(f"{where}[{i.start}..{i.end - 1}]")
        lines.append(f"request {n}: {len(r.items)} items, {r.request_bytes}/{plan.pdu_size} B out, "
                     f"{r.reply_bytes}/{plan.pdu_size} B back: {' '.join(parts)}")
    return lines
