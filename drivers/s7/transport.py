"""ISO-on-TCP (RFC 1006: TPKT + COTP class 0), the transport under S7 communication.

Kept apart from the S7 session so connection failures can be told apart precisely: a refused TCP
connection is a network/host problem, a closed or refused COTP connect almost always means a
wrong rack/slot or TSAP, and the message says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

from drivers.base import DriverError

COTP_CR = 0xE0
COTP_CC = 0xD0
COTP_DR = 0x80
COTP_DT = 0xF0
EOT = 0x80
TPDU_EXPONENT = 0x0A  # ask for 1024-byte TPDUs: room for a 960-byte S7 PDU plus headers


class LinkError(DriverError):
    """The connection is unusable (refused, closed, timed out, out of step): reconnect."""


def format_tsap(tsap: int) -> str:
    """TSAPs the way PLC tools show them: `03.01`."""
    return f"{tsap >> 8:02X}.{tsap & 0xFF:02X}"


class IsoTransport:
    def __init__(self, host: str, port: int, local_tsap: int, remote_tsap: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.local_tsap = local_tsap
        self.remote_tsap = remote_tsap
        self.timeout = timeout
        self.tpdu_size = 1 << TPDU_EXPONENT
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout)
        except TimeoutError:
            raise LinkError(f"no TCP connection to {self._where()} within {self.timeout:g} s") from None
        except OSError as exc:
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise LinkError(f"cannot connect to {self._where()}: {why}") from None
        params = (struct.pack(">BBH", 0xC1, 2, self.local_tsap) + struct.pack(">BBH", 0xC2, 2, self.remote_tsap)
                  + struct.pack(">BBB", 0xC0, 1, TPDU_EXPONENT))
        cr = struct.pack(">BBHHB", 6 + len(params), COTP_CR, 0, 1, 0) + params
        hint = (f"check rack/slot or TSAP (local {format_tsap(self.local_tsap)}, "
                f"remote {format_tsap(self.remote_tsap)})")
        try:
            await self._write(cr)
            payload = await asyncio.wait_for(self._read_tpkt(), self.timeout)
        except TimeoutError:
            self.abort()
            raise LinkError(f"{self._where()} accepted TCP but did not answer the ISO connect: {hint}") from None
        except (OSError, asyncio.IncompleteReadError, LinkError):
            self.abort()
            raise LinkError(f"{self._where()} closed the connection during the ISO connect: {hint}") from None
        kind = payload[1] if len(payload) > 1 else None
        if kind != COTP_CC:
            self.abort()
            what = "refused" if kind == COTP_DR else "answered nonsense to"
            raise LinkError(f"{self._where()} {what} the ISO connect: {hint}")
        self._parse_cc(payload)

    def _parse_cc(self, payload: bytes) -> None:
        pos = 7
        while pos + 2 <= len(payload):
            code, length = payload[pos], payload[pos + 1]
            value = payload[pos + 2: pos + 2 + length]
            if code == 0xC0 and length == 1 and 7 <= value[0] <= 13:
                self.tpdu_size = 1 << value[0]
            pos += 2 + length

    async def send(self, pdu: bytes) -> None:
        """Send one S7 PDU, in several DT fragments if the negotiated TPDU is smaller."""
        room = max(16, self.tpdu_size - 3)
        chunks = [pdu[i: i + room] for i in range(0, len(pdu), room)] or [b""]
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            await self._write(struct.pack(">BBB", 2, COTP_DT, EOT if last else 0) + chunk)

    async def receive(self) -> bytes:
        """One S7 PDU, reassembled from DT fragments until the end-of-transmission mark."""
        parts: list[bytes] = []
        while True:
            payload = await self._read_tpkt()
            if len(payload) < 2:
                raise LinkError("malformed COTP frame")
            li, kind = payload[0], payload[1]
            if kind == COTP_DR:
                raise LinkError(f"{self._where()} closed the ISO connection")
            if kind != COTP_DT or len(payload) < 3:
                raise LinkError(f"unexpected COTP frame 0x{kind:02X}")
            parts.append(payload[1 + li:])
            if payload[2] & EOT:
                return b"".join(parts)

    async def _write(self, cotp: bytes) -> None:
        if self._writer is None:
            raise LinkError("not connected")
        self._writer.write(struct.pack(">BBH", 3, 0, len(cotp) + 4) + cotp)
        await self._writer.drain()

    async def _read_tpkt(self) -> bytes:
        if self._reader is None:
            raise LinkError("not connected")
        head = await self._reader.readexactly(4)
        version, _, length = struct.unpack(">BBH", head)
        if version != 3 or length < 7:
            raise LinkError(f"malformed TPKT header {head.hex()}")
        return await self._reader.readexactly(length - 4)

    def abort(self) -> None:
        """Drop the connection at once (after a timeout the stream is out of step)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        with contextlib.suppress(Exception):
            writer.write(struct.pack(">BBH", 3, 0, 11) + struct.pack(">BBHHB", 6, COTP_DR, 0, 1, 0))
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 1.0)
