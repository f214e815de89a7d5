"""The request planner as pure functions, with property tests against reference plans."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.address import Table
from drivers.modbus.planner import Holes, Item, Span, plan, split
from drivers.modbus.settings import PlanOptions

REG_TABLES = (Table.HR, Table.IR)


def items_of(*ranges: tuple[int, int], table: Table = Table.HR, unit: int = 1) -> list[Item]:
    return [Item(k, unit, table, start, count) for k, (start, count) in enumerate(ranges)]


def bounds(spans: Sequence[Span]) -> list[tuple[int, int]]:
    return [(s.start, s.count) for s in spans]


def test_adjacent_and_small_gaps_merge_into_one_request() -> None:
    spans = plan(items_of((0, 2), (2, 2), (10, 1), (20, 4)), PlanOptions(max_gap=16))
    assert bounds(spans) == [(0, 24)]


def test_a_gap_wider_than_max_gap_splits() -> None:
    spans = plan(items_of((0, 2), (19, 1)), PlanOptions(max_gap=16))
    assert bounds(spans) == [(0, 2), (19, 1)]
    assert bounds(plan(items_of((0, 2), (18, 1)), PlanOptions(max_gap=16))) == [(0, 19)]


def test_max_gap_zero_merges_only_touching_registers() -> None:
    spans = plan(items_of((0, 2), (2, 1), (4, 1)), PlanOptions(max_gap=0))
    assert bounds(spans) == [(0, 3), (4, 1)]


def test_cap_limits_every_request() -> None:
    items = items_of(*[(i * 2, 2) for i in range(100)])  # 200 contiguous registers
    spans = plan(items, PlanOptions(max_registers=125))
    assert bounds(spans) == [(0, 124), (124, 76)]
    assert bounds(plan(items, PlanOptions(max_registers=10))) == [(i, 10) for i in range(0, 200, 10)]


def test_bits_use_their_own_cap_and_gap() -> None:
    items = items_of(*[(i, 1) for i in range(0, 3000, 3)], table=Table.CO)
    spans = plan(items, PlanOptions(max_bits=2000, max_gap_bits=2))
    assert [s.count for s in spans] == [1999, 997]
    assert all(s.table is Table.CO for s in spans)


def test_units_and_tables_are_never_mixed() -> None:
    items = [Item(0, 1, Table.HR, 0, 1), Item(1, 2, Table.HR, 1, 1), Item(2, 1, Table.IR, 1, 1),
             Item(3, 1, Table.HR, 2, 1)]
    spans = plan(items, PlanOptions())
    assert [(s.unit, s.table, s.start, s.count) for s in spans] == [
        (1, Table.HR, 0, 3), (1, Table.IR, 1, 1), (2, Table.HR, 1, 1)]


def test_one_request_per_tag_keeps_tags_on_the_same_registers_together() -> None:
    items = items_of((0, 2), (0, 2), (2, 1), (3, 1))
    spans = plan(items, PlanOptions(one_request_per_tag=True))
    assert bounds(spans) == [(0, 2), (2, 1), (3, 1)]
    assert [len(s.items) for s in spans] == [2, 1, 1]


def test_overlapping_tags_share_one_read() -> None:
    # a uint16 and two of its bits, a float over HR10-11 and a uint16 view of HR11
    spans = plan(items_of((5, 1), (5, 1), (5, 1), (10, 2), (11, 1)), PlanOptions(max_gap=0))
    assert bounds(spans) == [(5, 1), (10, 2)]


def test_a_hole_is_never_bridged() -> None:
    holes = Holes()
    holes.add(1, Table.HR, 4, 6)
    spans = plan(items_of((0, 2), (8, 2), (10, 2)), PlanOptions(), holes)
    assert bounds(spans) == [(0, 2), (8, 4)]


def test_a_tag_on_a_hole_is_read_alone() -> None:
    holes = Holes()
    holes.add(1, Table.HR, 5, 6)
    spans = plan(items_of((0, 2), (5, 1), (7, 2)), PlanOptions(), holes)
    assert bounds(spans) == [(0, 2), (5, 1), (7, 2)]


def test_a_barrier_splits_touching_registers() -> None:
    holes = Holes()
    holes.add_barrier(1, Table.HR, 100)
    spans = plan(items_of((98, 2), (100, 2)), PlanOptions(), holes)
    assert bounds(spans) == [(98, 2), (100, 2)]


def test_holes_only_apply_to_their_unit_and_table() -> None:
    holes = Holes()
    holes.add(2, Table.HR, 4, 6)
    holes.add(1, Table.IR, 4, 6)
    assert bounds(plan(items_of((0, 2), (8, 2)), PlanOptions(), holes)) == [(0, 10)]


def test_holes_merge_and_report() -> None:
    holes = Holes()
    assert holes.add(1, Table.HR, 4, 6)
    assert not holes.add(1, Table.HR, 4, 5)  # already known
    assert holes.add(1, Table.HR, 6, 9)
    assert holes.add_barrier(1, Table.HR, 20)
    assert not holes.add_barrier(1, Table.HR, 20)
    assert holes.ranges() == [(1, Table.HR, 4, 9), (1, Table.HR, 20, 20)]
    assert len(holes) == 2
    assert holes.describe() == ["unit 1 HR4-HR8", "unit 1 HR19|HR20 (cannot be read across)"]
    assert holes.hits(1, Table.HR, 8, 12) and not holes.hits(1, Table.HR, 9, 12)
    assert holes.crosses(1, Table.HR, 19, 21) and not holes.crosses(1, Table.HR, 20, 22)


def test_split_halves_along_cluster_boundaries() -> None:
    span = plan(items_of((0, 1), (0, 1), (2, 1), (4, 1), (6, 1)), PlanOptions())[0]
    left, right = split(span) or (None, None)
    assert left is not None and right is not None
    assert (left.start, left.end, right.start, right.end) == (0, 3, 4, 7)
    assert split(plan(items_of((0, 2), (1, 1)), PlanOptions())[0]) is None


def test_span_description() -> None:
    span = plan(items_of((0, 2), (10, 1)), PlanOptions())[0]
    assert span.describe() == "FC3 unit 1 HR0-HR10 (11 registers, 2 tags)"


# -- properties -------------------------------------------------------------------------------

@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Item], PlanOptions]:
    cap = draw(st.integers(1, 40))
    gap = draw(st.integers(0, 12))
    items = []
    for k in range(draw(st.integers(1, 30))):
        table = draw(st.sampled_from(list(Table)))
        bits = table.is_bits
        count = 1 if bits else draw(st.integers(1, min(cap, 8)))
        start = draw(st.integers(0, 120))
        items.append(Item(k, draw(st.integers(1, 2)), table, start, count))
    opts = PlanOptions(max_registers=cap, max_bits=cap, max_gap=gap, max_gap_bits=gap,
                       one_request_per_tag=draw(st.booleans()) and draw(st.booleans()))
    return items, opts


def uncovered_runs(span: Span) -> list[int]:
    covered = [False] * span.count
    for it in span.items:
        for a in range(it.start, it.end):
            covered[a - span.start] = True
    runs, n = [], 0
    for c in covered:
        if c:
            if n:
                runs.append(n)
            n = 0
        else:
            n += 1
    return runs + ([n] if n else [])


def group_of(items: Sequence[Item]) -> dict[tuple[int, Table], list[Item]]:
    groups: dict[tuple[int, Table], list[Item]] = {}
    for it in items:
        groups.setdefault((it.unit, it.table), []).append(it)
    return groups


def run_fits(run: Sequence[Item], cap: int, gap: int) -> bool:
    start, end = min(i.start for i in run), max(i.end for i in run)
    if end - start > cap:
        return False
    span = Span(run[0].unit, run[0].table, start, end - start, tuple(run))
    return all(g <= gap for g in uncovered_runs(span))


def textbook_greedy(items: Sequence[Item], opts: PlanOptions) -> int:
    """The plain greedy: sorted by address, extend the request while it fits."""
    total = 0
    for (_, table), group in group_of(items).items():
        cap = opts.max_bits if table.is_bits else opts.max_registers
        gap = opts.max_gap_bits if table.is_bits else opts.max_gap
        run: list[Item] = []
        for it in sorted(group, key=lambda i: (i.start, -i.count)):
            if run and run_fits([*run, it], cap, gap):
                run.append(it)
            else:
                total += bool(run)
                run = [it]
        total += bool(run)
    return total


def optimum_of_runs(items: Sequence[Item], opts: PlanOptions) -> int:
    """Brute force: the best split of the sorted items into consecutive requests."""
    total = 0
    for (_, table), group in group_of(items).items():
        cap = opts.max_bits if table.is_bits else opts.max_registers
        gap = opts.max_gap_bits if table.is_bits else opts.max_gap
        g = sorted(group, key=lambda i: (i.start, -i.count))
        best = [0] + [10**9] * len(g)
        for j in range(1, len(g) + 1):
            for i in range(j):
                if best[i] + 1 < best[j] and run_fits(g[i:j], cap, gap):
                    best[j] = best[i] + 1
        total += best[-1]
    return total


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_every_tag_covered_no_request_over_the_cap_and_no_wide_gap(scenario: tuple[list[Item], PlanOptions]) -> None:
    items, opts = scenario
    spans = plan(items, opts)
    seen = sorted(it.key for s in spans for it in s.items)
    assert seen == sorted(it.key for it in items)
    for s in spans:
        cap = opts.max_bits if s.table.is_bits else opts.max_registers
        gap = opts.max_gap_bits if s.table.is_bits else opts.max_gap
        assert 1 <= s.count <= cap
        for it in s.items:
            assert (it.unit, it.table) == (s.unit, s.table) and s.start <= it.start and it.end <= s.end
        assert min(it.start for it in s.items) == s.start and max(it.end for it in s.items) == s.end
        if not opts.one_request_per_tag:
            assert all(g <= gap for g in uncovered_runs(s))
    order = [(s.unit, list(Table).index(s.table), s.start) for s in spans]
    assert order == sorted(order)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_no_more_requests_than_the_greedy_optimum(scenario: tuple[list[Item], PlanOptions]) -> None:
    items, opts = scenario
    spans = plan(items, opts)
    if opts.one_request_per_tag:
        assert len(spans) == len({(i.unit, i.table, i.start, i.count) for i in items})
        return
    assert len(spans) <= textbook_greedy(items, opts)
    assert len(spans) <= optimum_of_runs(items, opts)


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.lists(st.tuples(st.integers(0, 130), st.integers(1, 6)), max_size=4),
       st.lists(st.integers(1, 130), max_size=3))
def test_no_request_bridges_a_hole_or_crosses_a_barrier(scenario: tuple[list[Item], PlanOptions],
                                                        hole_list: list[tuple[int, int]], barriers: list[int]) -> None:
    items, opts = scenario
    holes = Holes()
    for unit in (1, 2):
        for table in Table:
            for start, width in hole_list:
                holes.add(unit, table, start, start + width)
            for x in barriers:
                holes.add_barrier(unit, table, x)
    spans = plan(items, opts, holes)
    assert sorted(it.key for s in spans for it in s.items) == sorted(it.key for it in items)
    for s in spans:
        if holes.hits(s.unit, s.table, s.start, s.end) or holes.crosses(s.unit, s.table, s.start, s.end):
            # only a request that cannot be made smaller may touch a hole: its tags overlap each other
            assert (uncovered_runs(s) == [] and split(s) is None) or opts.one_request_per_tag, s
