"""Figures drawn with matplotlib: graphs of functions, triangles, circles, histograms."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.pages.fonts import font_file
from training.pages.render import _figure_piece, _Piece, _Style


def _label_props(size: float, serif: bool) -> dict[str, Any]:
    return {"fontsize": size, "family": "DejaVu Serif" if serif else "DejaVu Sans", "ha": "center", "va": "center"}


def _draw_axes(ax: Any, xlim: tuple[float, float], ylim: tuple[float, float], props: dict[str, Any]) -> None:
    arrow = {"arrowstyle": "-|>", "lw": 0.9, "color": "black", "mutation_scale": 9, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=(xlim[1], 0), xytext=(xlim[0], 0), arrowprops=arrow)
    ax.annotate("", xy=(0, ylim[1]), xytext=(0, ylim[0]), arrowprops=arrow)
    dx, dy = (xlim[1] - xlim[0]) * 0.045, (ylim[1] - ylim[0]) * 0.05
    ax.text(xlim[1] - dx * 0.4, -dy * 1.3, "$x$", **props)
    ax.text(dx * 1.0, ylim[1] - dy * 0.4, "$y$", **props)
    ax.text(-dx * 0.9, -dy * 1.1, "O", **props)
    ax.set_xlim(xlim[0] - dx, xlim[1] + dx)
    ax.set_ylim(ylim[0] - dy, ylim[1] + dy)


def _render_figure(kind: str, params: dict[str, Any], w: int, h: int, r: random.Random, st: _Style) -> _Piece:
    size = st.size * 0.58  # points at 100 dpi, close to the body text
    props = _label_props(size, r.random() < 0.5)
    lw = r.uniform(0.9, 1.6)

    def parabola(fig: Any, ax: Any) -> None:
        a, p, q = params["a"], params["p"], params["q"]
        span = 4.5 if abs(a) < 1 else 3.5
        lo, hi = (min(q, 0) - 1.5, max(q, 0) + span) if a > 0 else (min(q, 0) - span, max(q, 0) + 1.5)
        reach = math.sqrt(abs((hi if a > 0 else lo) - q) / abs(a))
        xlim = (min(p - reach, -1.5), max(p + reach, 1.5))
        xs = np.linspace(xlim[0], xlim[1], 160)
        ax.plot(xs, a * (xs - p) ** 2 + q, color="black", lw=lw)
        _draw_axes(ax, xlim, (lo, hi), props)
        if params["mark"] and p and q:
            ax.plot([p, p, 0], [0, q, q], color="black", lw=0.7, ls=(0, (3, 2)))
            ax.plot([p], [q], "o", color="black", ms=3)
            off = (xlim[1] - xlim[0]) * 0.05
            ax.text(p, -off if q > 0 else off, str(p), **props)
            ax.text(-off * 1.2 if p > 0 else off * 1.2, q, str(q), **props)

    def line(fig: Any, ax: Any) -> None:
        m, n = params["m"], params["n"]
        xlim = (min(m, 0) - 1.8, max(m, 0) + 1.8)
        ylim = (min(n, 0) - 1.8, max(n, 0) + 1.8)
        xs = np.linspace(*xlim, 50)
        ax.plot(xs, -n / m * xs + n, color="black", lw=lw)
        _draw_axes(ax, xlim, ylim, props)
        off = (ylim[1] - ylim[0]) * 0.06
        ax.text(m, off if n < 0 else -off, str(m), **props)
        ax.text(-off * 1.1 if m > 0 else off * 1.1, n, str(n), **props)

    def right_triangle(fig: Any, ax: Any) -> None:
        a, b, flip = params["a"], params["b"], params["flip"]
        s = 1 / max(a, b)
        sx = -1 if flip else 1
        pa, pb, pc = (0, a * s), (0, 0), (sx * b * s, 0)
        ax.add_patch(_polygon([pa, pb, pc], lw))
        k = 0.07
        ax.plot([sx * k, sx * k, 0], [0, k, k], color="black", lw=0.8)
        off = 0.09
        ax.text(pa[0], pa[1] + off, "A", **props)
        ax.text(pb[0] - sx * off, pb[1] - off * 0.6, "B", **props)
        ax.text(pc[0] + sx * off, pc[1] - off * 0.6, "C", **props)
        ax.text(-sx * off * 2.4, pa[1] / 2, f"{a} cm", **props)
        ax.text(pc[0] / 2, -off * 1.2, f"{b} cm", **props)
        ax.set_aspect("equal")
        xs = sorted([0, pc[0]])
        ax.set_xlim(xs[0] - 0.35, xs[1] + 0.35)
        ax.set_ylim(-0.25, pa[1] + 0.2)

    def triangle(fig: Any, ax: Any) -> None:
        angle_a, angle_b = math.radians(params["A"]), math.radians(params["B"])
        angle_c = math.pi - angle_a - angle_b
        ab = math.sin(angle_c) / math.sin(angle_a)
        pb, pc = (0.0, 0.0), (1.0, 0.0)
        pa = (ab * math.cos(angle_b), ab * math.sin(angle_b))
        ax.add_patch(_polygon([pa, pb, pc], lw))
        cx, cy = (pa[0] + 1) / 3, pa[1] / 3
        for (px, py), name in ((pa, "A"), (pb, "B"), (pc, "C")):
            vx, vy = px - cx, py - cy
            norm = math.hypot(vx, vy) or 1
            ax.text(px + vx / norm * 0.09, py + vy / norm * 0.09, name, **props)
        for (px, py), label in ((pa, f"{params['A']}°"), (pb, f"{params['B']}°"), (pc, "$x$")):
            vx, vy = cx - px, cy - py
            norm = math.hypot(vx, vy) or 1
            ax.text(px + vx / norm * 0.2, py + vy / norm * 0.2, label, **(props | {"fontsize": size * 0.85}))
        ax.set_aspect("equal")
        xs = [pa[0], 0, 1]
        ax.set_xlim(min(xs) - 0.15, max(xs) + 0.15)
        ax.set_ylim(-0.15, pa[1] + 0.15)

    def circle(fig: Any, ax: Any) -> None:
        from matplotlib.patches import Circle

        ax.add_patch(Circle((0, 0), 1, fill=False, lw=lw, color="black"))
        ax.plot([0], [0], "o", color="black", ms=2.5)
        if params["radius"] is not None:
            phi = r.uniform(0.2, 1.2)
            ax.text(-0.13 * math.cos(phi), -0.13 * math.sin(phi), "O", **props)
            ax.plot([0, math.cos(phi)], [0, math.sin(phi)], color="black", lw=lw * 0.8)
            ax.text(math.cos(phi) / 2 - 0.1 * math.sin(phi) * 2.4, math.sin(phi) / 2 + 0.12, f"{params['radius']} cm",
                    **props)  # fmt: skip
        else:
            t = math.radians(params["angle"])
            start = -math.pi / 2 - t / 2 + r.uniform(-0.3, 0.3)
            pa, pb = (math.cos(start), math.sin(start)), (math.cos(start + t), math.sin(start + t))
            mid = start + t / 2 + math.pi + r.uniform(-0.5, 0.5)
            pp = (math.cos(mid), math.sin(mid))
            ax.text(-0.15 * math.cos(start + t / 2), -0.15 * math.sin(start + t / 2), "O", **props)
            for end in (pa, pb):
                ax.plot([0, end[0]], [0, end[1]], color="black", lw=lw * 0.8)
                ax.plot([pp[0], end[0]], [pp[1], end[1]], color="black", lw=lw * 0.8)
            for (px, py), name in ((pa, "A"), (pb, "B"), (pp, "P")):
                ax.text(px * 1.14, py * 1.14, name, **props)
            inner = start + t / 2
            ax.text(
                0.3 * math.cos(inner),
                0.3 * math.sin(inner),
                f"{params['angle']}°",
                **(props | {"fontsize": size * 0.8}),
            )
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)

    def histogram(fig: Any, ax: Any) -> None:
        from matplotlib.font_manager import FontProperties

        counts, start, width = params["counts"], params["start"], params["width"]
        edges = [start + i * width for i in range(len(counts) + 1)]
        face = r.choice(["white", "0.85", "0.7"])
        ax.bar(edges[:-1], counts, width=width, align="edge", color=face, edgecolor="black", lw=0.9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_xticks(edges)
        ax.set_yticks(range(0, max(counts) + 2, 2))
        ax.tick_params(labelsize=size * 0.8, length=3)
        ax.set_xlim(start - width * 0.3, edges[-1] + width * 0.6)
        ax.set_ylim(0, max(counts) + 1.5)
        korean = FontProperties(fname=font_file("gothic"), size=size * 0.8)
        ax.text(-0.02, 1.02, "(명)", transform=ax.transAxes, fontproperties=korean, ha="right", va="bottom")
        ax.text(1.0, -0.02, f"({params['unit']})", transform=ax.transAxes, fontproperties=korean, ha="left", va="top")

    drawers = {"parabola": parabola, "line": line, "right_triangle": right_triangle, "triangle": triangle,
               "circle": circle, "histogram": histogram}  # fmt: skip
    axes = (0.14, 0.12, 0.76, 0.8) if kind == "histogram" else None
    return _figure_piece(drawers[kind], w, h, axes)


def _polygon(points: Sequence[tuple[float, float]], lw: float) -> Any:
    from matplotlib.patches import Polygon

    return Polygon(points, closed=True, fill=False, lw=lw, edgecolor="black", joinstyle="miter")
