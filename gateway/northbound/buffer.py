"""The store-and-forward buffer: an SQLite (WAL) file between the device loops and every sink.

Why it is shaped this way:
- One writer thread owns the write connection and commits whatever arrived meanwhile in one
  transaction (group commit): each `append` is durable (fsync'd) when it returns, yet a burst of
  devices costs one fsync, not one each. Many devices polled once a second do not arrive in
  bursts but one after another, so once `group_devices` of them append within a second, rounds
  start at most every `group_gap` (20 ms): ~50 commits a second however many devices. The
  transaction that stores a batch also assigns its `seq` (`next_seq` in `meta`), so a seq is
  never reused or skipped, across restarts too.
- Each sink has a cursor (everything <= cursor acknowledged). Acknowledgements are kept in
  memory and written by the next round; losing the last few on a crash only means redelivery,
  which consumers remove by `(epoch, seq)`. A batch is deleted once every sink's cursor passed it.
- The limits (`max_bytes`, `max_age`) drop the oldest batches. What a sink had not yet
  delivered is recorded per sink as `[epoch, first_seq, last_seq]` ranges (kept in the file, so
  they are still announced after a restart), counted and logged.
- Recent batches are also kept in a small in-memory ring, with their uncompressed `samples`
  array when the caller passed it, so a sink that keeps up never reads the disk nor inflates;
  a sink with a backlog reads it in seq order from its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.northbound.encoding import decode

log = logging.getLogger("gateway.northbound.buffer")

SCHEMA_VERSION = "1"
MAX_RANGES_PER_SINK = 100
"""Dropped ranges kept (and announced) per sink; older ones are forgotten."""
GROUP_DEVICES = 8
GROUP_GAP = 0.02
"""When at least GROUP_DEVICES devices appended in the last second, rounds (commits) start at
most every GROUP_GAP seconds, each taking every batch that arrived meanwhile: ~50 fsyncs a
second however many devices, for at most GROUP_GAP more latency."""
AGES_EVERY = 0.5
"""Seconds between reads of the oldest batch times during a busy stream of rounds."""
LOW_WATER = 0.9
"""When over `max_bytes`, drop down to this fraction so a full buffer does not drop on every append."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches(
    seq INTEGER PRIMARY KEY, created REAL NOT NULL, device TEXT NOT NULL,
    n INTEGER NOT NULL, enc INTEGER NOT NULL, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cursors(sink TEXT PRIMARY KEY, acked INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drops(
    id INTEGER PRIMARY KEY, sink TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    samples INTEGER NOT NULL, at REAL NOT NULL);
"""


class BufferClosed(RuntimeError):
    """The buffer was closed while a batch was waiting to be stored."""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored batch as a sink sees it."""

    seq: int
    created: float
    device: str
    count: int
    encoding: int
    blob: bytes
    raw: bytes | None = None
    """The uncompressed `samples` array, kept only while the record sits in the memory ring."""

    def samples_json(self) -> bytes:
        return self.raw if self.raw is not None else decode(self.encoding, self.blob)

    @property
    def size(self) -> int:
        return len(self.blob) + (len(self.raw) if self.raw is not None else 0) + len(self.device) + 40


@dataclass(frozen=True, slots=True)
class DropRange:
    """Batches `first..last` (inclusive) of `epoch` that `sink` will never deliver."""

    sink: str
    epoch: str
    first: int
    last: int
    samples: int
    at: float

    def announce(self) -> list[Any]:
        return [self.epoch, self.first, self.last]


@dataclass(slots=True)
class _Append:
    device: str
    count: int
    encoding: int
    blob: bytes
    future: asyncio.Future[int]
    loop: asyncio.AbstractEventLoop
    raw: bytes | None = None


@dataclass(slots=True)
class _Barrier:
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _SinkState:
    cursor: int
    pending_samples: int = 0
    acked_above: dict[int, int] = field(default_factory=dict)
    delivered_batches: int = 0
    delivered_samples: int = 0
    dropped_batches: int = 0
    dropped_samples: int = 0
    oldest_undelivered: float | None = None


_STOP = object()


def _resolve(fut: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class Buffer:
    """Disk-backed queue of sample batches with per-sink acknowledgement."""

    def __init__(
        self,
        path: str,
        sinks: Sequence[str],
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age: float = 7 * 86400.0,
        durable: bool = True,
        clock: Callable[[], float] = time.time,
        ring_bytes: int = 16 * 1024 * 1024,
        round_period: float = 0.2,
        group_devices: int = GROUP_DEVICES,
        group_gap: float = GROUP_GAP,
        on_drop: Callable[[list[DropRange]], None] | None = None,
    ) -> None:
        self.path = path
        self.sinks = tuple(sinks)
        if len(set(self.sinks)) != len(self.sinks):
            raise ValueError(f"sink names must be unique, got {', '.join(self.sinks)}")
        self.max_bytes = max(int(max_bytes), 64 * 1024)
        self.max_age = float(max_age)
        self.durable = durable
        self.clock = clock
        self.ring_bytes = ring_bytes
        self.round_period = round_period
        self.group_devices = group_devices
        self.group_gap = group_gap
        self.rounds = 0
        """Writer rounds so far (each commits whatever arrived since the previous one)."""
        self.on_drop = on_drop
        self.epoch = ""
        self.moved_aside: str | None = None
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._next_seq = 1
        self._stored_head = 0
        self._last_created = 0.0
        self._released_through = 0
        self._sink: dict[str, _SinkState] = {}
        self._cursors_dirty = False
        self._ring: deque[Record] = deque()
        self._ring_size = 0
        self._depth_batches = 0
        self._depth_samples = 0
        self._oldest_created: float | None = None
        self._used_bytes = 0
        self._dropped_batches = 0
        self._dropped_samples = 0
        self._ranges: dict[str, list[DropRange]] = {}
        self._failed_appends = 0
        self._txn_delta = [0, 0]  # batches, samples added (-removed) by the open transaction
        self._txn_released = 0
        self._txn_used: int | None = None  # bytes in use as the open transaction's limit check saw them
        self._page_size: int | None = None
        self._free_pages = 0
        self._ages_at = 0.0  # when the ages were last read from the file (monotonic)
        self._closed = False
        self._readers: list[sqlite3.Connection] = []
        # loop side
        self._loop: asyncio.AbstractEventLoop | None = None
        self._head = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- opening -----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new file
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        conn.execute("PRAGMA journal_size_limit=8388608")
        return conn

    def _init(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if "epoch" not in meta:
            self.epoch = secrets.token_hex(8)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [("epoch", self.epoch), ("next_seq", "1"), ("version", SCHEMA_VERSION),
                 ("created", repr(self.clock()))],
            )
            conn.execute("COMMIT")
            log.info("buffer %s: new file, epoch %s", self.path, self.epoch)
        else:
            if meta.get("version") != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"unsupported buffer version {meta.get('version')!r}")
            self.epoch = meta["epoch"]
        self._next_seq = int(conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0])

    def open(self) -> None:
        """Open (or create) the file and start the writer thread; blocking, call via a thread."""
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        try:
            conn = self._connect()
            self._init(conn)
            conn.execute("SELECT count(*) FROM batches").fetchone()
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(Exception):
                conn.close()
            self.moved_aside = f"{self.path}.corrupt-{int(time.time())}"
            log.error("buffer %s is unreadable (%s): moved aside to %s, starting a new epoch",
                      self.path, exc, self.moved_aside)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.replace(self.path + suffix, self.moved_aside + suffix)
            conn = self._connect()
            self._init(conn)
        self._conn = conn
        self._load_state(conn)
        self._thread = threading.Thread(target=self._writer_main, name="northbound-buffer", daemon=True)
        self._thread.start()

    def _load_state(self, conn: sqlite3.Connection) -> None:
        first = conn.execute("SELECT min(seq), count(*), coalesce(sum(n), 0) FROM batches").fetchone()
        oldest_seq = first[0] if first[0] is not None else self._next_seq
        self._depth_batches, self._depth_samples = int(first[1]), int(first[2])
        self._released_through = oldest_seq - 1
        stored = dict(conn.execute("SELECT sink, acked FROM cursors").fetchall())
        conn.execute("BEGIN IMMEDIATE")
        for gone in set(stored) - set(self.sinks):
            log.warning("buffer %s: sink %r is no longer configured; forgetting its cursor", self.path, gone)
            conn.execute("DELETE FROM cursors WHERE sink=?", (gone,))
            conn.execute("DELETE FROM drops WHERE sink=?", (gone,))
        for name in self.sinks:
            cursor = max(int(stored.get(name, oldest_seq - 1)), oldest_seq - 1)
            if name not in stored:
                conn.execute("INSERT INTO cursors(sink, acked) VALUES (?, ?)", (name, cursor))
            pending = conn.execute("SELECT coalesce(sum(n), 0) FROM batches WHERE seq > ?", (cursor,)).fetchone()
            self._sink[name] = _SinkState(cursor=cursor, pending_samples=int(pending[0]))
        conn.execute("COMMIT")
        for sink, first_seq, last_seq, samples, at in conn.execute(
            "SELECT sink, first, last, samples, at FROM drops ORDER BY id"
        ):
            self._ranges.setdefault(sink, []).append(DropRange(sink, self.epoch, first_seq, last_seq, samples, at))
        row = conn.execute("SELECT max(created) FROM batches").fetchone()
        self._last_created = float(row[0]) if row[0] is not None else 0.0
        self._head = self._stored_head = self._next_seq - 1
        self._refresh_ages(conn)
        self._used_bytes = self._used(conn)

    # -- loop-side API -----------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def append(self, device: str, count: int, encoding: int, blob: bytes, raw: bytes | None = None) -> int:
        """Store one batch; returns its seq once it is on disk. `raw`, the batch's uncompressed
        `samples` array when the caller has it, is kept in the memory ring only (never on disk)."""
        if self._thread is None or self._closed:
            raise BufferClosed("buffer is not open")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        fut: asyncio.Future[int] = loop.create_future()
        self._queue.put(_Append(device, count, encoding, blob, fut, loop, raw))
        return await fut

    async def sync(self) -> None:
        """Wait until acknowledgements given so far are on disk and releases are done."""
        if self._thread is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Barrier(fut, loop))
        await fut

    def cursor(self, sink: str) -> int:
        with self._lock:
            return self._sink[sink].cursor

    @property
    def head(self) -> int:
        """Seq of the newest stored batch (0 when none was ever stored)."""
        return self._stored_head

    def ack(self, sink: str, seq: int, count: int) -> None:
        """`sink` delivered batch `seq` (of `count` samples); any order, duplicates ignored."""
        with self._lock:
            st = self._sink[sink]
            if seq <= st.cursor or seq in st.acked_above:
                return
            st.acked_above[seq] = count
            st.delivered_batches += 1
            st.delivered_samples += count
            c = st.cursor
            while c + 1 in st.acked_above:
                c += 1
                st.pending_samples -= st.acked_above.pop(c)
            if c != st.cursor:
                st.cursor = c
                self._cursors_dirty = True

    def drop_ranges(self, sink: str) -> list[DropRange]:
        with self._lock:
            return list(self._ranges.get(sink, ()))

    async def wait_beyond(self, seq: int, within: float | None = None) -> bool:
        """Wait until a batch newer than `seq` is stored; False on timeout."""
        if self._head > seq or self.head > seq:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (seq, fut)
        self._waiters.append(entry)
        try:
            if within is None:
                await fut
            else:
                await asyncio.wait_for(fut, within)
            return True
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def _wake(self, head: int) -> None:
        self._head = max(self._head, head)
        for seq, fut in list(self._waiters):
            if self._head > seq and not fut.done():
                fut.set_result(None)

    def _read_ring(self, after: int, limit: int, max_bytes: int) -> list[Record] | None:
        with self._lock:
            if not self._ring or self._ring[0].seq > after + 1:
                return None
            start = after + 1 - self._ring[0].seq
            if start < len(self._ring) and self._ring[start].seq != after + 1:
                return None
            out: list[Record] = []
            size = 0
            for i in range(start, min(len(self._ring), start + limit)):
                rec = self._ring[i]
                out.append(rec)
                size += rec.size
                if size >= max_bytes:
                    break
            return out

    def reader(self) -> sqlite3.Connection:
        """A read connection for one sink (used from one thread at a time)."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._readers.append(conn)
        return conn

    def _read_disk(self, conn: sqlite3.Connection, after: int, limit: int, max_bytes: int) -> list[Record]:
        out: list[Record] = []
        size = 0
        rows = conn.execute(
            "SELECT seq, created, device, n, enc, blob FROM batches WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        for seq, created, device, n, enc, blob in rows:
            rec = Record(seq, created, device, n, enc, bytes(blob))
            out.append(rec)
            size += rec.size
            if size >= max_bytes:
                break
        return out

    async def read(
        self, conn: sqlite3.Connection, after: int, limit: int = 1000, max_bytes: int = 4 * 1024 * 1024
    ) -> list[Record]:
        """Stored batches newer than `after`, oldest first (from memory when recent)."""
        recs = self._read_ring(after, limit, max_bytes)
        if recs is not None:
            return recs
        return await asyncio.to_thread(self._read_disk, conn, after, limit, max_bytes)

    def stats(self) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            sinks = {
                name: {
                    "cursor": st.cursor,
                    "pending_batches": max(0, self.head - st.cursor),
                    "pending_samples": max(0, st.pending_samples),
                    "oldest_undelivered_age": None if st.oldest_undelivered is None
                    else round(max(0.0, now - st.oldest_undelivered), 3),
                    "delivered_batches": st.delivered_batches,
                    "delivered_samples": st.delivered_samples,
                    "dropped_batches": st.dropped_batches,
                    "dropped_samples": st.dropped_samples,
                }
                for name, st in self._sink.items()
            }
            return {
                "path": self.path,
                "epoch": self.epoch,
                "head_seq": self.head,
                "depth_batches": self._depth_batches,
                "depth_samples": self._depth_samples,
                "used_bytes": self._used_bytes,
                "max_bytes": self.max_bytes,
                "oldest_age": None if self._oldest_created is None
                else round(max(0.0, now - self._oldest_created), 3),
                "dropped_batches": self._dropped_batches,
                "dropped_samples": self._dropped_samples,
                "failed_appends": self._failed_appends,
                "sinks": sinks,
            }

    def close(self) -> None:
        """Persist cursors, checkpoint and close; blocking, call via a thread."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        for conn in self._readers:
            with contextlib.suppress(Exception):
                conn.close()
        self._readers.clear()

    # -- writer thread -----------------------------------------------------------------------
    def _writer_main(self) -> None:
        conn = self._conn
        assert conn is not None
        stop = False
        last_round = 0.0
        seen: set[str] = set()  # devices that appended in the current second
        seen_since = time.monotonic()
        many = False  # many devices appended in the last full second
        while not stop:
            items: list[Any] = []
            try:
                items.append(self._queue.get(timeout=self.round_period))
            except queue.Empty:
                pass
            while len(items) < 2000:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if many and items:
                self._gather(items, last_round + self.group_gap)
            for item in items:
                if isinstance(item, _Append):
                    seen.add(item.device)
            now = time.monotonic()
            if now - seen_since >= 1.0:
                many, seen_since = len(seen) >= self.group_devices, now
                seen.clear()
            last_round = now
            stop = any(item is _STOP for item in items)
            try:
                self.rounds += 1
                self._round(conn, [i for i in items if i is not _STOP])
            except Exception:  # a round must never kill the writer: log and go on
                log.exception("buffer %s: writer round failed", self.path)
        with contextlib.suppress(Exception):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(Exception):
            conn.close()
        # anything that raced with the stop
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, (_Append, _Barrier)):
                self._call(item.loop, _resolve, item.future, None, BufferClosed("buffer closed"))

    def _gather(self, items: list[Any], until: float) -> None:
        """Group commit for a gateway with many devices: their batches trickle in one at a time,
        so without this every batch would cost a commit (an fsync and a dozen statements) of its
        own. Waits until `until` (at most `group_gap` after the previous round began) for more;
        a sync barrier or a stop ends the wait at once."""
        if any(isinstance(i, _Barrier) or i is _STOP for i in items):
            return
        while len(items) < 2000:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return
            items.append(item)
            if isinstance(item, _Barrier) or item is _STOP:
                return

    def _call(self, loop: asyncio.AbstractEventLoop | None, fn: Callable[..., Any], *args: Any) -> None:
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(fn, *args)

    def _used(self, conn: sqlite3.Connection) -> int:
        """Bytes in use (pages minus free pages); one statement, the page size asked once."""
        pages, free = conn.execute("SELECT * FROM pragma_page_count(), pragma_freelist_count()").fetchone()
        if self._page_size is None:
            self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        self._free_pages = int(free)
        return int((pages - free) * self._page_size)

    def _round(self, conn: sqlite3.Connection, items: list[Any]) -> None:
        appends = [i for i in items if isinstance(i, _Append)]
        barriers = [i for i in items if isinstance(i, _Barrier)]
        with self._lock:
            cursors_dirty = self._cursors_dirty
            min_cursor = min((st.cursor for st in self._sink.values()), default=self.head + len(appends))
        busy = appends or barriers or cursors_dirty or min_cursor > self._released_through
        if not busy and not self._maybe_old():
            return
        try:
            stored, drops = self._transaction(conn, appends, cursors_dirty, min_cursor)
        except Exception as exc:
            self._rollback(conn)
            full = isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()
            if not (full and appends):
                self._fail(appends, barriers, exc)
                return
            log.error("buffer %s: disk full; dropping the oldest tenth and retrying", self.path)
            try:
                self._free_space(conn)
                stored, drops = self._transaction(conn, appends, cursors_dirty, min_cursor)
            except Exception as exc2:
                self._rollback(conn)
                self._fail(appends, barriers, exc2)
                return
        self._after_commit(conn, stored, drops, fresh_ages=bool(barriers))
        for a, rec in zip(appends, stored, strict=True):
            self._call(a.loop, _resolve, a.future, rec.seq)
        for b in barriers:
            self._call(b.loop, _resolve, b.future, None)

    def _rollback(self, conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            self._next_seq = int(conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0])
        with self._lock:
            self._cursors_dirty = True

    def _fail(self, appends: list[_Append], barriers: list[_Barrier], exc: BaseException) -> None:
        log.error("buffer %s: could not store %d batch(es): %s", self.path, len(appends), exc)
        self._failed_appends += len(appends)
        for a in appends:
            self._call(a.loop, _resolve, a.future, None, OSError(f"buffer write failed: {exc}"))
        for b in barriers:
            self._call(b.loop, _resolve, b.future, None)

    def _maybe_old(self) -> bool:
        return self._oldest_created is not None and self._oldest_created < self.clock() - self.max_age

    def _begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        self._txn_used = None
        self._txn_delta = [0, 0]
        self._txn_released = self._released_through

    def _removed(self, conn: sqlite3.Connection, upto: int) -> None:
        """Account for deleting every batch up to `upto` (a range scan of just those rows)."""
        count, samples = conn.execute(
            "SELECT count(*), coalesce(sum(n), 0) FROM batches WHERE seq <= ?", (upto,)
        ).fetchone()
        self._txn_delta[0] -= int(count)
        self._txn_delta[1] -= int(samples)
        self._txn_released = max(self._txn_released, upto)

    def _transaction(
        self, conn: sqlite3.Connection, appends: list[_Append], cursors_dirty: bool, min_cursor: int
    ) -> tuple[list[Record], list[DropRange]]:
        self._begin(conn)
        stored: list[Record] = []
        seq = self._next_seq
        created = max(self.clock(), self._last_created)
        rows = []
        for a in appends:
            rec = Record(seq, created, a.device, a.count, a.encoding, a.blob, a.raw)
            rows.append((rec.seq, rec.created, rec.device, rec.count, rec.encoding, rec.blob))
            stored.append(rec)
            seq += 1
        if rows:
            conn.executemany("INSERT INTO batches(seq, created, device, n, enc, blob) VALUES (?,?,?,?,?,?)", rows)
            self._txn_delta[0] += len(rows)
            self._txn_delta[1] += sum(a.count for a in appends)
            conn.execute("UPDATE meta SET value=? WHERE key='next_seq'", (str(seq),))
        if cursors_dirty:
            with self._lock:
                self._cursors_dirty = False
                cur = [(st.cursor, name) for name, st in self._sink.items()]
            conn.executemany("UPDATE cursors SET acked=? WHERE sink=?", cur)
        if not self._sink:
            min_cursor = seq - 1
        if min_cursor > seq - 1:
            min_cursor = seq - 1
        if min_cursor > self._released_through:
            # release what every sink has delivered, in bounded chunks
            upto = min(min_cursor, self._released_through + 50_000)
            self._removed(conn, upto)
            conn.execute("DELETE FROM batches WHERE seq <= ?", (upto,))
        drops = self._enforce_limits(conn, seq - 1)
        conn.execute("COMMIT")
        self._next_seq = seq
        if stored:
            self._last_created = created
        return stored, drops

    def _enforce_limits(self, conn: sqlite3.Connection, head: int) -> list[DropRange]:
        drops: list[DropRange] = []
        cutoff = self.clock() - self.max_age
        row = conn.execute("SELECT seq, created FROM batches ORDER BY seq LIMIT 1").fetchone()
        if row is not None and row[1] < cutoff:
            last = row[0]
            for seq, created in conn.execute(
                "SELECT seq, created FROM batches WHERE seq >= ? ORDER BY seq LIMIT 50000", (row[0],)
            ):
                if created >= cutoff:
                    break
                last = seq
            drops += self._drop_through(conn, last, f"older than max_age {self.max_age:g}s")
        for _ in range(16):
            used = self._used(conn)
            if used <= self.max_bytes:
                self._txn_used = used  # still true after COMMIT: the round need not ask again
                break
            excess = used - int(self.max_bytes * LOW_WATER)
            freed = 0
            last = None
            for seq, size in conn.execute(
                "SELECT seq, length(blob) + length(device) + 40 FROM batches ORDER BY seq LIMIT 20000"
            ):
                freed += size
                last = seq
                if freed >= excess:
                    break
            if last is None:
                break
            drops += self._drop_through(conn, last, f"over max_mb {self.max_bytes / 1048576:g}")
        return drops

    def _free_space(self, conn: sqlite3.Connection) -> None:
        self._begin(conn)
        count = conn.execute("SELECT count(*) FROM batches").fetchone()[0]
        row = conn.execute(
            "SELECT seq FROM batches ORDER BY seq LIMIT 1 OFFSET ?", (max(0, count // 10),)
        ).fetchone()
        drops = self._drop_through(conn, row[0], "disk full") if row else []
        conn.execute("COMMIT")
        self._after_commit(conn, [], drops)

    def _drop_through(self, conn: sqlite3.Connection, last: int, reason: str) -> list[DropRange]:
        """Delete every batch up to `last`; record what each sink loses by it."""
        first_row = conn.execute("SELECT min(seq) FROM batches").fetchone()
        if first_row[0] is None or first_row[0] > last:
            return []
        first = int(first_row[0])
        now = self.clock()
        drops: list[DropRange] = []
        with self._lock:
            states = {name: st.cursor for name, st in self._sink.items()}
        global_from = min(states.values(), default=last) + 1
        for name, cursor in states.items():
            if cursor >= last:
                continue
            lo = max(first, cursor + 1)
            samples = conn.execute(
                "SELECT coalesce(sum(n), 0) FROM batches WHERE seq >= ? AND seq <= ?", (lo, last)
            ).fetchone()[0]
            drops.append(DropRange(name, self.epoch, lo, last, int(samples), now))
        lost = conn.execute(
            "SELECT count(*), coalesce(sum(n), 0) FROM batches WHERE seq >= ? AND seq <= ?",
            (max(first, global_from), last),
        ).fetchone()
        self._removed(conn, last)
        conn.execute("DELETE FROM batches WHERE seq <= ?", (last,))
        for d in drops:
            prev = conn.execute(
                "SELECT id, last FROM drops WHERE sink=? ORDER BY id DESC LIMIT 1", (d.sink,)
            ).fetchone()
            if prev is not None and prev[1] == d.first - 1:
                conn.execute("UPDATE drops SET last=?, samples=samples+?, at=? WHERE id=?",
                             (d.last, d.samples, d.at, prev[0]))
            else:
                conn.execute("INSERT INTO drops(sink, first, last, samples, at) VALUES (?,?,?,?,?)",
                             (d.sink, d.first, d.last, d.samples, d.at))
            conn.execute(
                "DELETE FROM drops WHERE sink=? AND id NOT IN "
                "(SELECT id FROM drops WHERE sink=? ORDER BY id DESC LIMIT ?)",
                (d.sink, d.sink, MAX_RANGES_PER_SINK),
            )
            conn.execute("UPDATE cursors SET acked=? WHERE sink=?", (last, d.sink))
        if drops:
            log.warning(
                "buffer %s: %s: dropped batches %d..%d (%d samples) not yet delivered to %s",
                self.path, reason, drops[0].first if len(drops) == 1 else max(first, global_from), last,
                int(lost[1]), ", ".join(f"{d.sink} ({d.first}..{d.last})" for d in drops),
            )
        # the in-memory side is updated only after COMMIT (see _after_commit) except cursors,
        # which must move now so later steps of this transaction see them
        with self._lock:
            for d in drops:
                st = self._sink[d.sink]
                st.cursor = max(st.cursor, d.last)
                st.acked_above = {s: n for s, n in st.acked_above.items() if s > d.last}
                st.pending_samples -= d.samples
                st.dropped_batches += d.last - d.first + 1
                st.dropped_samples += d.samples
            self._cursors_dirty = True
            self._dropped_batches += int(lost[0])
            self._dropped_samples += int(lost[1])
            while self._ring and self._ring[0].seq <= last:
                self._ring_size -= self._ring.popleft().size
        return drops

    def _after_commit(self, conn: sqlite3.Connection, stored: list[Record], drops: list[DropRange],
                      fresh_ages: bool = True) -> None:
        with self._lock:
            for rec in stored:
                if self._ring and self._ring[-1].seq + 1 != rec.seq:
                    self._ring.clear()
                    self._ring_size = 0
                self._ring.append(rec)
                self._ring_size += rec.size
            if stored:
                self._stored_head = stored[-1].seq
            while self._ring and self._ring_size > self.ring_bytes:
                self._ring_size -= self._ring.popleft().size
            for d in drops:
                ranges = self._ranges.setdefault(d.sink, [])
                if ranges and ranges[-1].last == d.first - 1:
                    prev = ranges[-1]
                    ranges[-1] = DropRange(d.sink, d.epoch, prev.first, d.last, prev.samples + d.samples, d.at)
                else:
                    ranges.append(d)
                del ranges[:-MAX_RANGES_PER_SINK]
            for st in self._sink.values():
                st.pending_samples += sum(r.count for r in stored)
        with self._lock:
            self._released_through = self._txn_released
            self._depth_batches += self._txn_delta[0]
            self._depth_samples += self._txn_delta[1]
        self._txn_delta = [0, 0]
        # the ages are statistics (and the idle max_age check): a busy stream of rounds reads them
        # from the file at most every AGES_EVERY seconds; a barrier (sync) or a drop always does
        now = time.monotonic()
        if fresh_ages or drops or now - self._ages_at >= AGES_EVERY:
            self._ages_at = now
            self._refresh_ages(conn)
        self._used_bytes = self._txn_used if self._txn_used is not None else self._used(conn)
        self._maybe_vacuum(conn)
        if stored:
            self._call(self._loop, self._wake, stored[-1].seq)
        if drops and self.on_drop is not None:
            self._call(self._loop, self.on_drop, drops)

    def _refresh_ages(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT created FROM batches ORDER BY seq LIMIT 1").fetchone()
        oldest = None if row is None else float(row[0])
        with self._lock:
            cursors = {name: st.cursor for name, st in self._sink.items()}
        ages = {}
        for name, cursor in cursors.items():
            r = conn.execute("SELECT created FROM batches WHERE seq > ? ORDER BY seq LIMIT 1", (cursor,)).fetchone()
            ages[name] = None if r is None else float(r[0])
        with self._lock:
            self._oldest_created = oldest
            for name, created in ages.items():
                self._sink[name].oldest_undelivered = created

    def _maybe_vacuum(self, conn: sqlite3.Connection) -> None:
        """Give freed pages back to the file system once the backlog is gone, so a drained
        buffer does not keep its high-water mark on disk."""
        free, size = self._free_pages, self._page_size or 4096  # as the round's last `_used` saw them
        if free * size > 8 * 1024 * 1024 and self._used_bytes < free * size:
            conn.execute("PRAGMA incremental_vacuum(2048)").fetchall()
