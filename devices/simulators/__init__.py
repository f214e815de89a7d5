"""Simulated mine and plant equipment serving the device profiles over their real protocols.

    sim = await start_simulator("belt_scale", port=0, seed=1, speed=0, start=...)
    sim.port, sim.endpoint, sim.connection      # where and how a gateway reaches it
    await sim.step(3600)                        # one simulated hour, deterministic for a seed
    sim.values()                                # what a driver will read now
    await sim.inject_fault("flow_tph", "stuck") # or out_of_range, failed; offline, no_answer (tag None)
    await sim.stop()

    plant = await start_plant(seed=1, speed=60)  # the demo site, one clock, 60x real time

Modbus devices are served by pymodbus, the washing plant by an asyncua OPC UA server and the
conveyor PLC by python-snap7's S7 server; physics live in `models/`, independent of protocol.
"""

from devices.simulators.faults import DEVICE_FAULTS, FAULT_KINDS, TAG_FAULTS, FaultError
from devices.simulators.runner import (
    DEFAULT_PLANT,
    Plant,
    Simulator,
    simulated_profiles,
    start_plant,
    start_simulator,
)

__all__ = [
    "DEFAULT_PLANT",
    "DEVICE_FAULTS",
    "FAULT_KINDS",
    "TAG_FAULTS",
    "FaultError",
    "Plant",
    "Simulator",
    "simulated_profiles",
    "start_plant",
    "start_simulator",
]
