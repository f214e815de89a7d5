"""`minegate demo` end to end: started as a user would, it prints the URL, live values from the
simulated plant arrive through the gateway's http sink, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

MINE = "E150303001"
START_WITHIN = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited; only its parent's wait is missing
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Output:
    """Collects a process's stdout lines in a thread so the test can wait for one without blocking."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, proc: subprocess.Popen[str], within: float) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                m = rx.search(line)
                if m:
                    return m
            assert proc.poll() is None, "demo exited early:\n" + "\n".join(self.lines[-30:])
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {within}s:\n" + "\n".join(self.lines[-30:]))


def latest(url: str, token: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}api/v1/enterprises/{MINE}/telemetry/latest", headers={"Authorization": f"Bearer {token}"},
                  timeout=10)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def test_demo_starts_serves_live_values_and_stops_every_child(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "minegate_cli", "--log-level", "warning", "demo", "--port", str(port),
         "--data-dir", str(data), "--months", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    out = Output(proc)
    children: list[int] = []
    try:
        url = out.wait_for(r"minegate demo is running: (http://127\.0\.0\.1:\d+/)", proc, START_WITHIN).group(1)
        assert url == f"http://127.0.0.1:{port}/"
        m = out.wait_for(r"children: simulators pid (\d+), gateway pid (\d+)", proc, 10)
        children = [int(m.group(1)), int(m.group(2))]
        assert all(alive(p) for p in children)
        tokens = json.loads((data / "seeded.json").read_text(encoding="utf-8"))
        for t in (tokens["regulator"], tokens["admin"], *tokens["enterprises"].values()):
            assert any(t in line for line in out.lines)  # the login tokens are printed
        token = tokens["enterprises"][MINE]

        # live values arrive from the plant through the gateway, and move
        deadline = time.monotonic() + 45
        seen: dict[tuple[str, str], str] = {}
        moved = False
        while time.monotonic() < deadline and not moved:
            rows = latest(url, token)
            for r in rows:
                key = (r["device"], r["tag"])
                if key in seen and r["ts"] != seen[key]:
                    moved = True
                seen[key] = r["ts"]
            time.sleep(0.5)
        assert moved, f"no live value moved within 45 s ({len(seen)} tags seen)"
        assert {d for d, _t in seen} >= {"belt_scale_main", "washer", "conveyor_plc", "methane_face"}

        # device states come through the http sink's status posts
        r = httpx.get(f"{url}api/v1/enterprises/{MINE}/gateways", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()[0]["gateway"] == "gw-xt-01"

        # the pages are served too
        r = httpx.post(f"{url}login", data={"token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/e/{MINE}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)], "children left running"
    assert code == 0, "\n".join(out.lines[-30:])
    assert any(line == "stopped" for line in out.lines)
