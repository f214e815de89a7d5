"""`minegate platform ...` commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from platform_api import db
from platform_api.auth import TokenCache
from platform_api.cli import app
from tests.conftest import free_port

runner = CliRunner()


def test_create_token_prints_a_working_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    r = runner.invoke(app, ["create-token", "--role", "regulator", "--district", "乌达区", "--database-url", url])
    assert r.exit_code == 0, r.output
    token = r.stdout.split()[-1]
    e = db.make_engine(url)
    p = TokenCache(e).lookup(token)
    e.dispose()
    assert p is not None and (p.role, p.district) == ("regulator", "乌达区")


def test_database_url_from_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MINEGATE_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    r = runner.invoke(app, ["create-token", "--role", "admin"])
    assert r.exit_code == 0 and (tmp_path / "env.db").exists()


def test_bad_token_requests_exit_2_and_say_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    for args, words in (
        (["--role", "boss"], "admin, regulator, enterprise, gateway"),
        (["--role", "enterprise"], "--enterprise"),
        (["--role", "gateway", "--enterprise", "E1"], "--gateway"),
        (["--role", "enterprise", "--enterprise", "E1", "--district", "x"], "district"),
        (["--role", "gateway", "--enterprise", "E1", "--gateway", "a/b"], "--gateway"),
    ):
        r = runner.invoke(app, ["create-token", *args, "--database-url", url])
        assert r.exit_code == 2 and words in r.output, (args, r.output)


def test_broker_acl_writes_files(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    assert runner.invoke(app, ["create-token", "--role", "gateway", "--enterprise", "E1", "--gateway", "gw-1",
                               "--database-url", url]).exit_code == 0
    r = runner.invoke(app, ["broker-acl", "--database-url", url, "--password-file", str(tmp_path / "pw"),
                            "--acl-file", str(tmp_path / "acl"), "--platform-password", "s3cret"])
    assert r.exit_code == 0, r.output
    acl = (tmp_path / "acl").read_text()
    assert "user E1.gw-1\ntopic write minegate/v1/E1/gw-1/+/data" in acl
    assert "topic read minegate/v1/E1/gw-1/+/write" in acl
    users = [line.split(":")[0] for line in (tmp_path / "pw").read_text().splitlines()]
    assert users == ["platform", "E1.gw-1"]
    r = runner.invoke(app, ["broker-acl", "--database-url", url, "--password-file", str(tmp_path / "pw2"),
                            "--acl-file", str(tmp_path / "acl2")], env={"MINEGATE_MQTT_URL": ""})
    assert r.exit_code == 2 and "--platform-password" in r.output


def test_serve_creates_the_data_folder_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINEGATE_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-m", "platform_api.cli", "serve", "--port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        for _ in range(200):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                time.sleep(0.1)
        assert body == {"ok": True, "database": "ok", "ingest": None}
        assert (tmp_path / "data" / "minegate.db").exists()
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/enterprises").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
