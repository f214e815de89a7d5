"""OPC UA commands for the `minegate` command line (mounted under `minegate gateway`)."""

from __future__ import annotations

from pathlib import Path

import typer

from drivers.opcua.certs import make_client_certificate

app = typer.Typer(help="OPC UA helpers: client certificates for secure connections.", no_args_is_help=True)


@app.callback()
def _opcua() -> None:
    """OPC UA helpers: client certificates for secure connections."""


@app.command("cert")
def cert(
    site: str = typer.Argument(..., help="Site or gateway name, used in file names and the application URI."),
    directory: Path = typer.Option(Path("certs"), "--dir", "-d", help="Where to write the certificate and key."),
    application_uri: str | None = typer.Option(None, "--uri", help="Application URI (default urn:minegate:SITE)."),
    hostname: str | None = typer.Option(None, "--hostname", help="Host name in the certificate (default: this host)."),
    days: int = typer.Option(1825, "--days", help="Validity in days."),
    key_size: int = typer.Option(2048, "--key-size", help="RSA key size: 2048, 3072 or 4096."),
    organization: str | None = typer.Option(None, "--org", help="Organization name in the certificate subject."),
    force: bool = typer.Option(False, "--force", help="Replace an existing certificate and key."),
) -> None:
    """Make a client certificate + key for a site's gateway (Basic256Sha256 Sign / SignAndEncrypt)."""
    try:
        made = make_client_certificate(site, directory, application_uri=application_uri, hostname=hostname,
                                       days=days, key_size=key_size, organization=organization, overwrite=force)
    except (ValueError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: cannot write into {directory}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"certificate: {made.certificate}")
    typer.echo(f"private key: {made.private_key}")
    typer.echo(f"application URI: {made.application_uri}")
    typer.echo(f"valid until: {made.not_after:%Y-%m-%d}")
    typer.echo("")
    typer.echo("Trust the certificate on the OPC UA server (its trusted client certificates), then use:")
    typer.echo(f"  connection: {{endpoint: opc.tcp://SERVER:4840, security: Basic256Sha256, mode: SignAndEncrypt,"
               f" certificate: {made.certificate}, private_key: {made.private_key}}}")
