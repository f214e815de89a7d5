"""Request planning: the fewest Modbus reads that cover a set of tags (pure, no I/O).

Every tag becomes an `Item` (unit, table, first address, width). Items are sorted by
(unit, table, address); items that share registers are merged into clusters first (they must be
read together anyway), then consecutive clusters are merged greedily while the request stays
within the per-device cap and the unused registers bridged between two clusters stay within
`max_gap`. A request may never bridge a known hole (addresses the device refuses) nor run across
a barrier (an address its internal blocks cannot be read across): a cluster that touches a hole is
read on its own, so the tags beside a hole stay readable.

Greedy is optimal here: whether a run of consecutive clusters fits in one request only gets
easier when the run shrinks, and for such problems taking the longest fitting run first never
costs an extra request. The property tests check this against a brute-force optimum.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from drivers.modbus.address import Table
from drivers.modbus.settings import PlanOptions

_TABLE_ORDER = {t: i for i, t in enumerate(Table)}


@dataclass(frozen=True, slots=True)
class Item:
    """What the planner needs of a tag; `key` identifies the tag to the caller."""

    key: int
    unit: int
    table: Table
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


@dataclass(frozen=True, slots=True)
class Span:
    """One read request: `count` registers (or bits) from `start`, serving `items`."""

    unit: int
    table: Table
    start: int
    count: int
    items: tuple[Item, ...]

    @property
    def end(self) -> int:
        return self.start + self.count

    def describe(self) -> str:
        unit = "bits" if self.table.is_bits else "registers"
        last = f"-{self.table.prefix}{self.end - 1}" if self.count > 1 else ""
        return (f"FC{self.table.read_fc} unit {self.unit} {self.table.prefix}{self.start}{last} "
                f"({self.count} {unit}, {len(self.items)} tags)")


def span_of(items: Sequence[Item]) -> Span:
    first = items[0]
    start = min(i.start for i in items)
    end = max(i.end for i in items)
    return Span(first.unit, first.table, start, end - start, tuple(items))


class Holes:
    """What a device refused with ILLEGAL DATA ADDRESS, per (unit, table): address ranges it does
    not map (holes), and barriers — addresses `x` where a request must not run from `x - 1` into
    `x` although both sides read fine alone (devices whose internal blocks cannot be read across)."""

    def __init__(self) -> None:
        self._ranges: dict[tuple[int, Table], list[tuple[int, int]]] = {}
        self._barriers: dict[tuple[int, Table], list[int]] = {}
        self.version = 0

    def add_barrier(self, unit: int, table: Table, at: int) -> bool:
        barriers = self._barriers.setdefault((unit, table), [])
        i = bisect_right(barriers, at)
        if i and barriers[i - 1] == at:
            return False
        barriers.insert(i, at)
        self.version += 1
        return True

    def crosses(self, unit: int, table: Table, start: int, end: int) -> bool:
        """Whether a request `[start, end)` would run across a barrier."""
        barriers = self._barriers.get((unit, table))
        if not barriers:
            return False
        i = bisect_right(barriers, start)
        return i < len(barriers) and barriers[i] < end

    def add(self, unit: int, table: Table, start: int, end: int) -> bool:
        """Remember `[start, end)`; return whether it was new."""
        if end <= start or self.covers(unit, table, start, end):
            return False
        merged: list[tuple[int, int]] = []
        lo, hi = start, end
        for a, b in self._ranges.get((unit, table), []):
            if b < lo or a > hi:
                merged.append((a, b))
            else:
                lo, hi = min(lo, a), max(hi, b)
        merged.append((lo, hi))
        merged.sort()
        self._ranges[(unit, table)] = merged
        self.version += 1
        return True

    def covers(self, unit: int, table: Table, start: int, end: int) -> bool:
        ranges = self._ranges.get((unit, table))
        if not ranges:
            return False
        i = bisect_right(ranges, (start, 1 << 30)) - 1
        return i >= 0 and ranges[i][0] <= start and end <= ranges[i][1]

    def hits(self, unit: int, table: Table, start: int, end: int) -> bool:
        """Whether any remembered hole lies inside `[start, end)`."""
        ranges = self._ranges.get((unit, table))
        if not ranges or end <= start:
            return False
        i = bisect_right(ranges, (end, -1)) - 1
        while i >= 0:
            a, b = ranges[i]
            if b <= start:
                return False
            if a < end:
                return True
            i -= 1
        return False

    def ranges(self) -> list[tuple[int, Table, int, int]]:
        """Holes as `(unit, table, start, end)`; a barrier at `x` shows as `(unit, table, x, x)`."""
        out = [(u, t, a, b) for (u, t), rs in self._ranges.items() for a, b in rs]
        out += [(u, t, x, x) for (u, t), xs in self._barriers.items() for x in xs]
        return sorted(out, key=lambda r: (r[0], _TABLE_ORDER[r[1]], r[2], r[3]))

    def describe(self) -> list[str]:
        out = []
        for unit, table, a, b in self.ranges():
            p = table.prefix
            if a == b:
                out.append(f"unit {unit} {p}{a - 1}|{p}{a} (cannot be read across)")
            else:
                out.append(f"unit {unit} {p}{a}" + (f"-{p}{b - 1}" if b - a > 1 else ""))
        return out

    def __len__(self) -> int:
        return sum(len(rs) for rs in self._ranges.values()) + sum(len(xs) for xs in self._barriers.values())


def plan(items: Iterable[Item], options: PlanOptions, holes: Holes | None = None) -> list[Span]:
    """The requests that read every item, ordered by (unit, table, address)."""
    groups: dict[tuple[int, Table], list[Item]] = {}
    for item in items:
        groups.setdefault((item.unit, item.table), []).append(item)
    spans: list[Span] = []
    for unit, table in sorted(groups, key=lambda g: (g[0], _TABLE_ORDER[g[1]])):
        group = sorted(groups[(unit, table)], key=lambda i: (i.start, -i.count, i.key))
        if options.one_request_per_tag:
            spans.extend(_one_per_range(group))
            continue
        cap = options.max_bits if table.is_bits else options.max_registers
        gap = options.max_gap_bits if table.is_bits else options.max_gap
        spans.extend(_merge(_clusters(group, cap), cap, gap, holes))
    return spans


def _one_per_range(group: list[Item]) -> list[Span]:
    """One request per distinct register range (tags on the very same registers share it)."""
    by_range: dict[tuple[int, int], list[Item]] = {}
    for item in group:
        by_range.setdefault((item.start, item.count), []).append(item)
    return [span_of(items) for items in by_range.values()]


def _clusters(group: list[Item], cap: int) -> list[list[Item]]:
    """Merge items that share registers; a chain of overlaps wider than `cap` is cut."""
    clusters: list[list[Item]] = []
    end = -1
    start = -1
    for item in group:
        if clusters and item.start < end and max(end, item.end) - start <= cap:
            clusters[-1].append(item)
            end = max(end, item.end)
        else:
            clusters.append([item])
            start, end = item.start, item.end
    return clusters


def _merge(clusters: list[list[Item]], cap: int, gap: int, holes: Holes | None) -> list[Span]:
    spans: list[Span] = []
    current: list[Item] = []
    start = end = 0
    alone = False  # the current request touches a hole: nothing may join it
    for cluster in clusters:
        c_start = min(i.start for i in cluster)
        c_end = max(i.end for i in cluster)
        unit, table = cluster[0].unit, cluster[0].table
        c_hole = holes is not None and holes.hits(unit, table, c_start, c_end)
        if (current and not alone and not c_hole and c_end - start <= cap and c_start >= end
                and c_start - end <= gap
                and not (holes is not None and (holes.hits(unit, table, end, c_start)
                                                or holes.crosses(unit, table, start, c_end)))):
            current.extend(cluster)
            end = max(end, c_end)
            continue
        if current:
            spans.append(span_of(current))
        current = list(cluster)
        start, end, alone = c_start, c_end, c_hole
    if current:
        spans.append(span_of(current))
    return spans


def split(span: Span) -> tuple[Span, Span] | None:
    """Halve a request along cluster boundaries (to find a hole); None when it cannot be split."""
    items = sorted(span.items, key=lambda i: (i.start, -i.count, i.key))
    cuts: list[int] = []
    end = -1
    for n, item in enumerate(items):
        if n and item.start >= end:
            cuts.append(n)
        end = max(end, item.end)
    if not cuts:
        return None
    mid = cuts[len(cuts) // 2]  # half of the clusters on each side
    return span_of(items[:mid]), span_of(items[mid:])
