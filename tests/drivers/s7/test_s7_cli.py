"""`minegate driver s7 probe` against a real snap7 server."""

from __future__ import annotations

import struct

from typer.testing import CliRunner

from drivers.s7.cli import app
from tests.drivers.s7.s7_testkit import Rig, free_port

runner = CliRunner()


def test_probe_shows_pdu_mode_and_values(rig: Rig) -> None:
    rig.db1[0:4] = struct.pack(">f", 12.5)
    rig.m[1] = 0x04
    result = runner.invoke(app, ["probe", "127.0.0.1", "--port", str(rig.port), "--read", "DB1.DBD0:real",
                                 "--read", "M1.2", "--read", "DB9.DBW0:int"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "rack 0 slot 1: connected to 127.0.0.1" in out
    assert "PDU size: 960 asked, 480 granted" in out and "CPU mode: run" in out
    assert "DB1.DBD0:real = 12.5" in out and "M1.2 = True" in out
    assert "DB9.DBW0:int = None (bad: DB9.DBW0: DB9 does not exist in the PLC" in out


def test_probe_reports_what_failed_and_exits_1() -> None:
    result = runner.invoke(app, ["probe", "127.0.0.1", "--port", str(free_port()), "--timeout", "0.3", "--scan"])
    assert result.exit_code == 1
    assert result.output.count("cannot connect") == 4 and "rack 0 slot 2:" in result.output


def test_probe_refuses_a_bad_address_with_exit_2() -> None:
    result = runner.invoke(app, ["probe", "127.0.0.1", "--read", "DB1.DBW0"])
    assert result.exit_code == 2
    assert "needs an explicit type" in result.output
