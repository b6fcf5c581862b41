"""Charts as inline SVG, drawn on the server with pygal: no script, no CDN, readable with
JavaScript off. Every chart sits next to a table with the same numbers, which is what screen
readers and copy-paste use; the SVG is decoration for the eye (``aria-hidden``)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from xml.etree import ElementTree

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

# Colours by meaning, the same on every chart: progress in blues and green, endings in
# warm tones, so "withdrawn" reads as a warning wherever it appears.
COLOURS = {
    "sent": "#6c8ebf",
    "accepted": "#2f6db5",
    "converted": "#2e7d32",
    "granted": "#2e7d32",
    "declined": "#e08a1e",
    "refused": "#e08a1e",
    "expired": "#8a8a8a",
    "withdrawn": "#b3261e",
    "success rate": "#2e7d32",
    "issued": "#6c8ebf",
    "settled": "#2e7d32",
    "redeemed": "#2f6db5",
}
FALLBACK = ("#417690", "#79aec8", "#e08a1e", "#8a8a8a", "#b3261e", "#2e7d32", "#6c8ebf")


def _style(series: Sequence[str]) -> Style:
    return Style(
        background="transparent",
        plot_background="transparent",
        foreground="#333",
        foreground_strong="#333",
        foreground_subtle="#ddd",
        font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=13,
        value_font_size=12,
        colors=tuple(
            COLOURS.get(name, FALLBACK[i % len(FALLBACK)]) for i, name in enumerate(series)
        ),
    )


NONCE_SLOT = "csp-nonce-slot"


def _svg(chart: pygal.graph.graph.Graph) -> SafeString:
    """The chart's SVG element without pygal's inline config script and tooltip overlay
    (they need pygal.js from a CDN we do not load; the overlay's inline style attribute is
    one the Content-Security-Policy refuses). Its <style> element carries a slot for the
    request's CSP nonce, filled by the ``nonced`` template filter."""
    root = chart.render_tree()
    for parent in root.iter():
        for child in list(parent):
            if not isinstance(child.tag, str):
                continue
            if child.tag.endswith("script") or "tooltip-overlay" in child.get("class", ""):
                parent.remove(child)
            elif child.tag.endswith("style"):
                child.set("nonce", NONCE_SLOT)
    root.set("aria-hidden", "true")
    root.set("focusable", "false")
    # pygal escapes every label and value it writes; ElementTree escapes on output again.
    return mark_safe(ElementTree.tostring(root, encoding="unicode"))  # noqa: S308


def nonced(svg: str, nonce: str) -> SafeString:
    """A chart from ``_svg`` with this request's CSP nonce on its <style> element."""
    if not re.fullmatch(r"[A-Za-z0-9+/=_-]+", str(nonce)):
        return mark_safe(str(svg).replace(f' nonce="{NONCE_SLOT}"', ""))  # noqa: S308
    return mark_safe(str(svg).replace(f'nonce="{NONCE_SLOT}"', f'nonce="{nonce}"'))  # noqa: S308


def _count_ticks(series: dict[str, Sequence[float | None]], *, stacked: bool) -> list[int]:
    """Whole-number ticks for counts (pygal would label 0.2, 0.4, … for small numbers)."""
    columns = list(zip(*series.values(), strict=True)) or [()]
    top = max(
        (sum(v or 0 for v in c) if stacked else max((v or 0 for v in c), default=0))
        for c in columns
    )
    step = max(1, math.ceil(top / 5))
    return list(range(0, int(top) + step + 1, step)) if top else [0, 1]


def bars(
    *,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    horizontal: bool = False,
    stacked: bool = False,
    percent: bool = False,
    height: int = 320,
) -> SafeString:
    """A grouped (or stacked) bar chart: one bar per series for each label."""
    kind = {
        (False, False): pygal.Bar,
        (True, False): pygal.HorizontalBar,
        (False, True): pygal.StackedBar,
        (True, True): pygal.HorizontalStackedBar,
    }[(horizontal, stacked)]
    chart = kind(
        style=_style(list(series)),
        width=760,
        height=height,
        js=[],
        legend_at_bottom=True,
        legend_at_bottom_columns=min(len(series), 6),
        print_values=False,
        show_y_guides=not horizontal,
        show_x_guides=horizontal,
        x_label_rotation=0 if horizontal or len(labels) <= 6 else 30,
        truncate_label=40,
        margin=8,
        range=(0, 1) if percent else None,
        value_formatter=(lambda v: f"{v:.0%}") if percent else (lambda v: f"{v:g}"),
    )
    if percent:
        chart.y_labels = [0, 0.25, 0.5, 0.75, 1]
    else:
        chart.y_labels = _count_ticks(series, stacked=stacked)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart)
