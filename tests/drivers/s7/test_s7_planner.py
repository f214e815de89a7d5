"""The read planner as a pure function: examples, then properties over random tag sets.

Request sizes are checked against the bytes python-snap7's encoder really produces, so the
budget arithmetic cannot drift from the wire.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from snap7.s7protocol import S7Protocol

from drivers.s7.planner import (
    MAX_ITEMS,
    Block,
    ReadPlan,
    max_payload,
    merge_spans,
    plan_reads,
    reply_size,
)

DB, M, I_, Q = 0x84, 0x83, 0x81, 0x82


def blk(key: int, start: int, size: int, area: int = DB, db: int = 1, alone: bool = False) -> Block:
    return Block(key, area, db if area == DB else 0, start, size, alone)


def test_neighbours_within_max_gap_share_one_span() -> None:
    spans, _ = merge_spans([blk(0, 0, 4), blk(1, 10, 2), blk(2, 40, 4)], max_gap=6)
    assert [(s.start, s.size, s.keys) for s in spans] == [(0, 12, (0, 1)), (40, 4, (2,))]


def test_max_gap_zero_merges_only_touching_and_overlapping_tags() -> None:
    spans, _ = merge_spans([blk(0, 0, 4), blk(1, 4, 2), blk(2, 7, 1), blk(3, 7, 1), blk(4, 0, 1)], max_gap=0)
    assert [(s.start, s.size) for s in spans] == [(0, 6), (7, 1)]


def test_areas_and_dbs_never_merge() -> None:
    blocks = [blk(0, 0, 2, DB, 1), blk(1, 2, 2, DB, 2), blk(2, 4, 2, M), blk(3, 6, 2, I_), blk(4, 8, 2, Q)]
    spans, _ = merge_spans(blocks, max_gap=100)
    assert len(spans) == 5


def test_isolated_blocks_stand_alone_without_splitting_their_neighbours() -> None:
    spans, _ = merge_spans([blk(0, 0, 4), blk(1, 4, 4, alone=True), blk(2, 8, 4), blk(3, 4, 4, alone=True)],
                           max_gap=32)
    assert sorted(s.keys for s in spans) == [(0, 2), (1,), (3,)]


def test_at_most_twenty_items_per_request() -> None:
    plan = plan_reads([blk(n, n * 100, 2) for n in range(45)], pdu_size=960, max_gap=0)
    assert [len(r.items) for r in plan.requests] == [20, 20, 5]


def test_item_count_is_capped_by_the_request_pdu_too() -> None:
    # a 240-byte PDU carries 12 + 12 n <= 240 -> 19 item addresses
    plan = plan_reads([blk(n, n * 100, 2) for n in range(40)], pdu_size=240, max_gap=0)
    assert max(len(r.items) for r in plan.requests) == 19


def test_a_string_longer_than_a_pdu_is_split_and_stays_covered() -> None:
    plan = plan_reads([blk(0, 18, 256)], pdu_size=240, max_gap=0)
    sizes = [i.size for r in plan.requests for i in r.items]
    assert sum(sizes) == 256 and max(sizes) <= max_payload(240) == 222


def test_a_real_is_never_torn_across_items() -> None:
    # 55 REALs back to back = 220 bytes + one more: the cut must fall between two REALs
    blocks = [blk(n, n * 4, 4) for n in range(60)]
    plan = plan_reads(blocks, pdu_size=240, max_gap=0)
    cuts = {i.start for r in plan.requests for i in r.items}
    assert all(c % 4 == 0 for c in cuts), cuts


def test_a_long_gap_inside_a_split_span_is_not_read() -> None:
    # 300 bytes at 0, then a tag at 400: with max_gap 200 they merge, but bytes 300..399 alone are never an item
    plan = plan_reads([blk(0, 0, 300), blk(1, 400, 4)], pdu_size=240, max_gap=200)
    read = sorted((i.start, i.end) for r in plan.requests for i in r.items)
    assert all(not (s >= 300 and e <= 400) for s, e in read), read


def test_many_small_tags_become_few_requests() -> None:
    # 2000 REALs, every third in the same DB: 3 spans of ~8 kB; the reply budget is what limits
    blocks = [blk(n, n * 4, 4, DB, 1 + n % 3) for n in range(2000)]
    plan = plan_reads(blocks, pdu_size=480, max_gap=32)
    needed = -(-sum(s.size for s in plan.spans) // max_payload(480))
    assert len(plan.requests) == needed == 52


# -- properties -------------------------------------------------------------------------------
AREAS = st.sampled_from([(DB, 1), (DB, 2), (DB, 7), (M, 0), (I_, 0), (Q, 0)])
SIZES = st.sampled_from([1, 1, 2, 2, 4, 4, 8, 12, 22, 256])


@st.composite
def block_sets(draw: st.DrawFn) -> list[Block]:
    n = draw(st.integers(1, 80))
    out = []
    for k in range(n):
        area, db = draw(AREAS)
        out.append(Block(k, area, db, draw(st.integers(0, 3000)), draw(SIZES), draw(st.booleans()) and k % 7 == 0))
    return out


def wire_request_size(plan_items: list[tuple[int, int, int, int]]) -> int:
    return len(S7Protocol().build_multi_read_request(plan_items))


def check_plan(plan: ReadPlan, blocks: list[Block], pdu: int, max_items: int) -> None:
    limit = max_payload(pdu)
    items = [i for r in plan.requests for i in r.items]
    # budgets, measured against the real encoder and the exact reply layout
    for r in plan.requests:
        assert 1 <= len(r.items) <= min(max_items, MAX_ITEMS)
        spec = [(i.area, i.db, i.start, i.size) for i in r.items]
        assert wire_request_size(spec) == r.request_bytes <= pdu
        assert reply_size([i.size for i in r.items]) <= pdu
    # every tag byte is covered, through the span the tag belongs to
    span_of = {k: n for n, s in enumerate(plan.spans) for k in s.keys}
    assert sorted(span_of, key=repr) == sorted((b.key for b in blocks), key=repr)
    for b in blocks:
        span = plan.spans[span_of[b.key]]
        assert (span.area, span.db) == (b.area, b.db) and span.start <= b.start and b.end <= span.end
        covered: set[int] = set()
        for i in items:
            if i.span == span_of[b.key]:
                assert (i.area, i.db, i.start - i.offset) == (span.area, span.db, span.start)
                covered.update(range(i.start, i.end))
        assert set(range(b.start, b.end)) <= covered
        overlapped = any(o is not b and (o.area, o.db) == (b.area, b.db) and o.start < b.end and b.start < o.end
                         for o in blocks)
        if b.size <= limit and not overlapped:  # a value that fits one item is read by one item, never torn
            assert any(i.span == span_of[b.key] and i.start <= b.start and b.end <= i.end for i in items)
        if b.alone:
            assert span.keys == (b.key,)
    # no item is made of unused bytes only, and items never overlap
    for i in items:
        assert any(b.area == i.area and b.db == i.db and b.start < i.end and i.start < b.end for b in blocks)
    alone = {n for n, s in enumerate(plan.spans) if any(b.alone for b in blocks if b.key in s.keys)}
    for x_item in items:
        for y_item in items:
            if x_item is not y_item and (x_item.area, x_item.db) == (y_item.area, y_item.db) \
                    and not ({x_item.span, y_item.span} & alone):
                assert x_item.end <= y_item.start or y_item.end <= x_item.start
    # first fit: no two requests could have been one
    per = min(max_items, (pdu - 12) // 12)
    cost = [sum(4 + i.size + i.size % 2 for i in r.items) for r in plan.requests]
    for x in range(len(plan.requests)):
        for y in range(x + 1, len(plan.requests)):
            n = len(plan.requests[x].items) + len(plan.requests[y].items)
            assert n > per or 14 + cost[x] + cost[y] > pdu


@settings(max_examples=120, deadline=None, database=None)
@given(blocks=block_sets(), pdu=st.sampled_from([240, 480, 960]) | st.integers(128, 960),
       max_gap=st.integers(0, 64), max_items=st.integers(1, 20))
def test_plan_covers_every_tag_within_every_budget(blocks: list[Block], pdu: int, max_gap: int,
                                                   max_items: int) -> None:
    plan = plan_reads(blocks, pdu, max_gap, max_items)
    check_plan(plan, blocks, pdu, max_items)


@settings(max_examples=60, deadline=None, database=None)
@given(blocks=block_sets(), pdu=st.sampled_from([240, 480, 960]))
def test_a_larger_gap_never_costs_more_items(blocks: list[Block], pdu: int) -> None:
    tight = plan_reads(blocks, pdu, max_gap=0)
    loose = plan_reads(blocks, pdu, max_gap=16)
    assert len(loose.spans) <= len(tight.spans)
