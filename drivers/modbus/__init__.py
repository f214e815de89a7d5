"""Modbus driver: TCP, RTU (serial) and RTU framing over TCP, with a request planner.

Connection: `host`, `port` (502), `unit` (1), `timeout` (the device's, 1 s) and `transport`:
`tcp` (default), `rtu` (`port` is the serial device; `baudrate` 9600, `parity` N/E/O, `stopbits`,
`bytesize`) or `rtu-over-tcp`. Devices behind the same host:port or serial port share one
connection. Options: `max_registers_per_request` (125), `max_bits_per_request` (2000),
`max_gap` (16 registers), `max_gap_bits` (16 × max_gap), `one_request_per_tag`,
`force_multiple_write` (FC15/FC16 even for one value), `mask_write` (FC22 for register bits).

Modules, each with one job: `address` (parse HR/IR/CO/DI and Modicon addresses), `points`
(a tag's register footprint and value rules), `planner` (fewest requests, pure), `settings`
(connection fields and options), `transport` (shared connections, per-unit back-off),
`responses` (lean pymodbus response classes) and `driver` (the `Driver` the gateway runs).
"""

from drivers.modbus.address import AddressError, ModbusAddress, Table, parse_address
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.planner import Holes, Item, Span, plan, split
from drivers.modbus.settings import ConnectionSettings, PlanOptions

__all__ = [
    "AddressError",
    "ConnectionSettings",
    "Holes",
    "Item",
    "ModbusAddress",
    "ModbusDriver",
    "PlanOptions",
    "Span",
    "Table",
    "parse_address",
    "plan",
    "split",
]
