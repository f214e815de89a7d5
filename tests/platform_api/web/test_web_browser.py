"""The pages in a real browser (Debian's chromium through Playwright): sign in as a regulator and as
an enterprise, open every page, compare the figures shown with the API's JSON, save screenshots."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal
from typing import Any

import httpx
from openpyxl import load_workbook
from web_support import Site, login, shot

from platform_api.demo_data.history import COKING, MINE, WASHER
from platform_api.web import periods

PERIOD = periods.last_complete_month()


def cells(page: Any, table: str) -> dict[str, dict[str, str]]:
    """{row key: {column: data-value}} of a table whose rows carry data-code or data-period."""
    return page.eval_on_selector_all(
        f"{table} tbody tr",
        """rows => Object.fromEntries(rows.map(r => [r.dataset.code || r.dataset.period, Object.fromEntries(
              [...r.querySelectorAll('[data-col]')].map(c => [c.dataset.col, c.dataset.value]))]))""",
    )


def same(shown: str, api: Any) -> bool:
    if api is None:
        return shown == ""
    if isinstance(api, dict):
        api = sum((Decimal(v) for v in api.values()), Decimal(0))
    return Decimal(shown) == Decimal(str(api))


def test_regulator_overview_matches_the_api_sorts_and_exports(page: Any, site: Site) -> None:
    login(page, site, site.tokens.regulator)
    assert page.url.endswith("/regulator")
    page.wait_for_selector("#overview")
    shown = cells(page, "#overview")
    api = site.api(site.tokens.regulator, "/regulator/overview", period=PERIOD)
    assert set(shown) == {r["code"] for r in api} == {MINE, WASHER, COKING}
    for r in api:
        row = shown[r["code"]]
        for col in ("production", "shipments", "sales", "closing_stock", "capacity_use", "anomalies", "alarms",
                    "digitalization"):
            assert same(row[col], r[col]), (r["code"], col, row[col], r[col])
    # the planted over-capacity month of the mine is red, the others are not
    over = page.eval_on_selector_all("#overview td.over", "tds => tds.map(td => td.closest('tr').dataset.code)")
    assert over == [MINE]
    assert page.inner_text("h1").startswith("区域总览")
    shot(page, "regulator-overview")

    # sorting by a column re-orders the rows (the link toggles the direction)
    page.click("#overview th a.sort[href*='sort=closing_stock']")
    page.wait_for_selector("#overview")
    order = page.eval_on_selector_all("#overview tbody tr", "rows => rows.map(r => r.dataset.code)")
    assert order == [r["code"] for r in sorted(api, key=lambda r: Decimal(r["closing_stock"]), reverse=True)]
    assert "sort=closing_stock&dir=asc" in (page.get_attribute("th a.sort.on", "href") or "")

    by_code = {r["code"]: r for r in api}
    with page.expect_download() as dl:
        page.click("#export-csv")
    text = open(dl.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["代码", "企业", "区"]
    assert [line[0] for line in rows[1:]] == order  # the export keeps the page's order
    for line in rows[1:]:
        r = by_code[line[0]]
        assert Decimal(line[4]) == Decimal(r["production"]) and Decimal(line[7]) == Decimal(r["closing_stock"])
        assert (line[8] == "") == (r["capacity_use"] is None)
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    with open(dl.value.path(), "rb") as fh:
        ws = load_workbook(io.BytesIO(fh.read())).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][1] == "企业" and len(values) == 4
    for line in values[1:]:
        assert Decimal(str(line[5])) == Decimal(by_code[line[0]]["shipments"])
    mine_row = next(i for i, line in enumerate(values) if line[0] == MINE) + 1
    assert ws.cell(row=mine_row, column=9).font.color.rgb.endswith("C62828")  # over capacity in red


def test_a_district_regulator_sees_only_its_district(page: Any, site: Site) -> None:
    login(page, site, site.tokens.district_regulator)
    page.wait_for_selector("#overview")
    assert list(cells(page, "#overview")) == [MINE]  # 海南区
    assert page.query_selector("select[name=district]") is None
    response = page.goto(f"{site.url}/e/{WASHER}/ledger")
    assert response.status == 404
    shot(page, "district-regulator-404")


def test_enterprise_ledger_entries_and_chain_match_the_api(page: Any, site: Site) -> None:
    token = site.tokens.enterprises[MINE]
    login(page, site, token)
    assert page.url.endswith(f"/e/{MINE}/ledger")
    page.wait_for_selector("#ledger svg, .chart svg")
    shown = cells(page, "#ledger")
    assert len(shown) == 12  # by month: the twelve months up to this one
    for period in list(shown)[-3:]:
        s = site.api(token, f"/enterprises/{MINE}/ledger/summary", period=period)
        for col in ("production", "washing_in", "washing_out", "shipments", "sales", "own_use", "closing"):
            assert same(shown[period][col], s[col]), (period, col)
    shot(page, "enterprise-ledger-month")

    page.goto(f"{site.url}/e/{MINE}/ledger?by=day&month={PERIOD}")
    shown = cells(page, "#ledger")
    assert len(shown) >= 28
    day = f"{PERIOD}-15"
    s = site.api(token, f"/enterprises/{MINE}/ledger/summary", period=day)
    assert same(shown[day]["production"], s["production"]) and same(shown[day]["closing"], s["closing"])
    page.goto(f"{site.url}/e/{MINE}/ledger?by=xun&month={PERIOD}")
    xun = f"{PERIOD}-2旬"
    s = site.api(token, f"/enterprises/{MINE}/ledger/summary", period=xun)
    assert same(cells(page, "#ledger")[xun]["shipments"], s["shipments"])
    shot(page, "enterprise-ledger-xun")

    page.goto(f"{site.url}/e/{MINE}/entries?month={PERIOD}")
    ids = page.eval_on_selector_all("#entries tbody tr", "rows => rows.map(r => Number(r.dataset.id))")
    hashes = page.eval_on_selector_all("#entries code.hash", "cs => cs.map(c => c.title)")
    start, end = periods.bounds(PERIOD)
    api = site.api(token, f"/enterprises/{MINE}/ledger/entries", **{"from": start, "to": end, "limit": 50})
    assert ids == [e["id"] for e in api] and hashes == [e["hash"] for e in api]
    page.click("#verify")
    page.wait_for_selector("#verify-result")
    verify = site.api(token, f"/enterprises/{MINE}/ledger/verify")
    assert verify["ok"] and page.get_attribute("#verify-result", "data-ok") == "true"
    assert f"{verify['entries']} " in page.inner_text("#verify-result")
    shot(page, "enterprise-entries-verified")


def test_anomalies_are_shown_with_the_entries_involved(page: Any, site: Site) -> None:
    token = site.tokens.enterprises[MINE]
    login(page, site, token)
    page.goto(f"{site.url}/e/{MINE}/anomalies")
    page.wait_for_selector("#anomalies")
    start = page.get_attribute("input[name=from]", "value")
    end = page.get_attribute("input[name=to]", "value")
    api = site.api(token, f"/enterprises/{MINE}/anomalies", **{"from": start, "to": end})
    shown = page.eval_on_selector_all("#anomalies tbody tr", "rows => rows.map(r => r.dataset.code)")
    assert sorted(shown) == sorted(a["code"] for a in api)
    assert {"OVER_CAPACITY_MONTH", "SHIPMENT_UNWEIGHED", "DUPLICATE_WEIGHING"} <= set(shown)
    unweighed = next(a for a in api if a["code"] == "SHIPMENT_UNWEIGHED")
    entry = site.api(token, f"/enterprises/{MINE}/ledger/entries/{unweighed['entries'][0]}")
    row = page.locator("#anomalies tr[data-code=SHIPMENT_UNWEIGHED]")
    assert entry["hash"][:10] in row.inner_text()
    shot(page, "enterprise-anomalies")
    row.locator("a.entry-ref").first.click()
    page.wait_for_selector("#entries tr.hl")
    assert page.get_attribute("#entries tr.hl", "data-id") == str(entry["id"])


def test_live_values_match_the_api_and_refresh_without_reload(page: Any, site: Site) -> None:
    token = site.tokens.enterprises[COKING]
    login(page, site, token)
    page.goto(f"{site.url}/e/{COKING}/live")
    page.wait_for_selector("table.latest")
    latest = site.api(token, f"/enterprises/{COKING}/telemetry/latest")
    shown = page.eval_on_selector_all(
        "table.latest tbody tr",
        "rows => rows.map(r => [r.closest('table').dataset.device, r.dataset.tag, r.dataset.quality, "
        "r.querySelector('.value').dataset.value])")
    assert sorted((d, t, q) for d, t, q, _v in shown) == sorted((s["device"], s["tag"], s["quality"]) for s in latest)
    by_key = {(s["device"], s["tag"]): s for s in latest}
    for d, t, _q, v in shown:
        if isinstance(by_key[(d, t)]["value"], float):
            assert float(v) == by_key[(d, t)]["value"]
    alarms = site.api(token, f"/enterprises/{COKING}/alarms", state="open")
    assert [a["name"] for a in alarms] == ["co_alarm"]
    assert "co_alarm" in page.inner_text("#live-alarms")
    assert page.query_selector("#trend svg path") is not None
    shot(page, "enterprise-live")

    # a new reading reaches the open page through the refresh, without reloading it
    gw = "gw-hd-01"
    from platform_api.auth import create_token

    gw_token = create_token(site.app.state.engine, "gateway", enterprise=COKING, gateway=gw)
    now = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000Z"
    r = httpx.post(f"{site.url}/api/v1/ingest", headers={"Authorization": f"Bearer {gw_token}"}, json={
        "gateway": gw, "device": "dust_yard", "epoch": f"test{int(now)}", "seq": 1,
        "samples": [{"tag": "pm25_ugm3", "value": 123.456, "quality": "good", "ts": ts}]})
    assert r.status_code == 200, r.text
    marker = page.evaluate("() => document.getElementById('live').dataset.updated || ''")
    page.wait_for_function(
        "() => [...document.querySelectorAll('table.latest[data-device=dust_yard] tr[data-tag=pm25_ugm3] .value')]"
        ".some(c => c.dataset.value === '123.456')", timeout=15_000)
    assert page.evaluate("() => document.getElementById('live').dataset.updated || ''") != marker


def test_digitalization_report_and_questionnaire(page: Any, site: Site) -> None:
    token = site.tokens.enterprises[WASHER]
    login(page, site, token)
    page.goto(f"{site.url}/e/{WASHER}/digital")
    view = site.api(token, f"/enterprises/{WASHER}/digitalization")
    assert page.inner_text("#dg-score") == str(view["assessment"]["score"])
    assert page.inner_text("#dg-level") == view["assessment"]["level_name"]
    shot(page, "enterprise-digitalization")
    assert page.get_attribute("#report-html", "href") == f"/e/{WASHER}/report?year={view['year']}&format=html"
    pdf = page.request.get(f"{site.url}/e/{WASHER}/report?format=pdf")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"

    page.click("#assessment-link")
    page.wait_for_selector("#assessment")
    before = site.api(token, f"/enterprises/{WASHER}/assessment")
    page.check("input[name='a.network'][value='advanced']")
    page.select_option("select[name='s.safety']", "4")
    shot(page, "enterprise-questionnaire")
    page.click("#save")
    page.wait_for_selector("#saved")
    after = site.api(token, f"/enterprises/{WASHER}/assessment")
    assert after["answers"]["network"] == "advanced" and after["scenarios"]["safety"] == 4
    assert after["result"]["score"] > before["result"]["score"]
    assert page.inner_text("#as-score") == str(after["result"]["score"])


def test_an_enterprise_never_sees_another_and_regulators_only_read(page: Any, site: Site) -> None:
    login(page, site, site.tokens.enterprises[MINE])
    for path in (f"/e/{WASHER}/ledger", f"/e/{COKING}/live", f"/e/{WASHER}/report?format=pdf"):
        assert page.goto(site.url + path).status == 404, path
    assert page.goto(f"{site.url}/regulator").status == 403
    page.context.clear_cookies()
    login(page, site, site.tokens.regulator)
    page.goto(f"{site.url}/e/{MINE}/assessment")
    assert page.query_selector("#save") is None and page.is_disabled("input[name='a.network'] >> nth=0")
    # a hand-made post with the regulator's session is refused by the API
    csrf = page.get_attribute("input[name=csrf]", "value")
    r = page.request.post(f"{site.url}/e/{MINE}/assessment", form={"csrf": csrf, "a.network": "none"})
    assert r.status == 403


def test_english_switch_is_remembered_and_sign_out(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/login?lang=en")
    assert page.inner_text("h1") == "Sign in"
    page.fill("#token", "mgt_not-a-token")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text(".alert")
    login(page, site, site.tokens.enterprises[MINE])
    assert page.inner_text("nav.tabs").startswith("Ledger")  # the cookie kept English
    shot(page, "enterprise-ledger-en")
    page.click("text=中文")
    assert "产运销存台账" in page.inner_text("nav.tabs")
    page.click("button:has-text('退出')")
    assert page.url.endswith("/login")
    page.goto(f"{site.url}/e/{MINE}/ledger")
    assert "/login?next=" in page.url
