"""Ledger commands (``minegate ledger ...``): migrate, verify, export-heads, import, export.

Every command takes ``--database-url`` (default: env ``MINEGATE_DATABASE_URL``, else
``sqlite:///./data/minegate.db``). Exit codes: 0 ok, 2 bad usage or refused input, 1 failure
(including a chain that does not verify).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mine_ledger.errors import LedgerError, NotFound, ValidationError
from mine_ledger.service import Ledger, default_database_url

app = typer.Typer(help="产运销存 ledger: schema, integrity, import and export.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL [env MINEGATE_DATABASE_URL, else sqlite:///./data/minegate.db]"),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option("--key", help="Ed25519 private key (PEM) that signs chain heads [env MINEGATE_LEDGER_KEY]"),
]


def _ledger(url: str | None, key: Path | None = None) -> Ledger:
    return Ledger(url or default_database_url(), signing_key=key)


def _fail(exc: LedgerError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    for e in exc.errors[:50]:
        where = f"row {e['row']}" if "row" in e else f"entry {e.get('index')}"
        typer.echo(f"  {where}: {e['message']}", err=True)
    return typer.Exit(2 if isinstance(exc, ValidationError | NotFound) else 1)


@app.command()
def migrate(database_url: DbOpt = None) -> None:
    """Create or upgrade the ledger tables."""
    ledger = _ledger(database_url)
    try:
        ledger.migrate()
    finally:
        ledger.close()
    typer.echo("ledger schema is up to date")


@app.command()
def verify(
    enterprise: Annotated[list[str] | None, typer.Argument(help="enterprise codes (default: all)")] = None,
    against: Annotated[Path | None, typer.Option("--against", help="heads file from export-heads")] = None,
    database_url: DbOpt = None,
    key: KeyOpt = None,
) -> None:
    """Recompute the hash chains (and compare with signed heads); exit 1 if any is broken."""
    ledger = _ledger(database_url, key)
    heads = json.loads(against.read_text(encoding="utf-8")) if against else None
    bad = False
    try:
        codes = enterprise or ledger.enterprise_codes()
        for code in codes:
            r = ledger.verify(code, against=heads)
            bad |= not r["ok"]
            typer.echo(json.dumps({"enterprise": code, **r}, ensure_ascii=False))
    except LedgerError as exc:
        raise _fail(exc) from None
    finally:
        ledger.close()
    if bad:
        raise typer.Exit(1)


@app.command("export-heads")
def export_heads(
    enterprise: Annotated[str | None, typer.Argument(help="enterprise code (default: all)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")] = None,
    database_url: DbOpt = None,
    key: KeyOpt = None,
) -> None:
    """Write the signed daily chain heads as JSON; keep the file outside the database."""
    ledger = _ledger(database_url, key)
    try:
        doc = ledger.export_heads(enterprise)
    except LedgerError as exc:
        raise _fail(exc) from None
    finally:
        ledger.close()
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"{len(doc['heads'])} heads written to {output}", err=True)
    else:
        sys.stdout.write(text + "\n")


@app.command("import")
def import_(
    enterprise: Annotated[str, typer.Argument(help="enterprise code")],
    file: Annotated[Path, typer.Argument(help="CSV or xlsx file", exists=True, dir_okay=False)],
    format: Annotated[str | None, typer.Option("--format", help="csv or xlsx (default: from the file)")] = None,
    author: Annotated[str, typer.Option("--author")] = "import",
    database_url: DbOpt = None,
) -> None:
    """Import entries from a spreadsheet: all rows or, if one is bad, none."""
    ledger = _ledger(database_url)
    try:
        r = ledger.import_entries(enterprise, file, format=format, author=author)
    except LedgerError as exc:
        raise _fail(exc) from None
    finally:
        ledger.close()
    typer.echo(f"{r['imported']} entries imported into {enterprise}")


@app.command()
def export(
    enterprise: Annotated[str, typer.Argument(help="enterprise code")],
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write (.csv or .xlsx)")],
    from_: Annotated[str | None, typer.Option("--from", help="first time (ISO 8601)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="end time, exclusive")] = None,
    format: Annotated[str | None, typer.Option("--format", help="csv or xlsx (default: from --output)")] = None,
    database_url: DbOpt = None,
) -> None:
    """Export entries to CSV or Excel in the import layout."""
    fmt = format or ("xlsx" if output.suffix.lower() in (".xlsx", ".xlsm") else "csv")
    ledger = _ledger(database_url)
    try:
        data = ledger.export_entries(enterprise, format=fmt, from_=from_, to=to)
    except LedgerError as exc:
        raise _fail(exc) from None
    finally:
        ledger.close()
    output.write_bytes(data)
    typer.echo(f"written {output}", err=True)


@app.command("close-month")
def close_month(
    enterprise: Annotated[str, typer.Argument(help="enterprise code")],
    month: Annotated[str | None, typer.Argument(help="YYYY-MM (default: the previous month)")] = None,
    author: Annotated[str, typer.Option("--author")] = "cli",
    database_url: DbOpt = None,
) -> None:
    """月结: close a month so nothing dated in it or before can be added."""
    ledger = _ledger(database_url)
    try:
        r = ledger.close_month(enterprise, month, author=author)
    except LedgerError as exc:
        raise _fail(exc) from None
    finally:
        ledger.close()
    typer.echo(json.dumps(r, ensure_ascii=False))
