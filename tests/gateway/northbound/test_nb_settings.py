"""Sink entries are checked field by field with what is allowed, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb_support import gateway_config

from gateway.northbound import SinkConfigError, build_outlet, check_sink, parse_duration
from gateway.northbound.settings import InfluxSettings, MqttSettings, default_names, parse_sink


def fields(entry: dict) -> dict[str, str]:
    return {p.field: p.message for p in check_sink(entry)}


def test_minimal_entries_are_valid() -> None:
    assert check_sink({"type": "mqtt", "url": "mqtt://127.0.0.1:1883"}) == []
    assert check_sink({"type": "influxdb", "url": "http://127.0.0.1:8086", "org": "o", "bucket": "b",
                       "token": "t"}) == []


def test_contract_example_entries_are_valid() -> None:
    assert check_sink({"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "username": "gw-wuhai-01",
                       "password": "secret"}) == []


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ({"type": "kafka", "url": "x"}, "type", ["mqtt", "influxdb"]),
        ({"url": "mqtt://h"}, "type", ["missing", "mqtt"]),
        ({"type": "mqtt"}, "url", ["missing"]),
        ({"type": "mqtt", "url": "http://h:1883"}, "url", ["scheme", "mqtts"]),
        ({"type": "mqtt", "url": "mqtt://:1883"}, "url", ["no host"]),
        ({"type": "mqtt", "url": "mqtt://h:99999"}, "url", ["not a valid URL"]),
        ({"type": "mqtt", "url": "mqtt://h/topic"}, "url", ["path"]),
        ({"type": "mqtt", "url": "mqtt://h", "qos": 2}, "qos", ["unknown field", "inflight"]),
        ({"type": "mqtt", "url": "mqtt://h", "inflight": 0}, "inflight", ["1 to 10000"]),
        ({"type": "mqtt", "url": "mqtt://h", "inflight": "ten"}, "inflight", ["not an integer"]),
        ({"type": "mqtt", "url": "mqtt://h", "keepalive": "soon"}, "keepalive", ["not a duration", "5m"]),
        ({"type": "mqtt", "url": "mqtt://h", "protocol": "3"}, "protocol", ["3.1.1", "5"]),
        ({"type": "mqtt", "url": "mqtt://h", "reconnect_min": "10s", "reconnect_max": "1s"},
         "reconnect_min", ["reconnect_max"]),
        ({"type": "mqtt", "url": "mqtt://h", "name": "Bad Name"}, "name", ["a-z 0-9"]),
        ({"type": "mqtt", "url": "mqtt://h", "tls": {"ca": "/no/such/ca.pem"}}, "tls.ca", ["not found"]),
        ({"type": "mqtt", "url": "mqtt://h", "tls": {"verify": True}}, "tls.verify", ["ca, cert, key, insecure"]),
        ({"type": "mqtt", "url": "mqtt://h", "tls": {"insecure": "yes"}}, "tls.insecure", ["boolean"]),
        ({"type": "mqtt", "url": "mqtt://h", "tls": "on"}, "tls", ["mapping"]),
        ({"type": "influxdb", "url": "http://h"}, "bucket", ["missing"]),
        ({"type": "influxdb", "url": "mqtt://h", "bucket": "b"}, "url", ["http, https"]),
        ({"type": "influxdb", "url": "http://h", "bucket": "b", "batch_size": 0}, "batch_size", ["1 to 100000"]),
        ({"type": "influxdb", "url": "http://h", "bucket": "b", "flush_interval": "-1s"}, "flush_interval",
         ["duration"]),
        ({"type": "influxdb", "url": "http://h", "bucket": "b", "username": "u"}, "username", ["unknown field"]),
    ],
)
def test_bad_entries_name_the_field_and_what_is_allowed(entry: dict, field: str, words: list[str]) -> None:
    problems = fields(entry)
    assert field in problems, problems
    for w in words:
        assert w in problems[field], problems[field]


def test_every_problem_is_reported_at_once() -> None:
    problems = fields({"type": "mqtt", "url": "ftp://h", "inflight": -1, "colour": "red"})
    assert set(problems) == {"url", "inflight", "colour"}


def test_tls_needs_cert_and_key_together(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    assert "tls.key" in fields({"type": "mqtt", "url": "mqtt://h", "tls": {"cert": str(cert)}})


def test_not_a_mapping() -> None:
    assert check_sink("mqtt://h")[0].field == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("1s", 1), ("5m", 300), ("2h", 7200),
                                               ("7d", 604800), (3, 3.0), ("1.5s", 1.5), ("10", 10.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "fast", "1w", True, -1, "-5s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_applies_defaults_and_url_parts() -> None:
    s = parse_sink({"type": "mqtt", "url": "mqtts://u:p@broker.example"}, "mqtt")
    assert isinstance(s, MqttSettings)
    assert (s.host, s.port, s.username, s.password) == ("broker.example", 8883, "u", "p")
    assert s.tls is not None and s.tls.ca is None
    plain = parse_sink({"type": "mqtt", "url": "mqtt://h", "inflight": 7, "keepalive": "1m"}, "m")
    assert isinstance(plain, MqttSettings)
    assert (plain.port, plain.tls, plain.inflight, plain.keepalive) == (1883, None, 7, 60.0)
    i = parse_sink({"type": "influxdb", "url": "http://h:8086/", "bucket": "b", "flush_interval": "250ms"}, "i")
    assert isinstance(i, InfluxSettings)
    assert (i.url, i.batch_size, i.flush_interval, i.token) == ("http://h:8086", 5000, 0.25, None)


def test_parse_refuses_invalid_entry() -> None:
    with pytest.raises(SinkConfigError) as err:
        parse_sink({"type": "mqtt"}, "m")
    assert err.value.problems[0].field == "url"


def test_default_names_are_stable_and_unique() -> None:
    assert default_names([{"type": "mqtt"}, {"type": "influxdb"}]) == ["mqtt", "influxdb"]
    assert default_names([{"type": "mqtt"}, {"type": "mqtt", "name": "cloud"}, {"type": "mqtt"}]) == [
        "mqtt-1", "cloud", "mqtt-3"]


def test_build_outlet_refuses_bad_or_duplicate_sinks(tmp_path: Path) -> None:
    with pytest.raises(SinkConfigError):
        build_outlet(gateway_config(tmp_path, [{"type": "mqtt", "url": "ftp://x"}]))
    dup = [{"type": "mqtt", "url": "mqtt://a", "name": "x"}, {"type": "influxdb", "url": "http://b",
                                                              "bucket": "b", "name": "x"}]
    with pytest.raises(ValueError, match="unique"):
        build_outlet(gateway_config(tmp_path, dup))
