"""The transformation report as PDF (ReportLab), the same content as the HTML page with PNG charts.

The story is laid out twice: a first pass only records every text, so the embedded Chinese font
can be built for exactly the characters the document uses (see `fonts`); ReportLab needs the font
registered before a paragraph is made."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from platform_api.digitalization.assessment import pct
from platform_api.digitalization.charts import report_charts
from platform_api.digitalization.fonts import reportlab_font

BLUE = "#1f6fb2"
GREY = "#5b6b7c"


class _T:
    """Paragraph factory that remembers every text for the font subset."""

    def __init__(self, font: str, *, collect: bool = False) -> None:
        from reportlab.lib.styles import ParagraphStyle

        self.font = font
        self.collect = collect
        self.texts: list[str] = []
        base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")
        self.styles = {
            "base": base,
            "title": ParagraphStyle("title", parent=base, fontSize=17, leading=23, spaceAfter=4),
            "h2": ParagraphStyle("h2", parent=base, fontSize=12.5, leading=17, spaceBefore=12, spaceAfter=5,
                                 textColor=BLUE),
            "meta": ParagraphStyle("meta", parent=base, fontSize=8.5, textColor=GREY),
            "big": ParagraphStyle("big", parent=base, fontSize=20, leading=26, textColor=BLUE),
            "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11.5),
            "num": ParagraphStyle("num", parent=base, fontSize=8.5, leading=11.5, alignment=2),
            "note": ParagraphStyle("note", parent=base, fontSize=8, leading=11, textColor=GREY),
        }

    def p(self, text: Any, style: str = "base") -> Any:
        from reportlab.platypus import Paragraph

        s = str(text)
        self.texts.append(s)
        return None if self.collect else Paragraph(escape(s), self.styles[style])

    def h2(self, zh: str, en: str) -> Any:
        return self.p(f"{zh}  {en}", "h2")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float],
              num_cols: Sequence[int] = ()) -> Any:
        from reportlab.lib import colors
        from reportlab.platypus import Table, TableStyle

        data = [[self.p(h, "cell") for h in header]]
        for r in rows:
            data.append([self.p(v, "num" if k in num_cols else "cell") for k, v in enumerate(r)])
        if self.collect:
            return None
        t = Table(data, colWidths=list(widths), repeatRows=1)
        t.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f6f9")),
            ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#dde3ea")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        return t


def _image(png: bytes, width: float) -> Any:
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    iw, ih = ImageReader(io.BytesIO(png)).getSize()
    return Image(io.BytesIO(png), width=width, height=width * ih / iw)


def _story(t: _T, data: Mapping[str, Any], charts: Mapping[str, bytes], W: float) -> list[Any]:
    from reportlab.platypus import Spacer

    ent, a, year = data["enterprise"], data["assessment"], data["year"]
    story: list[Any] = [
        t.p(f"{ent['name']} {year}年数字化转型报告", "title"),
        t.p(f"Digital transformation report {year} · 企业代码 {ent['code']}"
            f"{' · ' + ent['district'] if ent.get('district') else ''} · 评测指标 {data['view']['edition']}年版"
            f" · 生成时间 {data['generated_at']}", "meta"),
        t.h2("数字化水平", "Digital level"),
        t.p(f"{data['level_text']}    综合得分 Score {a['score']:.2f} / {a['max_score']:g}", "big"),
    ]
    if a.get("level_meaning"):
        story.append(t.p(a["level_meaning"]))
    if not a.get("submitted"):
        story.append(t.p("本年度尚未提交自评问卷，得分仅含平台实测项目。No self-assessment submitted for this year: "
                         "the score holds the measured items only.", "note"))
    story.append(t.p(data["next_text"]))

    story.append(t.h2("维度得分", "Score by dimension"))
    story.append(t.table(
        ["维度 Dimension", "得分 Score", "满分 Max", "得分率 Share"],
        [[f"{d['name']} {d['name_en']}", f"{d['score']:.2f}", f"{d['weight']:g}", pct(d["share"])]
         for d in a["dimensions"]],
        [W * 0.46, W * 0.18, W * 0.18, W * 0.18], num_cols=(1, 2, 3)))
    story.append(_image(charts["dimensions"], W))

    story.append(t.h2("实测指标", "Measured rates"))
    story.append(t.table(
        ["指标 Metric", str(year), "数量 Count", "口径 Definition"],
        [[f"{r['name']} {r['name_en']}", r["text"], f"{r['count']} / {r['of']}",
          r["how"] + (f"（2025年目标 {pct(r['target'], 0)}）" if r.get("target") else "")]
         for r in data["rates"]],
        [W * 0.32, W * 0.12, W * 0.14, W * 0.42], num_cols=(1, 2)))

    story.append(t.h2("月度趋势", "Monthly trend"))
    story.append(_image(charts["devices"], W))
    story.append(_image(charts["processes"], W))

    story.append(t.h2("差距与建议", "Gaps and recommendations"))
    story.append(t.p(data["next_text"]))
    story.append(t.table(
        ["#", "项目 Item", "得分 Score", "可提升 Gain", "建议 Recommendation"],
        [[str(k), f"{r['name']} {r['name_en']}" + (" ★" if r["in_plan"] else ""),
          f"{r['score']:.2f} / {r['weight']:g}", f"+{r['gain']:.2f}", r["advice"]]
         for k, r in enumerate(data["recommendations"], 1)],
        [W * 0.05, W * 0.25, W * 0.13, W * 0.13, W * 0.44], num_cols=(2, 3)))
    story.append(t.p("★ 完成这些项目即可达到下一等级。★ Completing these items reaches the next level.", "note"))
    gaps = a["scenarios"]["gaps"]
    if gaps:
        story.append(t.p("经营场景（二级以下） Operations scenarios below level 2", "base"))
        story.append(t.table(
            ["场景 Scenario", "等级 Level", "建议 Recommendation"],
            [[f"{s['name']} {s['name_en']}", "—" if s["level"] is None else str(s["level"]), s["advice"]]
             for s in gaps],
            [W * 0.34, W * 0.12, W * 0.54], num_cols=(1,)))

    story.append(t.h2("区县对比", "Comparison with the district average"))
    c = data["comparison"]
    if c:
        story.append(t.p(
            f"{c['district']}：{c['enterprises']} 家企业，{c['assessed']} 家已自评，"
            f"{c['level_2_or_above']} 家达到二级及以上；企业上云率 {pct(c['cloud_rate']['rate'])}。"
            + (f"本企业得分排名第 {c['rank']} 位。" if c["rank"] else "")))
        story.append(t.table(["指标 Metric", "本企业 This enterprise", "区县平均 District average"],
                             [[f"{r['name']} {r['name_en']}", r["mine"], r["district"]] for r in data["compare"]],
                             [W * 0.4, W * 0.3, W * 0.3], num_cols=(1, 2)))
    else:
        story.append(t.p("企业未登记所属区县，无法对比。No district on record for this enterprise."))

    story.append(t.h2("设备与关键工序", "Devices and key processes"))
    if data["devices"]:
        story.append(t.table(
            ["设备 Device", "类型 Kind", "生产 Production", "联网 Networked", "在线率 Online", "完整率 Completeness"],
            [[d["name"] + (f" ({d['gateway'] or '*'}/{d['device']})" if d["device"] else ""), d["kind"],
              "是" if d["production"] else "否", "是" if d["networked"] else "否",
              pct(d["online"]["rate"]) if d["online"] else "—", pct(d["completeness"])]
             for d in data["devices"]],
            [W * 0.3, W * 0.14, W * 0.12, W * 0.12, W * 0.16, W * 0.16], num_cols=(4, 5)))
    else:
        story.append(t.p("尚未登记设备台账。No equipment register yet."))
    if data["processes"]:
        story.append(Spacer(1, 6))
        story.append(t.table(
            ["关键工序 Key process", "控制方式 Control", "联网设备 Networked devices", "认定 Counted"],
            [[p["name"], p["control"].upper(), "、".join(p["networked_devices"]) or "—",
              "是" if p["evidenced"] else "否"]
             for p in data["processes"]],
            [W * 0.3, W * 0.16, W * 0.4, W * 0.14]))

    story.append(t.h2("数据说明", "Notes on the figures"))
    story.append(t.p(
        "实测指标由平台接收的遥测数据计算（5分钟统计时段；网关每个心跳周期至少上传一次），不依赖人工填报。"
        f"设备联网和设备数字化两项按实测比率计分：比率不高于{data['band_zero']}计0分，达到{data['band_full']}计满分，其间线性。"
        "等级划分采用2022年版分档：20–40分一级，40–60分二级，60–80分三级，80分及以上四级，20分以下未达评级。", "note"))
    return story


def _keep_headings(story: list[Any], t: _T) -> list[Any]:
    """A heading stays on the page of what follows it."""
    from reportlab.platypus import KeepTogether

    out: list[Any] = []
    k = 0
    while k < len(story):
        f = story[k]
        if getattr(f, "style", None) is t.styles["h2"] and k + 1 < len(story):
            out.append(KeepTogether([f, story[k + 1]]))
            k += 2
        else:
            out.append(f)
            k += 1
    return out


def render_pdf(data: Mapping[str, Any]) -> bytes:
    """A4 PDF of the report data from `report.build`."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    charts = report_charts(data["view"], "png")
    W = A4[0] - 36 * mm
    probe = _T("probe", collect=True)
    _story(probe, data, charts, W)
    with reportlab_font("".join(probe.texts)) as font:
        t = _T(font)
        story = _keep_headings(_story(t, data, charts, W), t)
        buf = io.BytesIO()
        ent, year = data["enterprise"], data["year"]
        doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                                bottomMargin=16 * mm, title=f"{ent['name']} {year}年数字化转型报告",
                                author="minegate", subject="Digital transformation report")
        doc.build(story)
        return buf.getvalue()
