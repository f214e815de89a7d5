from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devices.model import Access
from gateway.config import ConfigError, load_config, parse_config, parse_duration

GOOD = """\
gateway:
  id: gw-wuhai-01
  enterprise: E150302001
  buffer: {path: ./data/buffer.db, max_mb: 64, max_age: 2d}
devices:
  - name: dev_a
    driver: fake
    connection: {timeout: 500ms}
    interval: 250ms
    heartbeat: 1m
    tags:
      - {name: raw, address: 000017}
      - {name: modicon, address: 40001, scale: 0.1, offset: 2, access: rw}
      - {name: text, address: "HR5", type: string, length: 4, encoding: gbk, byte_order: BADC}
"""


def test_good_config_parses_every_field() -> None:
    cfg = parse_config(GOOD, "g.yaml")
    assert cfg.id == "gw-wuhai-01" and cfg.enterprise == "E150302001"
    assert cfg.buffer.max_mb == 64 and cfg.buffer.max_age == 2 * 86400
    dev = cfg.devices[0]
    assert dev.interval == 0.25 and dev.heartbeat == 60 and dev.timeout == 0.5
    assert dev.tag("modicon").access == Access.READ_WRITE and dev.tag("modicon").scale == 0.1
    assert dev.tag("text").encoding == "gbk" and dev.tag("text").byte_order == "BADC"


def test_address_is_taken_as_written_not_as_a_number() -> None:
    dev = parse_config(GOOD).devices[0]
    assert dev.tag("raw").address == "000017"
    assert dev.tag("modicon").address == "40001"


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("1s", 1), ("5m", 300), ("2h", 7200), ("7d", 604800),
                                               (3, 3.0), ("1.5s", 1.5)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["fast", "5 weeks", "-1s", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_env_substitution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_ID", "gw-from-env")
    cfg = parse_config(GOOD.replace("gw-wuhai-01", "${GW_ID}").replace("64", '"${MAX_MB:-32}"'))
    assert cfg.id == "gw-from-env" and cfg.buffer.max_mb == 32


def test_missing_env_variable_is_a_located_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(ConfigError) as exc:
        parse_config(GOOD.replace("gw-wuhai-01", "${NOPE_NOT_SET}"), "g.yaml")
    assert any(p.line == 2 and "NOPE_NOT_SET" in p.message for p in exc.value.problems)


FIVE_MISTAKES = """\
gateway:
  id: gw-1
  enterprise: E1
  writes: maybe
devices:
  - name: Belt Scale
    driver: fake
    interval: fast
    tags:
      - {name: a, address: HR0, access: write}
      - {name: b, address: HR1, byte_order: XYZW}
"""


def test_five_mistakes_give_five_located_lines_and_exit_2(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(FIVE_MISTAKES)
    proc = subprocess.run([sys.executable, "-m", "minegate_cli", "gateway", "check", "-c", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"{path}:")]
    assert len(lines) == 5, proc.stderr
    expected = {4: "gateway.writes", 6: "devices[0].name", 8: "devices[0].interval", 10: "devices[0].tags[0].access",
                11: "devices[0].tags[1].byte_order"}
    for ln in lines:
        _, line, field, message = ln.split(":", 3)
        assert expected[int(line)] == field.strip(), ln
        assert "allowed" in message


def test_unknown_fields_duplicates_and_missing_parts_are_reported() -> None:
    text = """\
gateway: {id: g, enterprise: E, colour: red}
devices:
  - {name: a, driver: fake, tags: [{name: x, address: HR0}, {name: x, address: HR1}, {address: HR2}]}
  - {name: a, driver: fake, tags: [{name: y}]}
  - {name: c, driver: nosuch, tags: [{name: y, address: HR0}]}
"""
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "f.yaml")
    msgs = [str(p) for p in exc.value.problems]
    assert any("gateway.colour: unknown field" in m for m in msgs)
    assert any("duplicate tag name 'x'" in m for m in msgs)
    assert any("tags[2].name: is required" in m for m in msgs)
    assert any("devices[1].tags[0].address: is required" in m for m in msgs)
    assert any("devices[2].driver: unknown driver 'nosuch'" in m for m in msgs)
    assert all(m.startswith("f.yaml:") for m in msgs)


def test_yaml_syntax_error_names_the_line(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("gateway:\n  id: [unclosed\ndevices: []\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems[0].file == str(path) and exc.value.problems[0].line >= 2


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "missing.yaml")
    assert "cannot read" in str(exc.value)
