"""The pieces behind the pages without a browser: periods, exports, charts, texts, login rules."""

from __future__ import annotations

import csv
import io
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from platform_api.app import create_app
from platform_api.auth import create_token
from platform_api.settings import PlatformSettings
from platform_api.web import export, periods, svg
from platform_api.web.i18n import ZH, pick
from platform_api.web.session import safe_next

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TEMPLATES = Path(periods.__file__).parent / "templates"


def test_buckets_cover_days_xun_and_months_and_stop_at_today() -> None:
    days = periods.buckets("day", "2026-11", upto=date(2026, 11, 3))
    assert days == [("2026-11-01", "1"), ("2026-11-02", "2"), ("2026-11-03", "3")]
    assert len(periods.buckets("day", "2026-02", upto=date(2027, 1, 1))) == 28
    xun = periods.buckets("xun", "2026-01")
    assert [p for p, _ in xun][:3] == ["2025-10-1旬", "2025-10-2旬", "2025-10-3旬"] and len(xun) == 12
    assert xun[-1] == ("2026-01-3旬", "1月下旬")
    months = [p for p, _ in periods.buckets("month", "2026-02")]
    assert months[0] == "2025-03" and months[-1] == "2026-02" and len(months) == 12


def test_capacity_limit_follows_the_enterprise_thresholds() -> None:
    t = {"month_capacity_share": "0.10", "year_capacity_warning": "1.00"}
    assert periods.capacity_limit("2026-11", t) == Decimal("0.10")
    assert periods.capacity_limit("2026-11-2旬", t) == Decimal("0.10") * 10 / 30
    assert periods.capacity_limit("2026-02-3旬", t) == Decimal("0.10") * 8 / 28
    assert periods.capacity_limit("2026-11-03", t) == Decimal("0.10") / 30
    assert periods.capacity_limit("2026", t) == Decimal("1.00")
    assert periods.over_capacity("2026-11", 0.108, t) and not periods.over_capacity("2026-11", 0.1, t)
    assert periods.over_capacity("2026-11", 0.09, {"month_capacity_share": "0.08"})
    assert not periods.over_capacity("2026-11", None, t)
    assert periods.valid_period("2026-11-2旬", "x") == "2026-11-2旬" and periods.valid_period("2026-13", "x") == "x"


def test_every_text_of_the_templates_has_a_chinese_translation() -> None:
    ids: set[str] = set()
    for f in TEMPLATES.glob("*.html"):
        ids |= set(re.findall(r"""_\(\s*["']([^"']+)["']\s*\)""", f.read_text(encoding="utf-8")))
    for f in Path(periods.__file__).parent.glob("*.py"):
        ids |= set(re.findall(r"""_\(\s*"([^"]+)"\s*\)""", f.read_text(encoding="utf-8")))
    ids |= {h for _k, h, _t in export.COLUMNS}
    missing = sorted(i for i in ids if i not in ZH)
    assert not missing, f"untranslated: {missing}"
    assert pick("en", None) == ("en", True) and pick(None, "en") == ("en", False) and pick("xx", None) == ("zh", False)


ROWS: list[dict[str, Any]] = [
    {"code": "E1", "name": "鑫泰煤矿", "district": "海南区", "kind": "coal_mine", "production": "130001.975",
     "shipments": "73512.126", "sales": "73478.126", "closing_stock": "39723.799", "capacity_use": 0.108335,
     "anomalies": 3, "alarms": 0, "digitalization": 3, "over_capacity": True},
    {"code": "E2", "name": "宏达焦化厂", "district": "海勃湾区", "kind": "coking", "production": "0.000",
     "shipments": "1.500", "sales": None, "closing_stock": "2.000", "capacity_use": None, "anomalies": None,
     "alarms": 1, "digitalization": None, "over_capacity": False},
]


def test_csv_export_is_utf8_with_bom_and_exact_figures() -> None:
    data = export.to_csv(ROWS, lambda s: ZH.get(s, s))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["代码", "企业", "区", "类型"]
    assert rows[1][:9] == ["E1", "鑫泰煤矿", "海南区", "煤矿", "130001.975", "73512.126", "73478.126", "39723.799",
                           "0.108335"]
    assert rows[2][6] == "" and rows[2][8] == "" and rows[2][9] == ""


def test_excel_export_has_numbers_and_red_over_capacity() -> None:
    ws = load_workbook(io.BytesIO(export.to_xlsx(ROWS, lambda s: s, "2026-11"))).active
    assert ws.title == "2026-11"
    assert ws.cell(row=2, column=5).value == pytest.approx(130001.975)
    assert ws.cell(row=2, column=9).number_format == "0.0%"
    assert ws.cell(row=2, column=9).font.color.rgb.endswith("C62828")
    assert ws.cell(row=3, column=9).value is None and not ws.cell(row=3, column=9).font.bold


def test_charts_are_well_formed_svg() -> None:
    chart = svg.bars_and_line(["1", "2", "3"], [svg.Series("产量", [10.0, 20.0, None], "#123")],
                              svg.Series("库存", [5.0, -3.0, 7.0], "#456"), title="图 <1>", unit="吨")
    root = ET.fromstring(chart)
    assert root.tag.endswith("svg") and len(root.findall(".//{*}rect")) >= 2
    assert "图 &lt;1&gt;" in chart
    t0 = datetime(2026, 11, 3, 8, 0)
    series = svg.time_series([(t0 + timedelta(minutes=i), float(i % 5)) for i in range(30)], title="ch4", unit="%",
                             band=[(t0, 0.0, 1.0), (t0 + timedelta(minutes=29), 0.5, 4.0)])
    assert ET.fromstring(series).tag.endswith("svg")
    assert ET.fromstring(svg.time_series([], title="empty")).tag.endswith("svg")
    assert svg.nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]


def test_only_paths_of_this_site_follow_the_login() -> None:
    assert safe_next("/e/E1/ledger?by=day") == "/e/E1/ledger?by=day"
    for bad in ("//evil.example/x", "https://evil.example", "javascript:alert(1)", "/\\evil", "", None):
        assert safe_next(bad) is None


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("webunits")
    app = create_app(PlatformSettings(database_url=f"sqlite:///{tmp}/p.db", jobs_enabled=False))
    app.state.ledger.create_enterprise({"code": "E1", "name": "一号矿", "kind": "coal_mine", "district": "海南区"})
    e = app.state.engine
    tokens = {"regulator": create_token(e, "regulator"), "ent": create_token(e, "enterprise", enterprise="E1"),
              "gw": create_token(e, "gateway", enterprise="E1", gateway="g1")}
    yield TestClient(app, follow_redirects=False), tokens


def test_login_sets_an_httponly_cookie_and_refuses_bad_and_gateway_tokens(
    client: tuple[TestClient, dict[str, str]]
) -> None:
    c, tokens = client
    c.cookies.clear()
    assert c.get("/regulator").headers["location"] == "/login?next=/regulator"
    r = c.post("/login", data={"token": "mgt_nope"})
    assert r.status_code == 401 and "令牌无效" in r.text
    r = c.post("/login", data={"token": tokens["gw"]})
    assert r.status_code == 401 and "网关令牌" in r.text
    r = c.post("/login", data={"token": tokens["ent"], "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/e/E1"
    cookie = r.headers["set-cookie"]
    assert "mg_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    r = c.post("/login", data={"token": tokens["regulator"], "next": "/e/E1/entries"})
    assert r.headers["location"] == "/e/E1/entries"


def test_a_form_post_without_the_session_form_token_is_refused(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    c.cookies.clear()
    c.post("/login", data={"token": tokens["ent"]})
    r = c.post("/e/E1/assessment", data={"a.network": "none"})
    assert r.status_code == 403
    r = c.get("/e/E2/ledger")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    c.cookies.set("mg_session", "mgt_revoked-or-wrong")
    r = c.get("/e/E1/ledger")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
