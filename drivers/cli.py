"""`minegate driver <protocol> ...`: tools a protocol package ships (e.g. OPC UA certificates).

Each driver package may offer a `cli.py` with a Typer `app`; it is mounted under its registry
name, so adding such a tool touches no file outside the driver's folder.
"""

from __future__ import annotations

import importlib

import typer

from drivers import registry

app = typer.Typer(help="Protocol-specific tools.", no_args_is_help=True)

for _name in registry.available():
    _module = registry.BUILTIN.get(_name, "").partition(":")[0]
    if not _module:
        continue
    try:
        _sub = importlib.import_module(f"{_module}.cli").app
    except ModuleNotFoundError as exc:
        if exc.name == f"{_module}.cli":
            continue
        raise
    app.add_typer(_sub, name=_name)
