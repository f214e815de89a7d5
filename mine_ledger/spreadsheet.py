"""CSV and Excel (xlsx) layout of ledger entries, for enterprises that keep ledgers in spreadsheets.

One entry per row under a header row. Column names are the JSON field names (Chinese headers such as
类型/时间/吨数 are accepted too); cells left empty are absent fields. ``inputs``/``outputs`` of a
washing entry are written ``product:stockpile:tonnes`` joined by ``;``, a sale's ``tickets`` joined
by ``;``. Export puts the stored fields (id, seq, recorded_at, author, hash, book, variance) first;
import ignores them, so an exported file can be read back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from mine_ledger.errors import ValidationError
from mine_ledger.values import TZ

ENTRY_COLUMNS = (
    "kind", "at", "product", "stockpile", "tonnes", "shift", "from", "to", "ticket", "vehicle", "gross", "tare",
    "net", "weighed_in", "weighed_out", "destination", "supplier", "buyer", "unit_price", "tax_included", "tickets",
    "measured", "method", "inputs", "outputs", "loss", "reverses", "reason", "purpose", "source", "note",
)
STORED_COLUMNS = ("id", "seq", "recorded_at", "author", "hash", "book", "variance")
IGNORED_ON_IMPORT = {*STORED_COLUMNS, "prev_hash", "reversed_by", "enterprise", "flags", "amount",
                     "reverses_seq", "reverses_hash"}
EXPORT_COLUMNS = STORED_COLUMNS + ENTRY_COLUMNS

HEADER_ALIASES = {
    "类型": "kind", "种类": "kind", "时间": "at", "日期": "at", "产品": "product", "煤种": "product",
    "煤场": "stockpile", "堆场": "stockpile", "库位": "stockpile", "吨数": "tonnes", "数量": "tonnes",
    "班次": "shift", "开始": "from", "结束": "to", "磅单号": "ticket", "票号": "ticket", "车号": "vehicle",
    "车牌": "vehicle", "毛重": "gross", "皮重": "tare", "净重": "net", "进磅时间": "weighed_in",
    "出磅时间": "weighed_out", "去向": "destination", "目的地": "destination", "供应商": "supplier",
    "供方": "supplier", "客户": "buyer", "买方": "buyer", "单价": "unit_price", "含税": "tax_included",
    "磅单": "tickets", "实测": "measured", "方法": "method", "投入": "inputs", "产出": "outputs", "损耗": "loss",
    "冲销": "reverses", "原因": "reason", "用途": "purpose", "来源": "source", "备注": "note",
}
KIND_ALIASES = {
    "产量": "production", "原煤产量": "production", "生产": "production", "入洗": "washing", "洗选": "washing",
    "倒运": "transfer", "转运": "transfer", "调拨": "transfer", "入库": "receipt", "收货": "receipt",
    "运": "shipment", "发运": "shipment", "外运": "shipment", "销": "sale", "销售": "sale", "自用": "own_use",
    "盘点": "stocktake", "冲销": "reversal", "冲红": "reversal",
}


def _lines_text(items: Any) -> str:
    if not isinstance(items, list):
        return ""
    return ";".join(f"{x['product']}:{x['stockpile']}:{x['tonnes']}" for x in items)


def _parse_lines(text: str, fld: str, row: int) -> list[dict[str, str]]:
    out = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        bits = [b.strip() for b in part.split(":")]
        if len(bits) != 3:
            raise ValidationError(f"row {row}: {fld}: {part!r} is not product:stockpile:tonnes", field=fld)
        out.append({"product": bits[0], "stockpile": bits[1], "tonnes": bits[2]})
    return out


def entry_to_row(e: Mapping[str, Any]) -> dict[str, Any]:
    """A stored entry (output dict) as spreadsheet cells (all text)."""
    row: dict[str, Any] = {}
    for col in EXPORT_COLUMNS:
        v = e.get(col)
        if col in ("inputs", "outputs"):
            v = _lines_text(v)
        elif col == "tickets":
            v = ";".join(v) if isinstance(v, list) else ""
        elif isinstance(v, bool):
            v = "true" if v else "false"
        row[col] = "" if v is None else str(v)
    return row


def write_csv(entries: Sequence[Mapping[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
    w.writeheader()
    for e in entries:
        w.writerow(entry_to_row(e))
    return buf.getvalue().encode("utf-8-sig")


def write_xlsx(entries: Sequence[Mapping[str, Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "ledger"
    ws.append(list(EXPORT_COLUMNS))
    for e in entries:
        r = entry_to_row(e)
        ws.append([r[c] for c in EXPORT_COLUMNS])  # text keeps decimals and offsets exact
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def detect_format(data: bytes, name: str | None = None) -> str:
    if name:
        low = name.lower()
        if low.endswith((".xlsx", ".xlsm")):
            return "xlsx"
        if low.endswith((".csv", ".txt")):
            return "csv"
    return "xlsx" if data[:4] == b"PK\x03\x04" else "csv"


def _cell(v: Any) -> Any:
    """Excel cell value to what the entry parser expects (text, exact numbers, times with zone)."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=TZ)).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        d = Decimal(repr(v))
        r = d.quantize(Decimal("0.001"))
        return str(r if abs(d - r) < Decimal("1e-9") else d)
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, str):
        return v.strip() or None
    return v


def read_rows(data: bytes, fmt: str) -> list[tuple[int, dict[str, Any]]]:
    """(spreadsheet row number, {column: value}) of every non-empty data row; the header is row 1."""
    raw_rows: list[list[Any]]
    if fmt == "xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ValidationError(f"file: not a readable xlsx workbook ({exc})", field="file") from None
        ws = wb.worksheets[0]
        raw_rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    elif fmt == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")  # CSV saved by a Chinese-locale Excel
            except UnicodeDecodeError:
                raise ValidationError("file: CSV must be UTF-8 or GBK text", field="file") from None
        raw_rows = [[(c.strip() or None) for c in r] for r in csv.reader(io.StringIO(text))]
    else:
        raise ValidationError("format: must be csv or xlsx", field="format")
    if not raw_rows:
        raise ValidationError("row 1: the file is empty (a header row is required)", field="header")
    header: list[str | None] = []
    for i, h in enumerate(raw_rows[0]):
        if h is None:
            header.append(None)
            continue
        name = HEADER_ALIASES.get(str(h).strip(), str(h).strip().lower())
        if name not in ENTRY_COLUMNS and name not in IGNORED_ON_IMPORT:
            raise ValidationError(
                f"row 1: column {i + 1} {h!r} is not a ledger column (columns: {', '.join(ENTRY_COLUMNS)})",
                field=str(h),
            )
        if name in header:
            raise ValidationError(f"row 1: column {h!r} appears twice", field=str(h))
        header.append(name)
    if "kind" not in header:
        raise ValidationError("row 1: the header has no kind column", field="kind")
    out = []
    for n, cells in enumerate(raw_rows[1:], start=2):
        rec: dict[str, Any] = {}
        for i, v in enumerate(cells):
            col = header[i] if i < len(header) else None
            if col and v is not None:
                rec[col] = v
        if any(i >= len(header) and v is not None for i, v in enumerate(cells)):
            raise ValidationError(f"row {n}: more cells than header columns", field="row")
        if rec:
            out.append((n, rec))
    return out


def row_to_entry(n: int, rec: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for k, v in rec.items():
        if k in IGNORED_ON_IMPORT:
            continue
        if k == "kind" and isinstance(v, str):
            v = KIND_ALIASES.get(v, v)
        elif k in ("inputs", "outputs"):
            v = _parse_lines(str(v), k, n)
        elif k == "tickets":
            v = [t.strip() for t in str(v).replace(",", ";").split(";") if t.strip()]
        elif k == "reverses":
            s = str(v).strip()
            v = int(s) if s.isdigit() else s
        entry[k] = v
    return entry
