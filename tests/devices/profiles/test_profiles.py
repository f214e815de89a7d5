"""Profiles: shape, domain defaults, and validation with the same rules as a config file."""

from __future__ import annotations

import re

import pytest

from devices.profiles import ProfileError, load_profile, profile_names, profile_path
from devices.profiles.spec import TAG_FIELDS, device_spec, load_spec, parse_duration
from devices.simulators import simulated_profiles
from gateway.config import ConfigError, parse_config, validate_profile

EXPECTED = ["belt_scale", "co_sensor", "conveyor_plc", "drainage_pump", "dust_monitor", "methane_sensor",
            "power_meter", "truck_scale", "ventilation_fan", "washing_plant"]
CONNECTIONS = {
    "modbus": "{host: 127.0.0.1, port: 502, unit: 1}",
    "opcua": "{endpoint: 'opc.tcp://127.0.0.1:4840'}",
    "s7": "{host: 127.0.0.1, port: 102, rack: 0, slot: 1}",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_ten_profiles_ship_and_each_has_a_simulator() -> None:
    assert profile_names() == EXPECTED
    assert simulated_profiles() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_profile_shape(name: str) -> None:
    p = load_profile(name)
    assert p["name"] == name
    assert p["driver"] in ("modbus", "opcua", "s7")
    assert CJK.search(p["description"]) and re.search(r"[A-Za-z]{4}", p["description"])
    assert len(p["vendors"]) > 40
    assert parse_duration(p["interval"]) > 0
    assert p["source"] == str(profile_path(name))
    names = [t["name"] for t in p["tags"]]
    assert len(names) == len(set(names)), "tag names repeat"
    for tag in p["tags"]:
        assert set(tag) <= set(TAG_FIELDS), f"{tag['name']}: fields outside CONTRACTS §1"
        assert isinstance(tag["address"], str)
        assert tag.get("description"), f"{tag['name']} has no description"
        for alarm in tag.get("alarms", ()):
            assert alarm["severity"] in ("info", "warning", "major", "critical")
            assert ("above" in alarm) != ("below" in alarm)


@pytest.mark.parametrize("name", EXPECTED)
def test_each_profile_validates_like_a_config_file(name: str) -> None:
    driver = load_profile(name)["driver"]
    device = validate_profile(name)
    assert device.driver == driver
    assert [t.name for t in device.tags] == [t.name for t in load_spec(name).tags]


def test_a_broken_profile_tag_is_reported_against_the_profile(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The loader sees profile problems through `profile_path`: a typo must not pass silently."""
    import devices.profiles as profiles

    bad = tmp_path / "belt_scale.yaml"
    bad.write_text(profile_path("belt_scale").read_text(encoding="utf-8").replace("address: HR4", "address: HX4"),
                   encoding="utf-8")
    monkeypatch.setattr(profiles, "profile_path", lambda name: bad)
    text = (f"gateway: {{id: c, enterprise: c}}\n"
            f"devices:\n  - {{name: c, profile: belt_scale, connection: {CONNECTIONS['modbus']}}}\n")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "<t>")
    assert "HX4" in str(err.value)


def test_modicon_addresses_stay_as_written() -> None:
    tags = {t["name"]: t for t in load_profile("power_meter")["tags"]}
    assert tags["ua_v"]["address"] == "40001"
    assert tags["energy_kwh"]["address"] == "400101"


def test_unknown_profile_lists_the_choices() -> None:
    with pytest.raises(ProfileError, match="allowed: belt_scale, co_sensor"):
        load_profile("belt_scales")
    with pytest.raises(ProfileError):
        profile_path("../gateway/config")


def test_methane_defaults_follow_aq6201_working_face() -> None:
    alarms = {a.name: a for a in load_spec("methane_sensor").tag("ch4_pct").alarms}
    assert (alarms["ch4_alarm"].above, alarms["ch4_alarm"].clear) == (1.0, 1.0)
    assert (alarms["ch4_power_off"].above, alarms["ch4_power_off"].clear) == (1.5, 1.0)
    assert alarms["ch4_power_off"].severity == "critical"


def test_co_alarm_at_24_ppm() -> None:
    (alarm,) = load_spec("co_sensor").tag("co_ppm").alarms
    assert alarm.above == 24


def test_belt_scale_totalizer_has_explicit_word_order_and_documented_rollover() -> None:
    raw = {t["name"]: t for t in load_profile("belt_scale")["tags"]}["total_t"]
    assert raw["type"] == "uint32" and raw["byte_order"] in ("ABCD", "CDAB")
    assert "4294967295" in raw["description"] and "roll" in raw["description"].lower()


def test_device_spec_from_a_profile() -> None:
    spec = device_spec("truck_scale", {"host": "127.0.0.1", "port": 5020}, name="weighbridge")
    assert spec.name == "weighbridge" and spec.driver == "modbus" and spec.profile == "truck_scale"
    assert spec.tag("plate").encoding == "gbk" and spec.tag("plate").length == 6
    assert spec.options["max_registers_per_request"] == 64


def test_durations() -> None:
    assert [parse_duration(x) for x in ("500ms", "2s", "5m", "1h", "7d", 3)] == [0.5, 2, 300, 3600, 604800, 3]
    with pytest.raises(ValueError, match="allowed"):
        parse_duration("soon")
