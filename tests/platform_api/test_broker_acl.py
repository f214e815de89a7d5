"""`broker-acl` files loaded into a private Mosquitto: a gateway cannot publish as another."""

from __future__ import annotations

import queue
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from platform_api import db
from platform_api.auth import create_token
from platform_api.broker_acl import gateway_username, mosquitto_hash, write_files
from tests.conftest import free_port

pytestmark = pytest.mark.mosquitto
MOSQUITTO = "/usr/sbin/mosquitto"


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(f), "u", "s3cret"], check=True, capture_output=True)
    line = f.read_text().strip()
    _, _, iters, salt, _ = line.split(":", 1)[1].split("$")
    import base64

    assert line == "u:" + mosquitto_hash("s3cret", iterations=int(iters), salt=base64.b64decode(salt))


@pytest.fixture
def broker(tmp_path: Path, sqlite_url: str) -> Iterator[dict]:
    engine = db.make_engine(sqlite_url)
    db.create_tables(engine)
    e1, e2 = "A" + uuid.uuid4().hex[:6], "B" + uuid.uuid4().hex[:6]
    tokens = {
        (e1, "gw1"): create_token(engine, "gateway", enterprise=e1, gateway="gw1"),
        (e1, "gw2"): create_token(engine, "gateway", enterprise=e1, gateway="gw2"),
        (e2, "gw1"): create_token(engine, "gateway", enterprise=e2, gateway="gw1"),
    }
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    res = write_files(engine, tmp_path / "passwd", tmp_path / "acl", platform_user="platform",
                      platform_password="platform-secret", conf_file=conf, port=port)
    engine.dispose()
    # the test's temp folder is private to root: keep the broker from dropping to its own user
    conf.write_text(conf.read_text() + "user root\npersistence false\n")
    assert {gateway_username(*k) for k in tokens} <= set(res.users)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "mosquitto exited") from None
                time.sleep(0.05)
        yield {"port": port, "tokens": tokens, "e1": e1, "e2": e2}
    finally:
        proc.terminate()
        proc.wait(5)


class Client:
    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected: queue.Queue[object] = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self.connected.put(rc)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.rc = self.connected.get(timeout=5)

    def sub(self, topic: str) -> None:
        done: queue.Queue[object] = queue.Queue()
        self.c.on_subscribe = lambda _c, _u, _m, codes, _p: done.put(codes)
        self.c.subscribe(topic, qos=1)
        done.get(timeout=5)

    def pub(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def received(self, n: int) -> list[tuple[str, bytes]]:
        return [self.messages.get(timeout=5) for _ in range(n)]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_gateway_cannot_publish_as_another(broker: dict) -> None:
    port, tokens, e1, e2 = broker["port"], broker["tokens"], broker["e1"], broker["e2"]
    platform = Client(port, "platform", "platform-secret")
    gw1 = Client(port, gateway_username(e1, "gw1"), tokens[(e1, "gw1")])
    try:
        assert not platform.rc.is_failure and not gw1.rc.is_failure  # type: ignore[attr-defined]
        platform.sub("minegate/v1/#")
        # forbidden first, allowed last: messages of one client arrive in order, so when the
        # allowed one is in, a forbidden one that got through would be in too
        gw1.pub(f"minegate/v1/{e1}/gw2/belt/data", b"as gw2")
        gw1.pub(f"minegate/v1/{e2}/gw1/belt/data", b"as other enterprise")
        gw1.pub(f"minegate/v1/{e1}/gw1/belt/write", b"write request by a gateway")
        gw1.pub("minegate/v1/elsewhere", b"outside its tree")
        gw1.pub(f"minegate/v1/{e1}/gw1/belt/data", b"own data")
        gw1.pub(f"minegate/v1/{e1}/gw1/status", b"own status")
        got = platform.received(2)
        assert got == [(f"minegate/v1/{e1}/gw1/belt/data", b"own data"),
                       (f"minegate/v1/{e1}/gw1/status", b"own status")]
        assert platform.messages.empty()
    finally:
        platform.close()
        gw1.close()


def test_gateway_reads_only_its_own_write_requests(broker: dict) -> None:
    port, tokens, e1 = broker["port"], broker["tokens"], broker["e1"]
    platform = Client(port, "platform", "platform-secret")
    gw1 = Client(port, gateway_username(e1, "gw1"), tokens[(e1, "gw1")])
    try:
        gw1.sub(f"minegate/v1/{e1}/+/+/write")  # asks for every gateway's writes: gets only its own
        platform.pub(f"minegate/v1/{e1}/gw2/belt/write", b"for gw2")
        platform.pub(f"minegate/v1/{e1}/gw1/belt/write", b"for gw1")
        assert gw1.received(1) == [(f"minegate/v1/{e1}/gw1/belt/write", b"for gw1")]
        assert gw1.messages.empty()
    finally:
        platform.close()
        gw1.close()


@pytest.mark.parametrize("who", ["anonymous", "wrong password", "other gateway's token"])
def test_login_refused(broker: dict, who: str) -> None:
    port, tokens, e1 = broker["port"], broker["tokens"], broker["e1"]
    user, pw = {
        "anonymous": (None, None),
        "wrong password": (gateway_username(e1, "gw1"), "nope"),
        "other gateway's token": (gateway_username(e1, "gw1"), tokens[(e1, "gw2")]),
    }[who]
    c = Client(port, user, pw)
    try:
        assert c.rc.is_failure  # type: ignore[attr-defined]
    finally:
        c.close()
