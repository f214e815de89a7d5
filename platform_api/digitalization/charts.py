"""Charts of the transformation report: monthly trends of the measured rates and the score by
dimension, as SVG (HTML page: text drawn as outlines, so it shows without the font installed) or
PNG (PDF). Figures are made without pyplot, so concurrent requests never share state."""

from __future__ import annotations

import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from platform_api.digitalization.fonts import matplotlib_font

COLORS = ("#1f6fb2", "#e08a1e", "#2e9b5c", "#8e44ad")


def _render(fig: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buf, format="svg", metadata={"Date": None})
    else:
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    return buf.getvalue()


def _pct(v: Any) -> float:
    return float("nan") if v is None else float(v) * 100


def _style(ax: Any, fp: Any, title: str) -> None:
    ax.set_title(title, fontproperties=fp, fontsize=11)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%", fontproperties=fp)
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for lbl in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        lbl.set_fontproperties(fp)


def trend_chart(
    monthly: Sequence[Mapping[str, Any]], series: Sequence[tuple[str, str]], title: str, fmt: str = "svg",
    target: tuple[float, str] | None = None,
) -> bytes:
    """Lines of rates (0..1 in `monthly[key]`, shown in %) per month of the year."""
    from matplotlib.figure import Figure

    fp = matplotlib_font()
    fig = Figure(figsize=(7.2, 3.0))
    ax = fig.add_subplot()
    months = list(range(1, 13))
    for k, (key, label) in enumerate(series):
        ys = [_pct(m.get(key)) for m in monthly] + [math.nan] * (12 - len(monthly))
        ax.plot(months, ys, marker="o", markersize=3, linewidth=1.6, color=COLORS[k % len(COLORS)], label=label)
    if target is not None:
        ax.axhline(target[0] * 100, color="#c0392b", linestyle="--", linewidth=1, label=target[1])
    ax.set_xticks(months, [str(m) for m in months])
    ax.set_xlim(0.5, 12.5)
    ax.set_xlabel("月 Month", fontproperties=fp, fontsize=8)
    _style(ax, fp, title)
    fp_small = fp.copy()
    fp_small.set_size(8)
    ax.legend(prop=fp_small, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=len(series) + (target is not None),
              frameon=False)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.32)  # fixed: no layout pass
    return _render(fig, fmt)


def dimension_chart(dimensions: Sequence[Mapping[str, Any]], title: str, fmt: str = "svg") -> bytes:
    """Score against the maximum of each dimension (horizontal bars)."""
    from matplotlib.figure import Figure

    fp = matplotlib_font()
    fig = Figure(figsize=(7.2, 0.6 + 0.55 * max(len(dimensions), 1)))
    ax = fig.add_subplot()
    names = [f"{d['name']} {d['name_en']}" for d in dimensions][::-1]
    weights = [float(d["weight"]) for d in dimensions][::-1]
    scores = [float(d["score"]) for d in dimensions][::-1]
    ax.barh(names, weights, color="#e5e9ef", height=0.55, label="满分 Max")
    ax.barh(names, scores, color=COLORS[0], height=0.55, label="得分 Score")
    for y, (s, w) in enumerate(zip(scores, weights, strict=True)):
        ax.text(min(s, w) + 0.6, y, f"{s:.2f} / {w:g}", va="center", fontproperties=fp, fontsize=8)
    ax.set_title(title, fontproperties=fp, fontsize=11)
    ax.set_xlim(0, max([*weights, 1.0]) * 1.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for lbl in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        lbl.set_fontproperties(fp)
    fig.subplots_adjust(left=0.34, right=0.97, top=0.82, bottom=0.2)
    return _render(fig, fmt)


DEVICE_SERIES = (
    ("networking_rate", "设备联网率 Networking"),
    ("digitalization_rate", "设备数字化率 Digitalization"),
    ("online_rate", "在线率 Online"),
)
PROCESS_SERIES = (
    ("key_process_nc_rate", "关键工序数控化率 Key-process NC"),
    ("ledger_telemetry_share", "台账自动采集占比 Ledger from telemetry"),
)


def report_charts(view: Mapping[str, Any], fmt: str) -> dict[str, bytes]:
    """The three charts of the report for `service.enterprise_view` output (the same figures give
    the same charts: a past year's report is drawn once)."""
    key = json.dumps([fmt, view["monthly"], view["assessment"]["dimensions"],
                      view["metrics"]["key_process_nc_rate"].get("target")], sort_keys=True, default=str)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    out = _draw(view, fmt)
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return out


CACHE_SIZE = 64
_cache: OrderedDict[str, dict[str, bytes]] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _draw(view: Mapping[str, Any], fmt: str) -> dict[str, bytes]:
    monthly = view["monthly"]
    target = view["metrics"]["key_process_nc_rate"].get("target")
    return {
        "dimensions": dimension_chart(view["assessment"]["dimensions"], "维度得分 Score by dimension", fmt),
        "devices": trend_chart(monthly, DEVICE_SERIES, "设备联网与在线 Devices, monthly", fmt),
        "processes": trend_chart(monthly, PROCESS_SERIES, "关键工序与台账 Processes and ledger, monthly", fmt,
                                 target=(float(target), f"2025目标 Target {float(target) * 100:.0f}%")
                                 if target is not None else None),
    }
