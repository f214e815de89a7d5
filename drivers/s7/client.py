"""The S7 session: PDU negotiation, multi-variable read, variable write and SZL reads.

Requests are built with python-snap7's protocol encoder; replies are parsed here, item by item,
so that one missing DB fails only its own item and not the whole request. One request is in
flight at a time (we negotiate one outstanding job), serialised by a lock so a write from the
northbound side interleaves safely with polling.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from snap7.datatypes import S7Area, S7WordLen
from snap7.s7protocol import S7Protocol

from drivers.s7.errors import ITEM_OK, S7Refused, header_reason
from drivers.s7.transport import IsoTransport, LinkError

PDU_ACK = 0x02
PDU_ACK_DATA = 0x03
PDU_USERDATA = 0x07
FUNC_READ = 0x04
FUNC_WRITE = 0x05
FUNC_SETUP = 0xF0
WRITE_OVERHEAD = 28  # 10 header + 14 parameter + 4 data header

SZL_CPU_STATE = 0x0424
CPU_STATES = {0x08: "run", 0x09: "run", 0x05: "startup", 0x06: "startup", 0x07: "startup", 0x0A: "hold",
              0x01: "stop", 0x02: "stop", 0x03: "stop", 0x04: "stop", 0x00: "unknown"}


@dataclass(frozen=True, slots=True)
class ItemResult:
    code: int  # 0xFF = success
    data: bytes


@dataclass(frozen=True, slots=True)
class _Reply:
    sequence: int
    params: bytes
    data: bytes
    error: int


def _parse_reply(pdu: bytes) -> _Reply:
    if len(pdu) < 10 or pdu[0] != 0x32:
        raise LinkError("malformed S7 reply (not an S7 PDU)")
    kind = pdu[1]
    seq, plen, dlen = struct.unpack(">HHH", pdu[4:10])
    head = 10
    error = 0
    if kind in (PDU_ACK, PDU_ACK_DATA):
        if len(pdu) < 12:
            raise LinkError("malformed S7 reply (short header)")
        error = (pdu[10] << 8) | pdu[11]
        head = 12
    elif kind != PDU_USERDATA:
        raise LinkError(f"unexpected S7 PDU type 0x{kind:02X}")
    if head + plen + dlen > len(pdu):
        raise LinkError("malformed S7 reply (truncated)")
    return _Reply(seq, pdu[head: head + plen], pdu[head + plen: head + plen + dlen], error)


def parse_read_items(data: bytes, count: int) -> list[ItemResult]:
    """Split a read-var reply data section into its items (fill byte after odd items but the last)."""
    out: list[ItemResult] = []
    pos = 0
    for n in range(count):
        if pos + 4 > len(data):
            raise LinkError(f"S7 read reply truncated at item {n + 1} of {count}")
        code, transport, length = data[pos], data[pos + 1], struct.unpack(">H", data[pos + 2: pos + 4])[0]
        pos += 4
        if code != ITEM_OK:
            out.append(ItemResult(code, b""))
            continue
        size = (length + 7) // 8 if transport in (0x03, 0x04, 0x05) else length
        if pos + size > len(data):
            raise LinkError(f"S7 read reply truncated in item {n + 1} of {count}")
        out.append(ItemResult(code, data[pos: pos + size]))
        pos += size
        if size % 2 and n < count - 1:
            pos += 1
    return out


def cpu_state_from_szl(payload: bytes) -> str:
    """Operating mode from SZL 0x0424 (id, index, LENTHDR, N_DR, then the record: ereig, ae, bzu-id)."""
    if len(payload) < 12:
        return "unknown"
    return CPU_STATES.get(payload[11] & 0x0F, "stop")


class S7Client:
    def __init__(self, host: str, port: int, local_tsap: int, remote_tsap: int, pdu_request: int,
                 timeout: float) -> None:
        self.transport = IsoTransport(host, port, local_tsap, remote_tsap, timeout)
        self.pdu_request = pdu_request
        self.timeout = timeout
        self.pdu_size: int | None = None
        self.protocol = S7Protocol()
        self.requests = 0
        self.bytes_out = 0
        self.bytes_in = 0
        self._lock = asyncio.Lock()
        self._broken: str | None = None

    @property
    def broken(self) -> str | None:
        """Why the connection can no longer be used, if it cannot."""
        return self._broken

    @property
    def connected(self) -> bool:
        return self.pdu_size is not None and self._broken is None and self.transport.is_open

    async def open(self) -> int:
        """Connect and negotiate; returns the PDU size both sides agreed on."""
        self._broken = None
        await self.transport.open()
        reply = await self._exchange(self.protocol.build_setup_communication_request(1, 1, self.pdu_request))
        if reply.error:
            await self.close()
            raise LinkError(f"PLC refused the communication setup (S7 error 0x{reply.error:04X})")
        if len(reply.params) < 8 or reply.params[0] != FUNC_SETUP:
            await self.close()
            raise LinkError("PLC answered the communication setup with something else")
        agreed = struct.unpack(">H", reply.params[6:8])[0]
        if agreed < 64:
            await self.close()
            raise LinkError(f"PLC offered an unusable PDU size of {agreed} bytes")
        self.pdu_size = min(agreed, self.pdu_request)
        return self.pdu_size

    async def close(self) -> None:
        self.pdu_size = None
        await self.transport.close()

    async def _exchange(self, request: bytes) -> _Reply:
        if self._broken is not None:
            raise LinkError(self._broken)
        expected = struct.unpack(">H", request[4:6])[0]
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    await self.transport.send(request)
                    raw = await self.transport.receive()
            except TimeoutError:
                self._fail(f"no answer from {self.transport.host}:{self.transport.port} within {self.timeout:g} s")
            except (OSError, asyncio.IncompleteReadError) as exc:
                self._fail(f"connection to {self.transport.host}:{self.transport.port} lost: "
                           f"{getattr(exc, 'strerror', None) or exc or type(exc).__name__}")
            except LinkError as exc:
                self._fail(str(exc))
            except BaseException:
                # cancelled half-way: the reply may still come and would pair with the next request
                self._broken = "a request was cancelled while in flight"
                self.transport.abort()
                raise
        self.requests += 1
        self.bytes_out += len(request)
        self.bytes_in += len(raw)
        reply = _parse_reply(raw)
        if reply.sequence != expected:
            self._fail(f"S7 reply out of step (sequence {reply.sequence}, expected {expected})")
        return reply

    def _fail(self, reason: str) -> NoReturn:
        self._broken = reason
        self.transport.abort()
        raise LinkError(reason)

    async def read_vars(self, items: Sequence[tuple[int, int, int, int]]) -> list[ItemResult]:
        """One multi-variable read of `(area, db, start, size)` byte ranges; raises `S7Refused` when the
        PLC refuses the job as a whole, `LinkError` when the connection is gone."""
        reply = await self._exchange(self.protocol.build_multi_read_request(list(items)))
        if reply.error:
            raise S7Refused(reply.error, header_reason(reply.error, "read"))
        if len(reply.params) < 2 or reply.params[0] != FUNC_READ or reply.params[1] != len(items):
            self._fail("S7 read reply does not match the request")
        return parse_read_items(reply.data, len(items))

    async def write_var(self, area: int, db: int, start: int, word_len: S7WordLen, data: bytes) -> int:
        """Write one variable; `start` is a byte offset, or a bit address (byte * 8 + bit) for `BIT`.
        Returns the item code (0xFF = success)."""
        request = self.protocol.build_write_request(S7Area(area), db, start, word_len, data)
        reply = await self._exchange(request)
        if reply.error:
            raise S7Refused(reply.error, header_reason(reply.error, "write"))
        if len(reply.params) < 2 or reply.params[0] != FUNC_WRITE or not reply.data:
            self._fail("S7 write reply does not match the request")
        return reply.data[0]

    def max_write_bytes(self) -> int:
        return max(1, (self.pdu_size or 240) - WRITE_OVERHEAD) & ~1

    async def read_szl(self, szl_id: int, index: int = 0) -> bytes | None:
        """The first fragment of an SZL list (id, index, LENTHDR, N_DR, records), or None when the PLC
        does not offer it."""
        reply = await self._exchange(self.protocol.build_read_szl_request(szl_id, index))
        if len(reply.params) >= 12 and struct.unpack(">H", reply.params[10:12])[0] != 0:
            return None
        if len(reply.data) < 4 or reply.data[0] != ITEM_OK:
            return None
        return reply.data[4:]

    async def cpu_state(self) -> str | None:
        """`run`, `stop`, `startup`, `hold`, `unknown`; None when the PLC does not report its mode."""
        payload = await self.read_szl(SZL_CPU_STATE, 0)
        return None if payload is None else cpu_state_from_szl(payload)
