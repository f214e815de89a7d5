"""Helpers for the northbound tests: a private Mosquitto, an MQTT subscriber, VictoriaMetrics."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import Access, DeviceSpec, TagSpec
from gateway.settings import BufferSettings, GatewayConfig

MOSQUITTO = "/usr/sbin/mosquitto"
VICTORIA = "/usr/bin/victoria-metrics"
REAL_BROKER = 1883


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {within}s")


def unique(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Broker:
    """A private Mosquitto on a free port that a test can stop and start again (same port,
    persistent sessions kept across the restart)."""

    def __init__(self, workdir: Path, extra: Sequence[str] = (), port: int | None = None) -> None:
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError(f"{MOSQUITTO} missing: apt-get install -y mosquitto")
        self.port = port or free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.dir}/",
            "max_queued_messages 0",
            "user root",  # started as root it would switch to `mosquitto`, who cannot read the temp dir
            *extra,
        ]
        if not any(line.startswith("allow_anonymous") for line in extra):
            lines.append("allow_anonymous true")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=out)
        try:
            wait_port(self.port, self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; log: {self.log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class Subscriber:
    """Collects every message under `topic` (QoS 1, persistent session across broker restarts)."""

    def __init__(self, port: int, topic: str, **auth: Any) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self.topic = topic
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("sub-"), clean_session=False)
        self.client.reconnect_delay_set(0.05, 0.5)
        if auth.get("username"):
            self.client.username_pw_set(auth["username"], auth.get("password"))
        if auth.get("tls_context") is not None:
            self.client.tls_set_context(auth["tls_context"])
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("subscriber did not connect")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait(self, predicate: Callable[[list[tuple[str, bytes, bool]]], bool], within: float = 15.0) -> bool:
        deadline = time.monotonic() + within
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return True

    def data(self) -> list[dict[str, Any]]:
        with self._cond:
            return [orjson.loads(p) for t, p, _ in self.messages if t.endswith("/data")]

    def on(self, suffix: str) -> list[dict[str, Any]]:
        with self._cond:
            return [orjson.loads(p) for t, p, _ in self.messages if t.endswith(suffix) and p]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def data_seqs(sub: Subscriber) -> list[int]:
    return [d["seq"] for d in sub.data()]


def devices(writable: bool = True) -> tuple[DeviceSpec, ...]:
    return (
        DeviceSpec("scale", "fake", tags=(
            TagSpec("flow", "HR0", "float32"),
            TagSpec("setpoint", "HR20", "int16", access=Access.READ_WRITE if writable else Access.READ),
        )),
        DeviceSpec("washer", "fake", tags=(TagSpec("feed", "HR0", "float32"),)),
    )


def gateway_config(
    tmp: Path,
    sinks: Sequence[dict[str, Any]],
    *,
    enterprise: str | None = None,
    writes: bool = False,
    max_mb: float = 64.0,
    max_age: float = 7 * 86400.0,
    buffer_path: str | None = None,
) -> GatewayConfig:
    return GatewayConfig(
        id="gw1",
        enterprise=enterprise or unique("E"),
        devices=devices(),
        buffer=BufferSettings(path=buffer_path or str(tmp / "buffer.db"), max_mb=max_mb, max_age=max_age),
        writes=writes,
        northbound=tuple(sinks),
    )


def mqtt_sink(port: int, **extra: Any) -> dict[str, Any]:
    return {"type": "mqtt", "url": f"mqtt://127.0.0.1:{port}", "reconnect_min": "50ms",
            "reconnect_max": "500ms", "keepalive": 5, "connect_timeout": "1s", **extra}


def clear_retained(port: int, topic: str) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("clr-"))
    with contextlib.suppress(Exception):
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        c.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()


class Victoria:
    """VictoriaMetrics (accepts the InfluxDB v2 write API) on a free port with a temp store."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        if not os.path.exists(VICTORIA) and shutil.which("victoria-metrics") is None:
            raise RuntimeError(
                f"{VICTORIA} is missing: the InfluxDB sink tests need it "
                "(apt-get update && apt-get install -y victoria-metrics)"
            )
        self.binary = VICTORIA if os.path.exists(VICTORIA) else str(shutil.which("victoria-metrics"))
        self.port = port or free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.dir / "vm.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.dir / 'data'}",
             "-loggerLevel=ERROR", "-search.latencyOffset=0s"],
            stdout=log, stderr=log,
        )
        log.close()
        wait_port(self.port, self.proc, within=20)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def export(self, match: str = '{__name__!=""}') -> list[dict[str, Any]]:
        import httpx

        httpx.get(f"{self.url}/internal/force_flush", timeout=5)
        r = httpx.get(f"{self.url}/api/v1/export", params={"match[]": match}, timeout=5)
        r.raise_for_status()
        return [orjson.loads(line) for line in r.text.splitlines() if line.strip()]


def make_password_file(path: Path, user: str, password: str) -> Path:
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), user, password], check=True, capture_output=True)
    os.chmod(path, 0o600)
    return path


def make_tls_files(where: Path) -> dict[str, str]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    where.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("minegate test CA")).issuer_name(name("minegate test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    files = {"ca": where / "ca.pem", "cert": where / "server.pem", "key": where / "server.key",
             "client_cert": where / "client.pem", "client_key": where / "client.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_name, key_name, cn, san in (("cert", "key", "127.0.0.1", True),
                                          ("client_cert", "client_key", "gw1", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1)))
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        files[cert_name].write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        write_key(key, files[key_name])
    return {k: str(v) for k, v in files.items()}
