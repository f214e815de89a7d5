"""The `minegate` command: mounts each package's own sub-commands and sets up logging.

It ties nothing else together: every package owns its commands, and a package that fails to
import only disables its own commands (with the reason) instead of the whole tool.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from typing import Any

import typer

app = typer.Typer(help="minegate: industrial gateway and mine-supervision platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

# (command name, module, attribute, help)
GROUPS = [
    ("gateway", "gateway.cli", "app", "Run and inspect a site gateway."),
    ("platform", "platform_api.cli", "app", "Serve the supervision platform and manage its tokens."),
    ("ledger", "mine_ledger.cli", "app",
     "Verify, import and export 产运销存 (production, transport, sales, stock) ledgers."),
    ("driver", "drivers.cli", "app", "Protocol-specific tools (e.g. OPC UA client certificates)."),
]
COMMANDS = [
    ("simulate", "devices.cli", "simulate", "Serve a simulated device over its real protocol."),
    ("demo", "platform_api.demo", "demo", "Simulated plant + gateway + platform on embedded defaults."),
]

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the event's structured fields, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        d: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        d.update({k: v for k, v in vars(record).items() if k not in _STD and not k.startswith("_")})
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(d, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _STD and not k.startswith("_")}
        base = super().format(record)
        return base + ("  " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else "")


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@app.callback()
def main(
    log_level: str = typer.Option("info", "--log-level", help="debug | info | warning | error"),
    log_format: str = typer.Option("text", "--log-format", help="text | json (one JSON object per line)"),
) -> None:
    if log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        raise typer.BadParameter(f"{log_level!r} (allowed: debug, info, warning, error)", param_hint="--log-level")
    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"{log_format!r} (allowed: text, json)", param_hint="--log-format")
    setup_logging(log_level, log_format)


def _unavailable(name: str, reason: str) -> typer.Typer:
    sub = typer.Typer(help=f"(unavailable: {reason})")

    @sub.callback(invoke_without_command=True)
    def _fail() -> None:
        print(f"error: `minegate {name}` is unavailable: {reason}", file=sys.stderr)
        raise typer.Exit(1)

    return sub


def _mount() -> None:
    for name, module, attr, help_text in GROUPS:
        try:
            sub = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            if isinstance(exc, ModuleNotFoundError) and exc.name == module:
                continue  # that package ships no commands (yet)
            sub = _unavailable(name, str(exc))
        app.add_typer(sub, name=name, help=help_text)
    for name, module, attr, help_text in COMMANDS:
        try:
            fn = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        app.command(name=name, help=help_text)(fn)


_mount()

if __name__ == "__main__":
    app()
