"""The transformation report: the HTML page and a real PDF whose text (pypdf and pdftotext) holds
the enterprise's Chinese name, the level and the figures; the Chinese font embedded; a clear
error naming the package when the font is missing."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from platform_api.digitalization import charts, fonts
from tests.platform_api.digitalization.dg_testkit import Api, history, ms, register
from tests.platform_api.digitalization.test_assessment import EDGES

NAME = "乌海市海南区兴旺选煤有限责任公司"


def setup_reported(dapi: Api) -> tuple[str, str, str]:
    """An enterprise with a register (2 of 4 production devices deliver), a key process, a level-2
    assessment (score 40.00 + measured items), and a peer in its district at level 3."""
    district = f"报告区{uuid.uuid4().hex[:6]}"
    code, ent = dapi.enterprise(district, name=NAME)
    peer, peer_ent = dapi.enterprise(district)
    e = dapi.engine
    rows = register([("1号主井皮带", True, True, "gw1", "belt"), ("破碎机", True, False, "gw1", "crusher"),
                     ("跳汰机", True, False, None, None), ("压滤机", True, False, None, None)])
    assert dapi.put(ent, f"/api/v1/enterprises/{code}/devices", json=rows).status_code == 200
    r = dapi.put(ent, f"/api/v1/enterprises/{code}/key-processes",
                 json=[{"name": "主运输", "control": "plc", "devices": ["1号主井皮带"]},
                       {"name": "洗选", "control": "dcs", "devices": ["跳汰机"]}])
    assert r.status_code == 200, r.text
    for m in (3, 4, 5):
        history(e, code, "gw1", "belt", ms(2025, m, 2), 12)
    history(e, code, "gw1", "crusher", ms(2025, 4, 2), 12)
    answers = {k: v for k, v in EDGES[3][1].items()}  # 40.00 by hand
    r = dapi.put(ent, f"/api/v1/enterprises/{code}/assessment", params={"year": 2025},
                 json={"answers": answers, "scenarios": {"safety": 3, "finance": 1}})
    assert r.status_code == 200, r.text
    # measured: networking 2/4 = 50 % -> 12 x 0.4 = 4.80; digitalization 2/4 -> 4.80; total 49.60
    assert r.json()["result"]["score"] == 49.6 and r.json()["result"]["level"] == 2
    r = dapi.put(peer_ent, f"/api/v1/enterprises/{peer}/assessment", params={"year": 2025},
                 json={"answers": EDGES[5][1]})
    assert r.json()["result"]["level"] == 3
    return code, ent, district


def test_html_report(dapi: Api) -> None:
    code, _, district = setup_reported(dapi)
    r = dapi.get("regulator", f"/api/v1/enterprises/{code}/reports/transformation", params={"year": 2025})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert NAME in html and "二级（Level 2）" in html and "49.60" in html
    assert html.count("<svg") == 3  # dimensions and two monthly trend charts
    assert "<?xml" not in html
    for text in ("设备联网率", "50.0%", "2 / 4", "关键工序数控化率", "1 / 2", "距三级（60分）还差 10.40 分",
                 "区县平均 District average", "Gaps and recommendations", district):
        assert text in html, text
    # the district average of the two assessed enterprises: (49.60 + 60.00) / 2
    assert "54.80" in html and "本企业得分排名第 2 位" in html


def test_pdf_report_text_and_font(dapi: Api) -> None:
    code, ent, district = setup_reported(dapi)
    r = dapi.get(ent, f"/api/v1/enterprises/{code}/reports/transformation", params={"year": 2025, "format": "pdf"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) >= 2
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    flat = re.sub(r"\s+", "", text)
    for needle in (NAME, "2025年数字化转型报告", "二级（Level2）", "49.60", "50.0%", "距三级（60分）还差10.40分",
                   "54.80", "主运输", district):
        assert needle in flat, needle
    # the Chinese font is embedded (TrueType outlines), not left to the viewer
    fonts_seen = set()
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for ref in (resources.get("/Font") or {}).values():
            f: Any = ref.get_object()
            desc = f.get("/FontDescriptor")
            if desc is not None:
                fonts_seen.add((str(f["/BaseFont"]), "/FontFile2" in desc.get_object()))
    assert any("MinegateCJK" in name and embedded for name, embedded in fonts_seen), fonts_seen
    if shutil.which("pdftotext"):
        out = subprocess.run(["pdftotext", "-", "-"], input=r.content, capture_output=True, check=True, timeout=60)
        assert NAME in out.stdout.decode("utf-8")


def test_missing_font_is_a_clear_error(dapi: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, ent = dapi.enterprise("海南区")
    monkeypatch.setenv(fonts.ENV, str(tmp_path / "nofont.ttc"))
    charts.clear_cache()  # charts drawn earlier for the same figures would need no font
    for fmt in ("pdf", "html"):
        r = dapi.get(ent, f"/api/v1/enterprises/{code}/reports/transformation",
                     params={"year": 2025, "format": fmt})
        assert r.status_code == 503
        assert "install the Debian package fonts-noto-cjk" in r.json()["detail"]
        assert str(tmp_path / "nofont.ttc") in r.json()["detail"]
    assert dapi.get(ent, f"/api/v1/enterprises/{code}/reports/transformation",
                    params={"year": 2025, "format": "docx"}).status_code == 422


def test_font_subset_covers_the_text() -> None:
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(fonts.truetype_for("煤矿数字化 ABC 45.5%")))
    cmap = font.getBestCmap()
    assert all(ord(ch) in cmap for ch in "煤矿数字化ABC45.5%")
    assert "glyf" in font and "CFF " not in font
    assert ord("洗") not in cmap


def test_second_pdf_gets_its_own_glyphs(dapi: Api) -> None:
    """Regression: every subset font carried the same face name, and ReportLab reused the first
    one's glyphs for the next document, so characters new to it vanished from the second PDF."""
    from reportlab.pdfbase import pdfmetrics

    names = ("乌海市甲乙丙煤业有限公司", "鄂尔多斯麟龘鑫焱矿业集团")
    before = (len(pdfmetrics._fonts), len(pdfmetrics._dynFaceNames))  # type: ignore[attr-defined]
    for name in names:
        code, ent = dapi.enterprise("海南区", name=name)
        r = dapi.get(ent, f"/api/v1/enterprises/{code}/reports/transformation",
                     params={"year": 2025, "format": "pdf"})
        assert r.status_code == 200, r.text
        text = re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(r.content)).pages))
        assert name in text
    assert (len(pdfmetrics._fonts), len(pdfmetrics._dynFaceNames)) == before  # type: ignore[attr-defined]
