"""Device models by profile name."""

from __future__ import annotations

from devices.simulators.base import DeviceModel
from devices.simulators.models.belt_scale import BeltScale
from devices.simulators.models.conveyor import ConveyorPlc
from devices.simulators.models.drainage import DrainagePump
from devices.simulators.models.dust import DustMonitor
from devices.simulators.models.gas import CoSensor, MethaneSensor
from devices.simulators.models.power_meter import PowerMeter
from devices.simulators.models.truck_scale import TruckScale
from devices.simulators.models.ventilation import VentilationFan
from devices.simulators.models.washing import WashingPlant

MODELS: dict[str, type[DeviceModel]] = {
    m.profile: m
    for m in (BeltScale, TruckScale, MethaneSensor, CoSensor, DustMonitor, VentilationFan, DrainagePump,
              WashingPlant, ConveyorPlc, PowerMeter)
}

__all__ = [
    "MODELS",
    "BeltScale",
    "CoSensor",
    "ConveyorPlc",
    "DrainagePump",
    "DustMonitor",
    "MethaneSensor",
    "PowerMeter",
    "TruckScale",
    "VentilationFan",
    "WashingPlant",
]
