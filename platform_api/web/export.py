"""The regulator overview as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese) and
as an Excel workbook with numbers as numbers and over-capacity cells in red."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from platform_api.web import fmt

Column = tuple[str, str, str]
"""(row key, heading message id, kind: text | tonnes | share | int | level)"""

COLUMNS: tuple[Column, ...] = (
    ("code", "Code", "text"),
    ("name", "Enterprise", "text"),
    ("district", "District", "text"),
    ("kind", "Kind", "text"),
    ("production", "Production (t)", "tonnes"),
    ("shipments", "Shipments (t)", "tonnes"),
    ("sales", "Sales (t)", "tonnes"),
    ("closing_stock", "Closing stock (t)", "tonnes"),
    ("capacity_use", "Capacity use", "share"),
    ("anomalies", "Anomalies", "int"),
    ("alarms", "Alarms", "int"),
    ("digitalization", "Digitalization level", "level"),
)


def _cell(row: dict[str, Any], key: str, kind: str, _: Callable[[str], str]) -> Any:
    v = row.get(key)
    if v is None:
        return None
    if kind == "tonnes":
        d = fmt.dec(v)
        return float(d) if d is not None else None
    if kind == "share":
        return float(v)
    if key == "kind":
        return _(str(v))
    return v


def to_csv(rows: Sequence[dict[str, Any]], _: Callable[[str], str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([_(h) for _k, h, _t in COLUMNS])
    for r in rows:
        out = []
        for key, _h, kind in COLUMNS:
            v = r.get(key)
            if v is None:
                out.append("")
            elif kind == "tonnes":
                out.append(fmt.plain(v))
            elif kind == "share":
                out.append(f"{float(v):.6f}")
            elif key == "kind":
                out.append(_(str(v)))
            else:
                out.append(str(v))
        w.writerow(out)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[dict[str, Any]], _: Callable[[str], str], title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31] or "overview"
    ws.append([_(h) for _k, h, _t in COLUMNS])
    head = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="1F3A5F")
    for c in ws[1]:
        c.font, c.fill = head, fill
    red = Font(color="C62828", bold=True)
    for r in rows:
        ws.append([_cell(r, key, kind, _) for key, _h, kind in COLUMNS])
        line = ws.max_row
        for i, (_key, _h, kind) in enumerate(COLUMNS, start=1):
            c = ws.cell(row=line, column=i)
            if kind == "tonnes":
                c.number_format = "#,##0.000"
            elif kind == "share":
                c.number_format = "0.0%"
                if r.get("over_capacity"):
                    c.font = red
    widths = {"text": 14, "tonnes": 16, "share": 12, "int": 10, "level": 12}
    for i, (key, _h, kind) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = 22 if key == "name" else widths[kind]
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
