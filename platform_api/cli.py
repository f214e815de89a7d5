"""`minegate platform ...`: run the API, make tokens, write the broker's password and ACL files."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import typer

from platform_api.settings import DEFAULT_DATABASE_URL

app = typer.Typer(help="The supervision platform: API server, tokens, broker security.", no_args_is_help=True)

DB_HELP = "SQLAlchemy URL (sqlite:///... or postgresql://...); default: env MINEGATE_DATABASE_URL, else ./data"


def _db_url(url: str | None) -> str:
    return url or os.environ.get("MINEGATE_DATABASE_URL") or DEFAULT_DATABASE_URL


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
    mqtt: str | None = typer.Option(None, "--mqtt", help="broker URL to ingest telemetry from (mqtt://user:pw@host:1883)"),
    workers: int = typer.Option(1, min=1, max=64, help="processes; MQTT ingest is shared between them"),
) -> None:
    """Run the platform API (and, with --mqtt, the telemetry consumer) until stopped."""
    import uvicorn

    from platform_api.app import create_app
    from platform_api.settings import PlatformSettings

    overrides: dict[str, object] = {"database_url": _db_url(database_url)}
    if mqtt:
        overrides["mqtt_url"] = mqtt
    try:
        settings = PlatformSettings(**overrides)  # type: ignore[arg-type]
    except ValueError as e:
        _fail(str(e))
    if workers > 1:
        for k, v in overrides.items():
            os.environ[f"MINEGATE_{k.upper()}"] = str(v)
        uvicorn.run("platform_api.app:app_from_env", factory=True, host=host, port=port, workers=workers)
        return
    try:
        application = create_app(settings)
    except Exception as e:
        _fail(f"cannot open the database {settings.database_url}: {e}", 1)
    uvicorn.run(application, host=host, port=port)


@app.command("create-token")
def create_token_cmd(
    role: str = typer.Option(..., "--role", help="admin | regulator | enterprise | gateway"),
    enterprise: str | None = typer.Option(None, "--enterprise", help="enterprise code (enterprise, gateway)"),
    gateway: str | None = typer.Option(None, "--gateway", help="gateway id (gateway)"),
    district: str | None = typer.Option(None, "--district", help="limit a regulator to one district"),
    label: str | None = typer.Option(None, "--label", help="a note on who holds the token"),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
) -> None:
    """Make a token and print it (its last word on stdout). Only its hash is stored: keep it."""
    from platform_api import db
    from platform_api.auth import TokenSpecError, create_token
    from platform_api.broker_acl import SAFE_ID

    for name, v in (("enterprise", enterprise), ("gateway", gateway)):
        if v is not None and not SAFE_ID.match(v):
            _fail(f"--{name}: {v!r} (allowed: letters, digits, _ . -)")
    engine = db.make_engine(_db_url(database_url))
    try:
        db.create_tables(engine)
        token = create_token(engine, role, enterprise=enterprise, gateway=gateway, district=district, label=label)
    except TokenSpecError as e:
        _fail(str(e))
    finally:
        engine.dispose()
    scope = "/".join(x for x in (enterprise, gateway, district) if x)
    typer.echo(f"{role} token{' for ' + scope if scope else ''} (shown once): {token}")


@app.command("broker-acl")
def broker_acl_cmd(
    password_file: Path = typer.Option(Path("data/mosquitto.passwd"), "--password-file"),
    acl_file: Path = typer.Option(Path("data/mosquitto.acl"), "--acl-file"),
    conf: Path | None = typer.Option(None, "--conf", help="also write a Mosquitto config using both files"),
    listener_port: int | None = typer.Option(None, "--listener-port", help="listener line in --conf"),
    platform_user: str | None = typer.Option(
        None, "--platform-user", help="default: user of MINEGATE_MQTT_URL or 'platform'"
    ),
    platform_password: str | None = typer.Option(
        None, "--platform-password", envvar="MINEGATE_MQTT_PASSWORD",
        help="default: password of MINEGATE_MQTT_URL",
    ),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
) -> None:
    """Write Mosquitto password and ACL files for every gateway that has a gateway token: each
    gateway (user `ENTERPRISE.GATEWAY`, password = its token) publishes only its own topics and
    reads only its own write requests; only the platform user publishes write requests."""
    from platform_api import db
    from platform_api.broker_acl import write_files

    url = os.environ.get("MINEGATE_MQTT_URL")
    parsed = urlparse(url) if url else None
    user = platform_user or (parsed.username if parsed and parsed.username else "platform")
    password = platform_password or (parsed.password if parsed else None)
    if not password:
        _fail("--platform-password: required (or set MINEGATE_MQTT_URL=mqtt://user:password@host)")
    assert password is not None
    engine = db.make_engine(_db_url(database_url))
    try:
        db.create_tables(engine)
        res = write_files(engine, password_file, acl_file, platform_user=user, platform_password=password,
                          conf_file=conf, port=listener_port)
    finally:
        engine.dispose()
    for s in res.skipped:
        typer.echo(f"skipped {s}", err=True)
    typer.echo(f"wrote {password_file} and {acl_file}: {len(res.users)} users ({', '.join(res.users)})")
    if conf:
        typer.echo(f"wrote {conf}; reload Mosquitto (SIGHUP) to apply")


@app.command("revoke-token")
def revoke_token_cmd(
    token_id: int = typer.Argument(..., help="the token's id (see the audit log)"),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
) -> None:
    """Revoke a token; requests with it are refused (401) within a few seconds."""
    from platform_api import db
    from platform_api.auth import revoke_token

    engine = db.make_engine(_db_url(database_url))
    try:
        db.create_tables(engine)
        ok = revoke_token(engine, token_id)
    finally:
        engine.dispose()
    if not ok:
        _fail(f"token {token_id}: no such active token", 1)
    typer.echo(f"revoked token {token_id}")


@app.command()
def migrate(database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP)) -> None:
    """Create or upgrade the ledger's and the platform's tables."""
    from mine_ledger import Ledger
    from platform_api import db

    engine = db.make_engine(_db_url(database_url))
    try:
        Ledger(engine).migrate()
        db.create_tables(engine)
    finally:
        engine.dispose()
    typer.echo("database is up to date")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
