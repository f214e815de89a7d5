"""Siemens S7 driver: absolute addresses (DB/M/I/Q), PDU-packed multi-variable reads, bit writes."""

from drivers.s7.driver import S7Driver

__all__ = ["S7Driver"]
