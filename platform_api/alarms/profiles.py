"""Default alarm rules taken from device profiles (`devices/profiles/*.yaml`, `alarms:` per tag).

The profiles' own loader reads and validates them; this module only picks out the thresholds.
"""

from __future__ import annotations

from devices.model import AlarmThreshold
from devices.profiles import ProfileError, profile_names
from devices.profiles.spec import load_spec

__all__ = ["ProfileError", "available", "thresholds"]


def available() -> list[str]:
    return profile_names()


def thresholds(profile: str) -> dict[str, list[AlarmThreshold]]:
    """`{tag: [AlarmThreshold, ...]}` of one profile; tags without alarms are left out."""
    try:
        spec = load_spec(profile)
    except ProfileError:
        raise
    except (KeyError, ValueError, OSError) as exc:
        raise ProfileError(str(exc)) from None
    return {t.name: list(t.alarms) for t in spec.tags if t.alarms}
