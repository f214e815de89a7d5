"""The transformation report of one enterprise and year: the data both formats show, and the HTML
page (Jinja2). The PDF is in `report_pdf`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from platform_api.digitalization import inputs as inp
from platform_api.digitalization.assessment import pct
from platform_api.digitalization.metrics import region
from platform_api.digitalization.service import enterprise_view, figures, now_ms, questionnaire_for

TOP_RECOMMENDATIONS = 6
_LEVEL_ZH = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}

RATES = (
    ("networking_rate", "设备联网率", "Equipment networking rate",
     "有实时数据上传的生产设备 / 全部登记的生产设备"),
    ("digitalization_rate", "设备数字化率", "Equipment digitalization rate",
     "具备数字化控制或计量的生产设备 / 全部生产设备"),
    ("online_rate", "在线率", "Online rate", "实际上传数据的5分钟时段 / 应上传的时段"),
    ("ledger_telemetry_share", "台账自动采集占比", "Ledger entries from telemetry",
     "来自计量数据的台账记录 / 全部台账记录"),
    ("key_process_nc_rate", "关键工序数控化率", "Key-process NC rate",
     "有联网设备佐证的NC/DCS/PLC控制关键工序 / 全部关键工序"),
)


def _peers(ledger: Any, district: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = ledger.list_enterprises(district=district, limit=500, offset=len(out))
        out += page
        if len(page) < 500:
            return out


def district_comparison(engine: Engine, ledger: Any, enterprise: Mapping[str, Any], year: int,
                        now: int) -> dict[str, Any] | None:
    """District averages and this enterprise's rank among the assessed enterprises of its district."""
    district = enterprise.get("district")
    if not district or ledger is None:
        return None
    reg = region(figures(engine, _peers(ledger, str(district)), year, now))
    mine = next((e for e in reg["enterprises"] if e["code"] == enterprise["code"]), None)
    return {"district": district, "enterprises": reg["enterprise_count"], "assessed": reg["assessed"],
            "average_score": reg["average_score"], "average_networking_rate": reg["average_networking_rate"],
            "average_digitalization_rate": reg["average_digitalization_rate"], "cloud_rate": reg["cloud_rate"],
            "level_2_or_above": reg["level_2_or_above"], "rank": mine["rank"] if mine else None}


def build(engine: Engine, ledger: Any, enterprise: Mapping[str, Any], year: int,
          now: int | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (the formats only lay it out)."""
    now = now_ms() if now is None else now
    view = enterprise_view(engine, ledger, enterprise, year, now)
    comparison = district_comparison(engine, ledger, enterprise, year, now)
    a = view["assessment"]
    m = view["metrics"]
    rates = []
    for key, zh, en, how in RATES:
        r = m[key]
        rates.append({"key": key, "name": zh, "name_en": en, "how": how, "rate": r["rate"], "text": pct(r["rate"]),
                      "count": r["count"], "of": r["of"], "target": r.get("target")})
    compare = []
    if comparison:
        compare = [
            {"name": "综合得分", "name_en": "Score", "mine": f"{a['score']:.2f}",
             "district": "—" if comparison["average_score"] is None else f"{comparison['average_score']:.2f}"},
            {"name": "设备联网率", "name_en": "Networking rate", "mine": pct(m["networking_rate"]["rate"]),
             "district": pct(comparison["average_networking_rate"])},
            {"name": "设备数字化率", "name_en": "Digitalization rate", "mine": pct(m["digitalization_rate"]["rate"]),
             "district": pct(comparison["average_digitalization_rate"])},
        ]
    generated = datetime.fromtimestamp(now / 1000, inp.SHANGHAI)
    q = questionnaire_for(year)
    return {
        "view": view, "enterprise": view["enterprise"], "year": year, "assessment": a, "rates": rates,
        "recommendations": a["recommendations"][:TOP_RECOMMENDATIONS], "comparison": comparison,
        "compare": compare, "generated_at": generated.strftime("%Y-%m-%d %H:%M"),
        "level_text": f"{a['level_name']}（Level {a['level']}）" if a["level"] else "未达评级（Not rated）",
        "next_text": _next_text(a["gap"]),
        "devices": m["devices"], "processes": m["key_process_nc_rate"]["processes"],
        "band_zero": pct(q.rate_zero_at, 0), "band_full": pct(q.rate_full_at, 0),
    }


def _next_text(gap: Mapping[str, Any]) -> str:
    if gap["next_level"] is None:
        return "已达最高等级（四级）。Top level reached."
    return (f"距{_LEVEL_ZH[gap['next_level']]}（{gap['next_from']:g}分）还差 {gap['points_needed']:.2f} 分。"
            f" {gap['points_needed']:.2f} points to level {gap['next_level']}.")


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = pct
    return env


def render_html(data: Mapping[str, Any]) -> str:
    from platform_api.digitalization.charts import report_charts

    charts = {k: v.decode("utf-8") for k, v in report_charts(data["view"], "svg").items()}
    # the SVG starts with an XML declaration and doctype that do not belong inside HTML
    charts = {k: v[v.find("<svg"):] for k, v in charts.items()}
    return _env().get_template("report.html").render(**data, charts=charts)
