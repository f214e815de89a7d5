"""End to end: Modbus devices -> gateway -> Mosquitto, against the raw protocol ceiling and a peer.

N simulated Modbus TCP devices x M tags (`bench/e2e_loadgen.py`, one process pinned to core 1,
values changing every `--tick`, so every tag is new at every 1 s poll) are polled by a gateway
running as its own process pinned to core 0, which publishes to the local Mosquitto
(127.0.0.1:1883); a subscriber process on core 1 (`bench/e2e_subscriber.py`) counts the tag
values that arrive. The same workload runs, in turn and in the same run, through:

  minegate      `minegate gateway run -c FILE` with a generated config (stats on `gateway.http`)
  raw           the bare pymodbus client reading the same spans, no decoding, nothing published
                (`bench/e2e_raw.py`): the protocol ceiling, the floor of what a gateway can cost
  thingsboard   ThingsBoard IoT Gateway 3.8.5 (`bench/peer/`), one timeseries entry per tag

Headline: tags delivered per gateway CPU-second (utime + stime of the gateway process from
/proc, over the measuring window, aligned on the subscriber's per-second counts). Also:
delivered tags/s, RSS over the window, latency from the server's value change to arrival and
from the gateway's read to arrival (p50/p99), cycle overruns (minegate's `/stats`), and the
highest offered rate minegate sustains without overruns.

Run: .venv/bin/python bench/e2e_modbus.py [--quick] [--rates 10000,50000,100000]
     [--peer-rates 2000,10000] [--tags 500] [--seconds 30] [--soak 120] [--no-peer] [--no-raw]
     [--no-ladder] [--against OTHER_CHECKOUT]
Needs the local Mosquitto on 127.0.0.1:1883; the peer's virtualenv is made on first use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from e2e_loadgen import Workload  # noqa: E402
from peer import thingsboard  # noqa: E402

PY = sys.executable
MINEGATE = str(Path(PY).with_name("minegate"))
GATEWAY_CORE, LOAD_CORE = 0, 1
WORK = HERE / ".work" / "e2e"
BROKER = ("127.0.0.1", 1883)
CLK_TCK = os.sysconf("SC_CLK_TCK")
TASKSET = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


# -- processes -------------------------------------------------------------------------------
class Proc:
    """A child pinned to a core; its JSON stdout lines are collected by a reader thread."""

    def __init__(self, name: str, cmd: list[str], core: int | None, *, json_lines: bool = True,
                 log: Path | None = None, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        full = (["taskset", "-c", str(core)] if core is not None and TASKSET else []) + cmd
        self.log_path = log
        self._files = [open(log, "wb")] if log else []
        err: Any = self._files[0] if log else subprocess.DEVNULL
        out: Any = subprocess.PIPE if json_lines else err
        self.popen = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env, cwd=cwd,
                                      start_new_session=True)
        self.lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.latest: dict[str, Any] = {}
        if json_lines:
            threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            self.latest = doc
            self.lines.put((time.time(), doc))

    def wait_for(self, key: str, within: float) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                _, doc = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.popen.returncode}{self.tail()}") from None
                continue
            if key in doc:
                return doc
            if "error" in doc:
                raise RuntimeError(f"{self.name}: {doc['error']}")
        raise RuntimeError(f"{self.name}: no `{key}` within {within:g} s{self.tail()}")

    def next_line(self, within: float = 5.0, fresh: bool = False) -> dict[str, Any]:
        """The next line in order; `fresh` drops the queued ones first (a new snapshot)."""
        if fresh:
            with contextlib.suppress(queue.Empty):
                while True:
                    self.lines.get_nowait()
        try:
            return self.lines.get(timeout=within)[1]
        except queue.Empty:
            raise RuntimeError(f"{self.name}: silent for {within:g} s{self.tail()}") from None

    def tail(self, n: int = 1500) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_bytes()[-n:].decode(errors="replace").strip()
        return f"; last output:\n{text}" if text else ""

    def stop(self, grace: float = 15.0) -> int | None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(Exception):
            assert self.popen.stdin is not None
            self.popen.stdin.close()
        for f in self._files:
            f.close()
        return self.popen.returncode


def target_pid(proc: Proc) -> int:
    """The measured process: taskset execs its command, so it is the child itself."""
    return proc.pid


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_reachable() -> str | None:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return None
    except OSError as exc:
        return f"no MQTT broker at {BROKER[0]}:{BROKER[1]} ({exc})"


# -- minegate config -------------------------------------------------------------------------
def minegate_config(path: Path, ports: list[int], workload: Workload, http_port: int) -> None:
    """The generated gateway config: one device per simulated server, every tag of the map."""
    tags = []
    for t in workload.layout:
        scale = f", scale: {t.scale}" if t.scale is not None else ""
        tags.append(f"      - {{name: {t.name}, address: HR{t.address}, type: {t.kind}{scale}}}\n")
    tag_block = "".join(tags)
    lines = [
        "gateway:\n  id: e2e-gw\n  enterprise: E2E\n",
        f"  buffer: {{path: {path.parent / 'buffer.db'}, max_mb: 512}}\n",
        f"  http: {{host: 127.0.0.1, port: {http_port}}}\n",
        "devices:\n",
    ]
    for i, port in enumerate(ports):
        # identical devices share one tag list through a YAML anchor, as a site would write it
        lines.append(f"  - name: dev{i:04d}\n    driver: modbus\n"
                     f"    connection: {{host: 127.0.0.1, port: {port}, unit: 1, timeout: 1s}}\n"
                     "    interval: 1s\n    heartbeat: 60s\n")
        lines.append("    tags: &tags\n" + tag_block if i == 0 else "    tags: *tags\n")
    lines.append(f'northbound:\n  - {{type: mqtt, url: "mqtt://{BROKER[0]}:{BROKER[1]}"}}\n')
    path.write_text("".join(lines))


def minegate_stats(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def overruns(stats: dict[str, Any] | None) -> int | None:
    if stats is None:
        return None
    return sum(int(d.get("overruns", 0)) for d in stats.get("devices", {}).values())


# -- one scenario ----------------------------------------------------------------------------
@dataclass
class Result:
    gateway: str
    offered: int
    devices: int
    tags: int
    seconds: float = 0.0
    delivered: float = 0.0
    cpu: float = 0.0
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_max: float = 0.0
    rss_series: list[float] = field(default_factory=list)
    change_p50: float | None = None
    change_p99: float | None = None
    read_p50: float | None = None
    read_p99: float | None = None
    overruns: int | None = None
    seq_gaps: int | None = None
    bad: int = 0
    loadgen_cpu: float = 0.0
    error: str | None = None

    @property
    def per_cpu_s(self) -> float:
        return self.delivered * self.seconds / self.cpu if self.cpu > 0 else 0.0

    @property
    def kept_up(self) -> bool:
        return self.error is None and self.delivered >= 0.98 * self.offered and not self.overruns


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run(kind: str, devices: int, tags: int, args: argparse.Namespace, seconds: int | None = None) -> Result:
    """Start load generator, subscriber and one gateway; measure a window; stop them all."""
    workload = Workload(tags)
    seconds = seconds or args.seconds
    res = Result(kind, devices * tags, devices, tags)
    work = WORK / f"{kind.replace(' ', '_')}-{devices * tags}"
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("buffer.db*"):
        f.unlink()
    procs: list[Proc] = []
    try:
        load = Proc("load generator", [PY, str(HERE / "e2e_loadgen.py"), "--devices", str(devices), "--tags",
                                       str(tags), "--tick", str(args.tick), "--server", args.server],
                    LOAD_CORE, log=work / "loadgen.log")
        procs.append(load)
        info = load.wait_for("ports", 120)
        ports: list[int] = info["ports"]
        sub = Proc("subscriber", [PY, str(HERE / "e2e_subscriber.py"), "--t0", repr(info["t0"]),
                                  "--tick", str(info["tick"])], LOAD_CORE, log=work / "subscriber.log")
        procs.append(sub)
        sub.wait_for("ready", 20)
        http_port = 0
        if kind.startswith("minegate"):
            http_port = free_port()
            cfg = work / "gateway.yaml"
            minegate_config(cfg, ports, workload, http_port)
            cmd, env = [MINEGATE, "gateway", "run", "-c", str(cfg)], None
            if kind != "minegate":  # another checkout, e.g. before a change: its code first on the path
                cmd = [PY, "-c", "import sys; sys.argv[0] = 'minegate'; from minegate_cli import app; app()",
                       *cmd[1:]]
                env = {**os.environ, "PYTHONPATH": str(args.against)}
            gw = Proc(kind, cmd, GATEWAY_CORE, json_lines=False, log=work / "gateway.log", cwd=work, env=env)
        elif kind == "raw":
            gw = Proc("raw client", [PY, str(HERE / "e2e_raw.py"), "--ports", ",".join(map(str, ports)),
                                     "--registers", str(workload.registers), "--tags", str(tags)],
                      GATEWAY_CORE, log=work / "raw.log")
        else:
            exe = thingsboard.ensure_venv(lambda m: print(m, flush=True))
            peer = thingsboard.prepare(work / "peer", exe, [(f"dev{i:04d}", p) for i, p in enumerate(ports)],
                                       workload.layout, BROKER)
            standin = Proc("session-limits stand-in", [PY, str(HERE / "peer" / "session_limits.py")], LOAD_CORE,
                           log=work / "standin.log")
            procs.append(standin)
            gw = Proc("thingsboard-gateway", peer.cmd, GATEWAY_CORE, json_lines=False, log=work / "peer.log",
                      env=peer.env, cwd=peer.cwd)
        procs.append(gw)
        pid = target_pid(gw)
        rss: list[float] = []

        def alive() -> None:
            if gw.popen.poll() is not None:
                raise RuntimeError(f"{gw.name} exited with {gw.popen.returncode}{gw.tail()}")

        # warm-up: every device delivered (raw: every device read), then let the first burst pass
        deadline = time.monotonic() + args.warmup
        while True:
            alive()
            doc = (gw if kind == "raw" else sub).next_line(fresh=True)
            rss.append(rss_mb(pid))
            if (doc.get("tags", 0) >= devices * tags) if kind == "raw" else (doc.get("devices", 0) >= devices):
                break
            if time.monotonic() > deadline:
                seen = doc.get("devices", 0)
                raise RuntimeError(f"{gw.name}: only {seen} of {devices} devices delivered within "
                                   f"{args.warmup:g} s{gw.tail()}")
        for _ in range(args.settle):
            alive()
            (gw if kind == "raw" else sub).next_line(fresh=True)
            rss.append(rss_mb(pid))
        # the window, aligned on the per-second lines of whoever counts
        counter = gw if kind == "raw" else sub
        first = counter.next_line(fresh=True)
        cpu0, load0, ovr0 = cpu_seconds(pid), load.latest.get("cpu", 0.0), overruns(minegate_stats(http_port))
        res.rss_start = rss_mb(pid)
        series = [res.rss_start]
        change: list[float] = []
        read: list[float] = []
        last = first
        for _ in range(seconds):
            alive()
            last = counter.next_line()
            series.append(rss_mb(pid))
            change += last.get("change_ms", [])
            read += last.get("read_ms", [])
        cpu1, load1 = cpu_seconds(pid), load.latest.get("cpu", 0.0)
        if kind.startswith("minegate"):
            ovr1 = overruns(minegate_stats(http_port))
            res.overruns = None if ovr0 is None or ovr1 is None else ovr1 - ovr0
        elif kind == "raw":
            res.overruns = int(last["overruns"]) - int(first["overruns"])
        span = float(last["t"]) - float(first["t"]) if "t" in last else float(args.seconds)
        res.seconds = span if span > 0 else float(seconds)
        key = "tags" if kind == "raw" else "values"
        res.delivered = (int(last[key]) - int(first[key])) / res.seconds
        res.cpu = cpu1 - cpu0
        res.loadgen_cpu = (float(load1) - float(load0)) / res.seconds
        res.rss_end, res.rss_max, res.rss_series = series[-1], max(series), [round(x, 1) for x in series]
        res.change_p50, res.change_p99 = _pct(change, 0.5), _pct(change, 0.99)
        res.read_p50, res.read_p99 = _pct(read, 0.5), _pct(read, 0.99)
        if kind != "raw":
            res.bad = int(last.get("bad", 0)) - int(first.get("bad", 0))
        if kind.startswith("minegate"):
            res.seq_gaps = int(last["seq_span"]) - int(last["seq_distinct"])
    except (RuntimeError, thingsboard.PeerUnavailable, OSError) as exc:
        res.error = str(exc)
    finally:
        for p in reversed(procs):
            p.stop()
    return res


# -- report ----------------------------------------------------------------------------------
def machine_line() -> str:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def row(r: Result) -> str:
    if r.error:
        return f"| {r.gateway} | {r.offered:,} | failed: {r.error.splitlines()[0][:160]} |"
    growth = (r.rss_end - r.rss_start) / max(r.seconds, 1) * 60
    return (f"| {r.gateway} | {r.offered:,} ({r.devices}x{r.tags}) | {r.delivered:,.0f} | "
            f"{r.delivered / r.offered:.2f} | {100 * r.cpu / r.seconds:.0f} % | {r.per_cpu_s:,.0f} | "
            f"{r.rss_start:.0f} -> {r.rss_end:.0f} ({growth:+.1f}/min) | "
            f"{_ms(r.change_p50)} / {_ms(r.change_p99)} | {_ms(r.read_p50)} / {_ms(r.read_p99)} | "
            f"{'-' if r.overruns is None else r.overruns} | {100 * r.loadgen_cpu:.0f} % |")


HEADER = ("| gateway | offered tags/s (devices x tags) | delivered tags/s | delivered/offered | gateway CPU | "
          "tags per CPU-second | RSS MB start -> end (growth) | change->arrival p50 / p99 ms | "
          "read->arrival p50 / p99 ms | overruns | load generator CPU |\n|" + "---|" * 11)


def ratios(results: list[Result]) -> list[str]:
    out = []
    by = {(r.gateway, r.offered): r for r in results if not r.error and r.cpu > 0}
    for (gw, offered), r in sorted(by.items(), key=lambda x: x[0][1]):
        if gw != "minegate":
            continue
        raw = by.get(("raw", offered))
        if raw is not None:
            out.append(f"- {offered:,} tags/s offered: minegate {r.per_cpu_s:,.0f} tags per CPU-second = "
                       f"{r.per_cpu_s / raw.per_cpu_s:.2f}x the bare pymodbus client's {raw.per_cpu_s:,.0f} "
                       f"(the raw protocol ceiling; minegate's CPU is {r.cpu / raw.cpu:.2f}x the raw client's)")
        for (other, at), o in by.items():
            if other.startswith("minegate ") and at == offered and "soak" not in other:
                out.append(f"- {offered:,} tags/s offered: minegate {r.per_cpu_s:,.0f} tags per CPU-second vs "
                           f"{other} {o.per_cpu_s:,.0f} = {r.per_cpu_s / o.per_cpu_s:.2f}x")
        tb = by.get(("thingsboard", offered))
        if tb is not None:
            out.append(f"- {offered:,} tags/s offered: minegate {r.per_cpu_s:,.0f} tags per CPU-second vs "
                       f"ThingsBoard IoT Gateway {tb.per_cpu_s:,.0f} = **{r.per_cpu_s / tb.per_cpu_s:.1f}x**; "
                       f"delivered {r.delivered:,.0f} vs {tb.delivered:,.0f} tags/s "
                       f"({r.delivered / max(tb.delivered, 1):.1f}x), RSS {r.rss_end:.0f} vs {tb.rss_end:.0f} MB")
    sustained = [r.offered for r in results if r.gateway == "minegate" and r.kept_up]
    failed = [r.offered for r in results if r.gateway == "minegate" and not r.kept_up]
    if sustained:
        above = [f for f in failed if f > max(sustained)]
        out.append(f"- highest offered rate minegate sustained (no cycle overruns, >= 98 % delivered): "
                   f"{max(sustained):,} tags/s" + (f"; {min(above):,} was not" if above else
                                                   " (the highest tried)"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short and small (smoke run)")
    ap.add_argument("--rates", help="offered tags/s for minegate (and raw), comma-separated")
    ap.add_argument("--peer-rates", help="offered tags/s at which the peer runs too")
    ap.add_argument("--tags", type=int, help="tags per device (default 500; quick 200)")
    ap.add_argument("--seconds", type=int, help="measuring window per scenario (default 30; quick 6)")
    ap.add_argument("--warmup", type=float, default=90.0, help="max seconds until every device delivered")
    ap.add_argument("--settle", type=int, default=3, help="seconds after warm-up before measuring")
    ap.add_argument("--tick", type=float, default=0.1, help="seconds between the simulated value changes")
    ap.add_argument("--server", choices=("lean", "pymodbus"), default="lean", help="simulated device server")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-raw", action="store_true")
    ap.add_argument("--no-ladder", action="store_true", help="skip the search for the highest sustained rate")
    ap.add_argument("--soak", type=int, help="seconds of one long minegate run at the highest rate, for RSS over "
                    "time (default 120; quick 0)")
    ap.add_argument("--against", type=Path, help="another minegate checkout (e.g. `git archive` of an older commit) "
                    "run the same way at every rate, for before/after ratios")
    ap.add_argument("--json", type=Path, default=WORK / "results.json")
    args = ap.parse_args()
    q = args.quick
    tags = args.tags or (200 if q else 500)
    rates = [int(x) for x in (args.rates or ("4000" if q else "10000,50000,100000")).split(",")]
    peer_rates = [] if args.no_peer else [int(x) for x in (args.peer_rates or ("2000" if q else "2000,10000"))
                                          .split(",")]
    args.seconds = args.seconds or (6 if q else 30)
    args.soak = (0 if q else 120) if args.soak is None else args.soak
    problem = broker_reachable()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"end to end, Modbus TCP -> gateway -> MQTT; {machine_line()}")
    if not TASKSET:
        print("note: no `taskset` or a single core: processes are not pinned, so the gateway shares its core")
    print(f"{tags} tags per device polled every 1 s, values changing every {args.tick:g} s; gateway on core "
          f"{GATEWAY_CORE}; load generator ({args.server} servers), subscriber, stand-in on core {LOAD_CORE}; "
          f"{args.seconds} s windows\n", flush=True)
    results: list[Result] = []

    def go(kind: str, rate: int) -> Result:
        devices = max(1, round(rate / tags))
        r = run(kind, devices, tags, args)
        results.append(r)
        print(row(r), flush=True)
        return r

    print(HEADER, flush=True)
    against = f"minegate ({args.against.name})" if args.against else None
    for rate in sorted(set(rates) | set(peer_rates)):
        go("minegate", rate)
        if against and rate in rates:
            go(against, rate)
        if not args.no_raw and (rate in rates or rate in peer_rates):
            go("raw", rate)
        if rate in peer_rates:
            go("thingsboard", rate)
    if not q and not args.no_ladder:
        ok = [r.offered for r in results if r.gateway == "minegate" and r.kept_up]
        bad = [r.offered for r in results if r.gateway == "minegate" and not r.kept_up and not r.error]
        best = max(ok, default=0)
        worst = min((b for b in bad if b > best), default=None)
        for _ in range(3):
            nxt = (best + worst) // 2 if worst is not None else int(best * 1.5)
            nxt = round(nxt / tags) * tags
            if best == 0 or nxt <= best or (worst is not None and nxt >= worst):
                break
            r = go("minegate", nxt)
            if r.kept_up:
                best = nxt
            elif r.error is None:
                worst = nxt
            else:
                break
    if args.soak:
        rate = max(rates)
        print(f"\nsoak: minegate at {rate:,} tags/s offered for {args.soak} s (RSS every 10 s)", flush=True)
        r = run("minegate", max(1, round(rate / tags)), tags, args, seconds=args.soak)
        r.gateway = "minegate (soak)"
        results.append(r)
        print(HEADER + "\n" + row(r), flush=True)
        if not r.error:
            print("RSS MB every 10 s: " + ", ".join(f"{x:.0f}" for x in r.rss_series[::10]), flush=True)
    print()
    for line in ratios(results):
        print(line)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine_line(), "tags": tags, "results":
                                     [{**asdict(r), "per_cpu_s": r.per_cpu_s} for r in results]}, indent=1))
    failed = [r for r in results if r.error and r.gateway != "thingsboard"]
    for r in results:
        if r.error:
            print(f"\n{r.gateway} at {r.offered:,} tags/s could not be measured: {r.error}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
