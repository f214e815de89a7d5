"""CSV / Excel import and export: documented layout, all-or-nothing, bad rows named by number."""

import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from mine_ledger import Ledger, ValidationError
from mine_ledger.spreadsheet import EXPORT_COLUMNS

from .conftest import ENTERPRISE

HEADER = "kind,at,product,stockpile,tonnes,shift,ticket,vehicle,gross,tare,net,inputs,outputs,loss,buyer,unit_price"
CSV = HEADER + """,tickets,from,to
production,2026-11-03T09:00,raw,raw_yard,1000,day,,,,,,,,,,,,,
washing,2026-11-03T12:00,,,,,,,,,,raw:raw_yard:500,clean:clean_yard:380;gangue:gangue_yard:115,5,,,,,

shipment,2026-11-03T15:00,clean,clean_yard,,,T001,蒙L1,50.000,15.000,35.000,,,,,,,,
sale,2026-11-03T16:00,clean,,35,,,,,,,,,,钢厂,1520.50,T001,,
transfer,2026-11-04T08:00,raw,,100,,,,,,,,,,,,,raw_yard,silo
"""


def test_csv_import_and_round_trip(ledger: Ledger, mine: str, tmp_path: Path) -> None:
    r = ledger.import_entries(mine, CSV.encode(), format="csv", author="clerk")
    assert r["imported"] == 5
    bal = {(x["product"], x["stockpile"]): x["tonnes"] for x in ledger.balance(mine)}
    assert bal == {("raw", "raw_yard"): "400.000", ("raw", "silo"): "100.000", ("clean", "clean_yard"): "345.000",
                   ("gangue", "gangue_yard"): "115.000"}
    entries = ledger.list_entries(mine)
    assert {e["source"] for e in entries} == {"import"} and {e["author"] for e in entries} == {"clerk"}
    out = ledger.export_entries(mine)
    assert out.startswith("\ufeff".encode()) and out.decode("utf-8-sig").splitlines()[0] == ",".join(EXPORT_COLUMNS)
    # an export reads back into another enterprise unchanged
    other = ledger.create_enterprise(ENTERPRISE | {"code": "E2"})["code"]
    path = tmp_path / "ledger.csv"
    path.write_bytes(out)
    assert ledger.import_entries(other, path)["imported"] == 5
    assert ledger.balance(other) == ledger.balance(mine)
    assert ledger.summary(other, "2026-11")["sales"] == {"clean": "35.000", "gangue": "0.000", "raw": "0.000"}


def test_a_bad_row_is_named_and_nothing_is_committed(ledger: Ledger, mine: str) -> None:
    bad = CSV.replace("T001,蒙L1,50.000,15.000,35.000", "T001,蒙L1,50.000,15.000,36.000")
    with pytest.raises(ValidationError) as err:
        ledger.import_entries(mine, bad.encode(), format="csv")
    # header is row 1, the blank line is row 4, the shipment is row 5
    assert [e["row"] for e in err.value.errors] == [5] and "row 5" in str(err.value)
    assert err.value.errors[0]["field"] == "net"
    assert ledger.list_entries(mine) == [] and ledger.verify(mine)["entries"] == 0
    with pytest.raises(ValidationError, match="row 1"):
        ledger.import_entries(mine, b"kind,at,colour\nproduction,2026-11-03,black\n", format="csv")
    with pytest.raises(ValidationError, match="row 3"):
        ledger.import_entries(mine, b"kind,at,inputs\nproduction,2026-11-03,\nwashing,2026-11-03,raw-500\n")


def test_excel_with_chinese_headers_and_gbk_csv(ledger: Ledger, mine: str) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["类型", "时间", "产品", "煤场", "吨数", "班次"])
    from datetime import datetime

    ws.append(["原煤产量", datetime(2026, 11, 3, 9, 0), "raw", "raw_yard", 1250.5, "早班"])
    ws.append(["自用", "2026-11-03T10:00", "raw", "raw_yard", 0.25, None])
    buf = io.BytesIO()
    wb.save(buf)
    assert ledger.import_entries(mine, buf.getvalue())["imported"] == 2
    first = ledger.list_entries(mine)[0]
    assert (first["tonnes"], first["shift"], first["at"]) == ("1250.500", "day", "2026-11-03T09:00:00+08:00")
    gbk = "类型,时间,吨数\n产量,2026-11-04T09:00,10\n".encode("gb18030")
    assert ledger.import_entries(mine, gbk, format="csv")["imported"] == 1
    xlsx = ledger.export_entries(mine, format="xlsx")
    rows = list(load_workbook(io.BytesIO(xlsx)).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == EXPORT_COLUMNS and len(rows) == 4
    other = ledger.create_enterprise(ENTERPRISE | {"code": "E2"})["code"]
    assert ledger.import_entries(other, xlsx)["imported"] == 3
    assert ledger.balance(other) == ledger.balance(mine)
