"""The lean response classes decode exactly like pymodbus' own, only cheaper."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu.bit_message import ReadCoilsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from drivers.modbus.responses import Coils, HoldingRegisters, InputRegisters


@given(st.binary(max_size=125).map(lambda b: b if len(b) % 2 == 0 else b[:-1]))
def test_registers_match_pymodbus(data: bytes) -> None:
    frame = bytes([len(data)]) + data + b"\x00"  # trailing byte: pymodbus wants byte_count < len
    stock = ReadHoldingRegistersResponse()
    stock.decode(frame)
    lean = HoldingRegisters()
    lean.decode(frame)
    assert lean.registers == stock.registers
    assert lean.block == data


@given(st.binary(min_size=1, max_size=250))
def test_bits_match_pymodbus(data: bytes) -> None:
    frame = bytes([len(data)]) + data
    stock = ReadCoilsResponse()
    stock.decode(frame)
    lean = Coils()
    lean.decode(frame)
    assert lean.bits == stock.bits


def test_malformed_byte_counts_are_refused() -> None:
    with pytest.raises(ModbusIOException, match="byte_count"):
        InputRegisters().decode(b"\x08\x00\x01")
    with pytest.raises(ModbusIOException, match="byte_count"):
        HoldingRegisters().decode(b"\x03\x00\x01\x02\x03")  # odd byte count
    with pytest.raises(ModbusIOException, match="byte_count"):
        Coils().decode(b"\x05\x01")


def test_text_does_not_render_every_register() -> None:
    r = HoldingRegisters(dev_id=3)
    r.decode(b"\x04\x00\x01\x00\x02\x00")
    assert str(r) == "HoldingRegisters(dev_id=3, 2 registers)"
