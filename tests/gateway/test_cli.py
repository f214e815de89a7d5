"""The gateway commands as a site engineer runs them (a real subprocess, the fake driver)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.conftest import free_port

CONFIG = """\
gateway: {{id: gw-1, enterprise: E1{http}}}
devices:
  - name: ok_dev
    driver: fake
    connection: {{values: {{level: 7}}}}
    tags:
      - {{name: level, address: HR0, scale: 0.5}}
      - {{name: setpoint, address: HR1, type: int16, access: rw}}
  - name: dead_dev
    driver: fake
    connection: {{behaviour: error}}
    tags:
      - {{name: x, address: HR0}}
"""


def minegate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minegate_cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_read_prints_one_sample_per_line_and_exits_0_with_bad_samples(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(CONFIG.format(http=""))
    proc = minegate("gateway", "read", "-c", str(path))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    by_tag = {(r["device"], r["tag"]): r for r in rows}
    assert by_tag[("ok_dev", "level")]["value"] == 3.5 and by_tag[("ok_dev", "level")]["quality"] == "good"
    dead = by_tag[("dead_dev", "x")]
    assert dead["quality"] == "bad" and dead["value"] is None and "refused" in dead["error"]


def test_read_one_device_and_unknown_device(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(CONFIG.format(http=""))
    proc = minegate("gateway", "read", "-c", str(path), "--device", "ok_dev", "--format", "table")
    assert proc.returncode == 0 and "level" in proc.stdout and "dead_dev" not in proc.stdout
    proc = minegate("gateway", "read", "-c", str(path), "--device", "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr


def test_write_reads_back_and_refuses_read_only(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(CONFIG.format(http=""))
    proc = minegate("gateway", "write", "-c", str(path), "ok_dev", "setpoint", "12")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"] == 12
    proc = minegate("gateway", "write", "-c", str(path), "ok_dev", "level", "1")
    assert proc.returncode == 2 and "read-only" in proc.stderr


def test_run_serves_stats_and_stops_cleanly_on_sigterm(write_config) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    path = write_config(CONFIG.format(http=f", http: {{port: {port}}}"))
    proc = subprocess.Popen([sys.executable, "-m", "minegate_cli", "--log-format", "json", "gateway", "run",
                             "-c", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        stats = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=2) as r:
                    stats = json.loads(r.read())
                if stats["devices"]["ok_dev"]["reads"] >= 2:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert stats is not None
        assert stats["devices"]["ok_dev"]["state"] == "up"
        assert stats["devices"]["dead_dev"]["state"] == "down"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            metrics = r.read().decode()
        assert 'minegate_device_up{device="ok_dev",gateway="gw-1"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        events = [json.loads(line).get("event") for line in err.splitlines() if line.startswith("{")]
        assert "gateway.start" in events and "gateway.stop" in events and "device.down" in events
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
