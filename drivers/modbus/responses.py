"""Lean pymodbus response classes for the four read functions, registered per client.

pymodbus decodes a register response one `struct.unpack` per register and renders every
response into a debug string even when debug logging is off. On the gateway's hot path that
is a large part of a request's CPU, so each link registers these subclasses with its client
(pymodbus' own `register()` extension point): a register answer keeps its data bytes as
`block` (what the block decoders read directly) and unpacks `registers` in one call; a bit
answer expands bytes through a table. Everything else about the response is pymodbus' own.
"""

from __future__ import annotations

import struct

from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

_BITS = [tuple(bool(byte >> n & 1) for n in range(8)) for byte in range(256)]
_WORDS: dict[int, struct.Struct] = {}


def _words(count: int) -> struct.Struct:
    st = _WORDS.get(count)
    if st is None:
        st = _WORDS[count] = struct.Struct(f">{count}H")
    return st


def _decode_registers(self: ModbusPDU, data: bytes) -> None:
    size = data[0] if data else 0
    if size >= len(data) or size % 2:
        raise ModbusIOException(f"byte_count {size} does not fit a packet of {len(data)} bytes",
                                function_code=self.function_code)
    block = bytes(data[1 : 1 + size])
    self.block = block  # type: ignore[attr-defined]
    self.registers = list(_words(size // 2).unpack(block))


def _decode_bits(self: ModbusPDU, data: bytes) -> None:
    size = data[0] if data else 0
    if size >= len(data):
        raise ModbusIOException(f"byte_count {size} does not fit a packet of {len(data)} bytes",
                                function_code=self.function_code)
    bits: list[bool] = []
    for byte in data[1 : 1 + size]:
        bits.extend(_BITS[byte])
    self.bits = bits


def _describe(self: ModbusPDU) -> str:
    what = f"{len(self.bits)} bits" if self.function_code in (1, 2) else f"{len(self.registers)} registers"
    return f"{type(self).__name__}(dev_id={self.dev_id}, {what})"


class HoldingRegisters(ReadHoldingRegistersResponse):
    block: bytes = b""
    decode = _decode_registers  # type: ignore[assignment]
    __str__ = _describe  # type: ignore[assignment]


class InputRegisters(ReadInputRegistersResponse):
    block: bytes = b""
    decode = _decode_registers  # type: ignore[assignment]
    __str__ = _describe  # type: ignore[assignment]


class Coils(ReadCoilsResponse):
    decode = _decode_bits  # type: ignore[assignment]
    __str__ = _describe  # type: ignore[assignment]


class DiscreteInputs(ReadDiscreteInputsResponse):
    decode = _decode_bits  # type: ignore[assignment]
    __str__ = _describe  # type: ignore[assignment]


LEAN_RESPONSES = (HoldingRegisters, InputRegisters, Coils, DiscreteInputs)
