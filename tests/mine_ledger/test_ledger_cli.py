"""The ledger's command line, on a SQLite file."""

import json
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from mine_ledger import Ledger
from mine_ledger import schema as S
from mine_ledger.cli import app

runner = CliRunner()


def test_migrate_import_export_verify(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'data' / 'minegate.db'}"
    monkeypatch.setenv("MINEGATE_DATABASE_URL", url)
    key = tmp_path / "ledger.pem"
    r = runner.invoke(app, ["migrate"])
    assert r.exit_code == 0, r.output
    with Ledger(url) as led:
        led.create_enterprise({"code": "E1", "name": "m", "kind": "coal_mine"})
    csv = tmp_path / "in.csv"
    csv.write_text("kind,at,tonnes\nproduction,2026-11-03T09:00,10\nproduction,2026-11-04T09:00,12.5\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["import", "E1", str(csv), "--database-url", url])
    assert r.exit_code == 0 and "2 entries" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,at,tonnes\nproduction,2026-11-05T09:00,1\nproduction,2026-11-05T10:00,-1\n", encoding="utf-8")
    r = runner.invoke(app, ["import", "E1", str(bad)])
    assert r.exit_code == 2 and "row 3" in r.output
    out = tmp_path / "out.xlsx"
    assert runner.invoke(app, ["export", "E1", "-o", str(out)]).exit_code == 0 and out.read_bytes()[:2] == b"PK"
    heads = tmp_path / "heads.json"
    r = runner.invoke(app, ["export-heads", "-o", str(heads), "--key", str(key)])
    assert r.exit_code == 0 and key.exists() and json.loads(heads.read_text())["heads"][0]["count"] == 2
    r = runner.invoke(app, ["verify", "--against", str(heads), "--key", str(key)])
    assert r.exit_code == 0 and json.loads(r.output.splitlines()[0])["ok"] is True
    with Ledger(url) as led, led.engine.begin() as conn:
        conn.execute(update(S.entries).where(S.entries.c.seq == 1).values(author="mallory"))
    r = runner.invoke(app, ["verify", "E1"])
    assert r.exit_code == 1 and json.loads(r.output)["first_bad"] == 1
    r = runner.invoke(app, ["close-month", "E1", "2026-11"])
    assert r.exit_code == 0 and json.loads(r.output)["month"] == "2026-11"
    assert runner.invoke(app, ["verify", "NOPE"]).exit_code == 2
