"""Run every benchmark in one go and write `bench/results.md` (`make bench`).

Each benchmark prints its own figures beside the baseline it measured in the same run; this
script only runs them in turn and records their output with the machine they ran on, so the
ratios in `bench/README.md` can be reproduced. `--quick` passes `--quick` to each.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "modbus_bench.py",
    "s7_bench.py",
    "opcua_bench.py",
    "northbound_bench.py",
    "ledger_bench.py",
    "platform_bench.py",
    "digitalization_bench.py",
    "simulators_bench.py",
    "http_sink_bench.py",
    "e2e_modbus.py",
]


def machine_line() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test of every benchmark)")
    ap.add_argument("--only", nargs="*", help="benchmark file names to run")
    args = ap.parse_args()
    out = [f"# Benchmark results\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {machine_line()}\n"]
    failed = 0
    for name in args.only or BENCHES:
        script = HERE / name
        if not script.exists():
            out.append(f"\n## {name}\n\nnot present\n")
            continue
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"== {name}", flush=True)
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        took = time.monotonic() - started
        print(proc.stdout, end="")
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        failed += proc.returncode != 0
        out.append(f"\n## {name} ({status}, {took:.0f} s)\n\n```\n{proc.stdout.strip()}\n```\n")
        if proc.returncode != 0:
            out.append(f"\nstderr (tail):\n\n```\n{proc.stderr.strip()[-3000:]}\n```\n")
    (HERE / "results.md").write_text("".join(out), encoding="utf-8")
    print(f"wrote {HERE / 'results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
