"""Driver registry: `driver: modbus` in a config names a class here.

Adding a protocol is one line in `BUILTIN` (or an entry point in the `minegate.drivers` group
for a third-party package); classes are imported lazily so a missing optional protocol library
affects only the devices that use it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from drivers.base import Driver

BUILTIN: dict[str, str] = {
    "modbus": "drivers.modbus:ModbusDriver",
    "opcua": "drivers.opcua:OpcUaDriver",
    "s7": "drivers.s7:S7Driver",
    "fake": "drivers.fake:FakeDriver",
}


def available() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group="minegate.drivers"))
    return sorted(names)


def driver_class(name: str) -> type[Driver]:
    """The driver class registered as `name`; `KeyError` names the choices."""
    target = BUILTIN.get(name)
    if target is None:
        for ep in entry_points(group="minegate.drivers"):
            if ep.name == name:
                target = ep.value
                break
    if target is None:
        raise KeyError(f"unknown driver {name!r} (allowed: {', '.join(available())})")
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"{target} is not a Driver")
    return cls
