"""Device physics without any protocol: plausible, shift-bound and deterministic for a seed."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from devices.simulators.models import MODELS
from devices.simulators.models.belt_scale import TOTAL_MODULUS
from devices.simulators.models.gas import GasSensor
from tests.devices.simulators.sim_testkit import DAY_SHIFT, NIGHT, make_model, sample


@pytest.mark.parametrize("profile", sorted(MODELS))
def test_same_seed_same_values_other_seed_other_values(profile: str) -> None:
    a, b, c = make_model(profile, seed=7), make_model(profile, seed=7), make_model(profile, seed=8)
    for m in (a, b, c):
        m.advance(1800)
    assert a.v == b.v
    assert a.v != c.v


# -- belt scale --------------------------------------------------------------------------------
def test_belt_scale_produces_only_outside_the_night_ban() -> None:
    night = sample(make_model("belt_scale", start=NIGHT), 4 * 3600, 60)
    assert all(v["flow_tph"] == 0 and not v["running"] for v in night)
    day = sample(make_model("belt_scale", start=DAY_SHIFT), 4 * 3600, 60)
    flows = [v["flow_tph"] for v in day]
    assert sum(f > 300 for f in flows) > len(flows) / 2
    assert max(flows) < 1200


def test_belt_scale_flow_is_load_times_speed() -> None:
    for v in sample(make_model("belt_scale"), 600, 30):
        assert v["flow_tph"] == pytest.approx(v["load_kgpm"] * v["speed_mps"] * 3.6, abs=0.1)  # rounded load


def test_belt_scale_totalizer_integrates_flow() -> None:
    m = make_model("belt_scale")
    before = m.v["total_t"]
    integral = 0.0
    for _ in range(3600):
        m.advance(1)
        integral += m.v["flow_tph"] / 3600.0
    assert m.v["total_t"] - before == pytest.approx(integral, rel=0.002)


def test_belt_scale_totalizer_rolls_over_at_the_register_maximum() -> None:
    m = make_model("belt_scale")
    m.preset("total_t", (TOTAL_MODULUS - 2_000) / 1000.0)  # 2 t below 4294967.295 t
    before = m.v["total_t"]
    m.advance(600)
    after = m.v["total_t"]
    assert after < before  # the drop a gateway must recognise as rollover
    increase = ((after - before) * 1000) % TOTAL_MODULUS / 1000.0
    assert 20 < increase < 200  # ten minutes of several hundred t/h


def test_belt_scale_reset_command_zeroes_the_totalizer() -> None:
    m = make_model("belt_scale")
    m.write("reset_total", True)
    assert m.v["total_t"] == 0 and m.v["reset_total"] is False
    m.advance(60)
    assert 0 < m.v["total_t"] < 30


# -- truck scale -------------------------------------------------------------------------------
def test_truck_scale_tickets_record_gross_tare_net() -> None:
    m = make_model("truck_scale")
    first = m.v["ticket_no"]
    tickets = {}
    stable_weights = set()
    for _ in range(8 * 3600):
        m.advance(1)
        v = m.v
        if v["ticket_no"] != first and v["ticket_no"] not in tickets:
            tickets[v["ticket_no"]] = (v["last_gross_t"], v["last_tare_t"], v["last_net_t"], v["last_plate"])
        if v["stable"] and v["weight_t"] > 0:
            stable_weights.add(v["weight_t"])
    numbers = sorted(tickets)
    assert len(numbers) >= 20
    assert numbers == list(range(first + 1, first + 1 + len(numbers)))  # one increment per ticket
    for gross, tare, net, plate in tickets.values():
        assert 14 <= tare <= 19 and 40 <= gross <= 49.1
        assert net == pytest.approx(gross - tare, abs=1e-9)
        assert plate.startswith("蒙L") and len(plate) == 7
    assert all(round(w * 1000) % 20 == 0 for w in stable_weights)  # rounded to the division


def test_truck_scale_is_quiet_at_night() -> None:
    m = make_model("truck_scale", start=NIGHT)
    first = m.v["ticket_no"]
    for v in sample(m, 3 * 3600, 10):
        assert v["weight_t"] == 0 and v["zero"] and v["stable"]
    assert m.v["ticket_no"] == first


# -- gas ---------------------------------------------------------------------------------------
def test_methane_alarm_and_power_off_latch_until_restore() -> None:
    m = make_model("methane_sensor")
    assert isinstance(m, GasSensor)
    m.trigger_excursion(1.7, rise=60, hold=60, decay=300)
    seen = sample(m, 3600, 5)
    peak = max(v["ch4_pct"] for v in seen)
    assert peak >= 1.5
    for v in seen:
        if v["ch4_pct"] >= 1.5:
            assert v["alarm"] and v["power_off"]
        if v["ch4_pct"] < 1.0:
            assert not v["alarm"] and not v["power_off"]
    latched = [v for v in seen if 1.0 <= v["ch4_pct"] < 1.5 and v["power_off"]]
    assert latched, "power-off must hold between 1.5 % and the 1.0 % restore point"
    assert not seen[-1]["alarm"]


def test_methane_has_occasional_alarm_excursions_in_production() -> None:
    m = make_model("methane_sensor", seed=2)
    readings = [v["ch4_pct"] for v in sample(m, 5 * 86400, 60)]
    assert sum(r >= 1.0 for r in readings) > 0
    assert sorted(readings)[len(readings) // 2] < 0.4  # the median stays at background


def test_methane_setpoint_written_moves_the_alarm() -> None:
    m = make_model("methane_sensor")
    m.write("alarm_setpoint_pct", 0.05)
    m.advance(5)
    assert m.v["alarm"] is True


def test_co_rises_after_blasting_and_alarms_at_24_ppm() -> None:
    m = make_model("co_sensor")
    assert isinstance(m, GasSensor)
    m.trigger_excursion(40, rise=30, hold=60, decay=600)
    seen = sample(m, 2 * 3600, 10)
    assert any(v["co_ppm"] >= 24 and v["alarm"] for v in seen)
    assert all(v["alarm"] == (v["co_ppm"] >= 24) for v in seen)
    assert seen[-1]["co_ppm"] < 24


# -- dust --------------------------------------------------------------------------------------
def test_dust_fractions_are_nested_and_weather_is_plausible() -> None:
    winter = make_model("dust_monitor", start=DAY_SHIFT - timedelta(days=60))  # early January
    for v in sample(winter, 2 * 86400, 300):
        assert 0 < v["pm25_ugm3"] < v["pm10_ugm3"] < v["tsp_ugm3"]
        assert -30 < v["temp_c"] < 10
        assert 0 <= v["wind_dir_deg"] < 360 and v["wind_speed_mps"] >= 0


# -- ventilation fan ---------------------------------------------------------------------------
def test_fan_laws() -> None:
    m = make_model("ventilation_fan")
    m.write("frequency_setpoint_hz", 50.0)
    m.advance(120)
    q50, p50, kw50 = m.v["air_volume_m3min"], m.v["pressure_pa"], m.v["power_kw"]
    m.write("frequency_setpoint_hz", 40.0)
    m.advance(60)
    r = m.v["frequency_hz"] / 50.0
    assert m.v["air_volume_m3min"] / q50 == pytest.approx(r, rel=0.05)
    assert m.v["pressure_pa"] / p50 == pytest.approx(r**2, rel=0.08)
    assert m.v["power_kw"] / kw50 == pytest.approx(r**3, rel=0.08)
    assert m.v["running"] and not m.v["fault"]


def test_fan_runs_through_the_night_and_stops_on_zero() -> None:
    m = make_model("ventilation_fan", start=NIGHT)
    assert all(v["running"] for v in sample(m, 3600, 60))
    m.write("frequency_setpoint_hz", 0.0)
    m.advance(300)
    assert not m.v["running"] and m.v["current_a"] == 0


# -- drainage ----------------------------------------------------------------------------------
def test_drainage_level_control_keeps_the_sump_between_the_levels() -> None:
    m = make_model("drainage_pump", seed=5)
    starts = 0
    was = False
    for v in sample(m, 2 * 86400, 30):
        pumping = v["pump1_running"] or v["pump2_running"]
        starts += pumping and not was
        was = pumping
        if not (v["pump1_fault"] or v["pump2_fault"]):
            assert 1.0 < v["sump_level_m"] < 4.5
        assert v["flow_m3h"] > 0 if pumping else v["flow_m3h"] == 0
    assert starts >= 4
    assert {m.v["pump1_running"], m.v["pump2_running"]} <= {True, False}


def test_drainage_without_pumps_the_sump_fills() -> None:
    m = make_model("drainage_pump")
    m.write("auto_mode", False)
    level = m.v["sump_level_m"]
    m.advance(3 * 3600)
    assert m.v["sump_level_m"] > level + 3.0  # ~260 m³/h into 180 m²
    assert not m.v["pump1_running"] and not m.v["pump2_running"]


# -- washing plant -----------------------------------------------------------------------------
def test_washing_products_add_up_to_the_feed() -> None:
    for v in sample(make_model("washing_plant"), 3600, 60):
        products = v["clean_tph"] + v["middlings_tph"] + v["slime_tph"] + v["gangue_tph"]
        assert products == pytest.approx(v["feed_tph"], abs=0.05)
        assert v["running"] and v["plant_state"] == 2


def test_washing_density_trades_yield_for_ash() -> None:
    m = make_model("washing_plant")
    m.advance(600)
    low = (m.v["clean_yield_pct"], m.v["clean_ash_pct"])
    m.write("density_setpoint", 1.55)
    m.advance(600)
    high = (m.v["clean_yield_pct"], m.v["clean_ash_pct"])
    assert high[0] > low[0] + 5 and high[1] > low[1] + 1


def test_washing_plant_stops_for_the_night_ban() -> None:
    m = make_model("washing_plant", start=DAY_SHIFT.replace(hour=23, minute=50))
    states = [v["plant_state"] for v in sample(m, 3600, 30)]
    assert 3 in states and states[-1] == 0
    assert m.v["feed_tph"] == 0 and not m.v["running"]


# -- conveyor ----------------------------------------------------------------------------------
def test_conveyor_starts_against_and_stops_with_the_coal_flow() -> None:
    m = make_model("conveyor_plc", start=NIGHT.replace(hour=7, minute=59))
    assert m.v["line_state"] == 0
    started: dict[int, float] = {}
    for second in range(1, 240):
        m.advance(1)
        for belt in (1, 2, 3):
            if m.v[f"belt{belt}_contactor"] and belt not in started:
                started[belt] = second
    assert started[3] < started[2] < started[1]
    assert m.v["line_running"] and m.v["line_state"] == 2 and m.v["message"] == "RUNNING"
    m.write("run_request", False)
    stopped: dict[int, float] = {}
    for second in range(1, 240):
        m.advance(1)
        for belt in (1, 2, 3):
            if not m.v[f"belt{belt}_contactor"] and belt not in stopped:
                stopped[belt] = second
    assert stopped[1] < stopped[2] < stopped[3]
    assert m.v["line_state"] == 0 and m.v["belt3_speed"] == 0


def test_conveyor_trip_latches_until_reset() -> None:
    m = make_model("conveyor_plc", seed=11)
    trip = None
    for _ in range(3 * 86400):
        m.advance(1)
        if m.v["fault"]:
            trip = dict(m.v)
            break
    assert trip is not None, "no trip in three days"
    assert trip["line_state"] == 4 and trip["message"].startswith("TRIP:") and trip["fault_code"] != 0
    m.advance(10)
    assert m.v["fault"] and not m.v["line_running"]
    m.write("fault_reset", True)
    assert m.v["fault_reset"] is False  # the PLC clears the command bit
    m.advance(60)
    assert not m.v["fault"]


def test_conveyor_alive_counter_counts_seconds() -> None:
    m = make_model("conveyor_plc")
    a = m.v["alive"]
    m.advance(10)
    assert (m.v["alive"] - a) % 65536 == 10


# -- power meter -------------------------------------------------------------------------------
def test_power_meter_energy_integrates_power_and_follows_production() -> None:
    m = make_model("power_meter")
    e0 = m.v["energy_kwh"]
    integral = 0.0
    for _ in range(3600):
        m.advance(1)
        integral += m.v["p_kw"] / 3600.0
    assert m.v["energy_kwh"] - e0 == pytest.approx(integral, rel=0.002)
    day_power = m.v["p_kw"]
    night = make_model("power_meter", start=NIGHT)
    night.advance(3600)
    assert night.v["p_kw"] < day_power - 1000
    v = m.v
    s = math.sqrt(v["p_kw"] ** 2 + v["q_kvar"] ** 2)
    assert v["pf"] == pytest.approx(v["p_kw"] / s, abs=0.002)
