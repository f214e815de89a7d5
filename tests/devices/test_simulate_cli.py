"""`minegate simulate`: serve until stopped, print where, refuse unknown profiles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from devices.cli import app, simulate

runner = CliRunner()


def test_serves_and_prints_where_it_listens() -> None:
    res = runner.invoke(app, ["belt_scale", "--port", "0", "--duration", "0.2", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "belt_scale (belt_scale, modbus) listening on modbus-tcp://127.0.0.1:" in res.output
    assert "profile: belt_scale" in res.output and "seed 3" in res.output


def test_unknown_profile_lists_the_choices_and_exits_2() -> None:
    res = runner.invoke(app, ["belt_scal"])
    assert res.exit_code == 2
    assert "unknown profile 'belt_scal'" in res.stderr and "belt_scale, co_sensor" in res.stderr


@pytest.mark.parametrize("mount", ["add_typer", "command"])
def test_mounted_under_the_main_cli(mount: str) -> None:
    main = typer.Typer()

    @main.command()
    def other() -> None: ...

    if mount == "add_typer":
        main.add_typer(app, name="simulate")
    else:
        main.command("simulate")(simulate)
    res = runner.invoke(main, ["simulate", "co_sensor", "--port", "0", "--duration", "0.1"])
    assert res.exit_code == 0, res.output
    assert "listening on modbus-tcp://" in res.output
    assert runner.invoke(main, ["simulate", "nope"]).exit_code == 2


def test_written_config_is_a_valid_gateway_config(tmp_path: Path) -> None:
    config = pytest.importorskip("gateway.config")
    out = tmp_path / "sim.yaml"
    res = runner.invoke(app, ["conveyor_plc", "--port", "0", "--duration", "0.1", "--config", str(out)])
    assert res.exit_code == 0, res.output
    cfg = config.load_config(out)
    assert cfg.devices[0].driver == "s7" and cfg.devices[0].profile == "conveyor_plc"


def test_busy_port_is_a_runtime_failure() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        res = runner.invoke(app, ["co_sensor", "--port", str(s.getsockname()[1]), "--duration", "0.1"])
    assert res.exit_code == 1 and "cannot serve co_sensor" in res.stderr


def test_runs_until_interrupted_then_exits_0() -> None:
    code = "from devices.cli import app; app()"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, "dust_monitor", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on modbus-tcp://127.0.0.1:" in first
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
