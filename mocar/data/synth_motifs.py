"""Ornament motifs of the demo museum and the frieze layout that places them on an object.

Each motif painter fills one horizontal band ``(x0, y0, x1, y1)`` with a repeating pattern in one
ink. :func:`paint_ornament` stacks bands over the object's bounding box; how many bands carry a
motif (density), how tall they are (spacing) and the stroke width come from the object's style, so
they drift with the year. Relief inks (cast or impressed decoration on metal and clay) are drawn
twice, a light copy offset up-left under the dark one, which reads as embossing.

Painters draw over the whole band; the object's mask clips them later.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

from mocar.data.synth_catalog import RGB, Style

Box = tuple[float, float, float, float]
Painter = Callable[[ImageDraw.ImageDraw, Box, int, RGB, np.random.Generator], None]


def _meander(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    unit, x = h * 1.1, x0 - rng.uniform(0, h)
    while x < x1:
        key = [(0, 1), (0, 0), (0.8, 0), (0.8, 0.72), (0.32, 0.72), (0.32, 0.36), (0.56, 0.36)]  # one Greek key
        draw.line([(x + a * unit, y0 + b * h) for a, b in key], fill=ink, width=w)
        x += unit
    draw.line([(x0, y1), (x1, y1)], fill=ink, width=w)


def _zigzag_line(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, period: float) -> None:
    x0, y0, x1, y1 = box
    xs = np.arange(x0 - period, x1 + period, period / 2)
    draw.line([(x, y0 if i % 2 else y1) for i, x in enumerate(xs)], fill=ink, width=w, joint="curve")


def _zigzag(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    _zigzag_line(draw, box, w, ink, period=(box[3] - box[1]) * rng.uniform(0.7, 1.0))


def _chevrons(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h, period = y1 - y0, (y1 - y0) * rng.uniform(0.9, 1.3)
    for k in range(3):  # nested Vs: three stacked zigzags
        top = y0 + k * h / 4
        _zigzag_line(draw, (x0, top, x1, top + h / 2), w, ink, period)


def _hatch(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    step, lean = max(3.0 * w, h * rng.uniform(0.22, 0.35)), h * rng.choice([-0.7, 0.7])
    for x in np.arange(x0 - h, x1 + h, step):
        draw.line([(x, y1), (x + lean, y0)], fill=ink, width=max(1, w // 2 + 1))


def _dots(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    r = max(w * 0.9, h * rng.uniform(0.12, 0.2))
    rows = 2 if h > 6 * r else 1
    for row in range(rows):
        cy = y0 + h * (row + 0.5) / rows
        offset = (row % 2) * 1.4 * r
        for cx in np.arange(x0 + offset, x1, 2.8 * r):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)


def _triangles(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    step = (y1 - y0) * rng.uniform(0.7, 1.0)
    for i, x in enumerate(np.arange(x0 - step, x1, step)):
        points = [(x, y1), (x + step / 2, y0), (x + step, y1)]
        draw.polygon(points, fill=ink if i % 2 == 0 else None, outline=ink, width=max(1, w // 2 + 1))


def _glyph(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, w: int, ink: RGB, kind: int) -> None:
    """One hieroglyph-like mark in a cell of half-size ``s``."""
    if kind == 0:  # reed: a vertical stroke
        draw.line([(cx, cy - s), (cx, cy + s)], fill=ink, width=w)
    elif kind == 1:  # sun: a ring with a dot
        draw.ellipse([cx - s * 0.7, cy - s * 0.7, cx + s * 0.7, cy + s * 0.7], outline=ink, width=w)
        draw.ellipse([cx - w, cy - w, cx + w, cy + w], fill=ink)
    elif kind == 2:  # bread: a half disc
        draw.chord([cx - s, cy - s * 0.2, cx + s, cy + s * 1.6], 180, 360, fill=ink)
    elif kind == 3:  # water: a small zigzag
        xs = np.linspace(cx - s, cx + s, 7)
        draw.line([(x, cy + (s * 0.25 if i % 2 else -s * 0.25)) for i, x in enumerate(xs)], fill=ink, width=w)
    elif kind == 4:  # bird: body, tail, legs
        draw.line([(cx - s, cy + s * 0.2), (cx + s * 0.5, cy - s * 0.6), (cx + s, cy - s * 0.4)], fill=ink, width=w)
        draw.line([(cx - s * 0.2, cy - s * 0.2), (cx - s * 0.1, cy + s)], fill=ink, width=w)
    else:  # ankh: loop on a cross
        draw.ellipse([cx - s * 0.35, cy - s, cx + s * 0.35, cy - s * 0.2], outline=ink, width=w)
        draw.line([(cx, cy - s * 0.2), (cx, cy + s)], fill=ink, width=w)
        draw.line([(cx - s * 0.6, cy), (cx + s * 0.6, cy)], fill=ink, width=w)


def _glyphs(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    cell = h * rng.uniform(0.6, 0.8)
    for cx in np.arange(x0 + cell / 2, x1, cell):
        _glyph(draw, cx, y0 + h / 2, cell * 0.38, max(1, w // 2 + 1), ink, int(rng.integers(6)))


def _wedges(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    """Cuneiform: rows of small wedges (a triangular head and a tail), mostly horizontal."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    rows = 2 if h > 10 * w else 1
    s = h / rows * 0.3
    for row in range(rows):
        cy = y0 + h * (row + 0.5) / rows
        for cx in np.arange(x0 + s, x1, s * rng.uniform(2.2, 3.0)):
            if rng.random() < 0.7:  # horizontal wedge
                draw.polygon([(cx - s, cy - s * 0.6), (cx - s, cy + s * 0.6), (cx, cy)], fill=ink)
                draw.line([(cx, cy), (cx + s * 1.2, cy)], fill=ink, width=max(1, w // 2))
            else:  # vertical wedge
                draw.polygon([(cx - s * 0.6, cy - s), (cx + s * 0.6, cy - s), (cx, cy)], fill=ink)
                draw.line([(cx, cy), (cx, cy + s * 1.2)], fill=ink, width=max(1, w // 2))


def _spirals(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    """Running spirals: each cell one spiral, joined to the next by a tangent line."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    cell, turns = h * rng.uniform(0.9, 1.2), rng.uniform(1.5, 2.5)
    theta = np.linspace(0, 2 * np.pi * turns, 40)
    radius = h * 0.45 * theta / theta[-1]
    previous = None
    for i, cx in enumerate(np.arange(x0, x1 + cell, cell)):
        sign = 1 if i % 2 == 0 else -1
        points = [(cx + r * np.cos(t), y0 + h / 2 + sign * r * np.sin(t)) for r, t in zip(radius, theta)]
        draw.line(points, fill=ink, width=w, joint="curve")
        if previous is not None:
            draw.line([previous, points[-1]], fill=ink, width=w)
        previous = points[-1]


def _stars(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    """Eight-pointed stars on a diagonal lattice (geometric tile and inlay work)."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    cell, cy, fill = h, y0 + h / 2, rng.random() < 0.5
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    radii = np.where(np.arange(16) % 2 == 0, h * 0.46, h * 0.24)
    for cx in np.arange(x0, x1 + cell, cell):
        draw.line([(cx, y0), (cx + cell, y1)], fill=ink, width=max(1, w // 2))
        draw.line([(cx, y1), (cx + cell, y0)], fill=ink, width=max(1, w // 2))
        star = [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(radii, angles)]
        draw.polygon(star, fill=ink if fill else None, outline=ink, width=max(1, w // 2 + 1))


def _waves(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    """Wave scales: rows of concentric half-rings (the sea pattern of East Asian ceramics)."""
    x0, y0, x1, y1 = box
    r = (y1 - y0) * rng.uniform(0.45, 0.6)
    for cx in np.arange(x0, x1 + r, r * 1.6):
        for k in (1.0, 0.66, 0.33):
            rk = r * k
            draw.arc([cx - rk, y1 - rk, cx + rk, y1 + rk], 180, 360, fill=ink, width=max(1, w // 2 + 1))


def _legend(draw: ImageDraw.ImageDraw, box: Box, w: int, ink: RGB, rng: np.random.Generator) -> None:
    """Pseudo-letters (coin legends, inscriptions): 1-3 strokes per letter."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    top, bottom, width = y0 + h * 0.15, y1 - h * 0.15, h * 0.38
    strokes = (
        lambda x: [(x, top), (x, bottom)], lambda x: [(x, top), (x + width, top)],
        lambda x: [(x, (top + bottom) / 2), (x + width, (top + bottom) / 2)],
        lambda x: [(x, bottom), (x + width, bottom)], lambda x: [(x, bottom), (x + width, top)],
        lambda x: [(x + width, top), (x + width, bottom)],
    )
    for x in np.arange(x0, x1, width * 1.6):
        for index in rng.choice(len(strokes), size=int(rng.integers(1, 4)), replace=False):
            draw.line(strokes[int(index)](x), fill=ink, width=max(1, w // 2 + 1))


MOTIFS: dict[str, Painter] = {
    "meander": _meander, "zigzag": _zigzag, "chevrons": _chevrons, "hatch": _hatch, "dots": _dots,
    "triangles": _triangles, "glyphs": _glyphs, "wedges": _wedges, "spirals": _spirals, "stars": _stars,
    "waves": _waves, "legend": _legend,
}


def _lighter(rgb: RGB, amount: float) -> RGB:
    return tuple(int(c + (255 - c) * amount) for c in rgb)  # type: ignore[return-value]


def draw_motif(draw: ImageDraw.ImageDraw, motif: str, box: Box, width: int, ink: RGB, style: Style,
               rng: np.random.Generator) -> None:
    """Paint one band; relief styles get a light, offset copy first (same strokes, same seed)."""
    painter = MOTIFS[motif]
    if not style.relief:
        painter(draw, box, width, ink, rng)
        return
    seed = int(rng.integers(2**31))
    offset = max(1, width // 2)
    shifted = (box[0] - offset, box[1] - offset, box[2] - offset, box[3] - offset)
    painter(draw, shifted, width, _lighter(style.base, 0.45), np.random.default_rng(seed))
    painter(draw, box, width, ink, np.random.default_rng(seed))


def paint_ornament(draw: ImageDraw.ImageDraw, bbox: Box, style: Style, rng: np.random.Generator) -> int:
    """Stack friezes over ``bbox``; return how many bands carry a motif."""
    x0, y0, x1, y1 = bbox
    height = y1 - y0
    width = max(1, int(round(style.line_width * height)))
    y, bands = y0 + height * rng.uniform(0.02, 0.12), 0
    while y < y1 - 4 * width:
        band = max(5.0 * width, style.spacing * height * rng.uniform(0.8, 1.3))
        if rng.random() < style.density:
            motif = style.motifs[0] if rng.random() < 0.7 else style.motifs[1]
            ink = style.inks[0] if rng.random() < 0.75 else style.inks[-1]
            frame = max(1, width // 2 + 1)
            draw.line([(x0, y), (x1, y)], fill=ink, width=frame)
            draw_motif(draw, motif, (x0, y + 2 * frame, x1, y + band - 2 * frame), width, ink, style, rng)
            draw.line([(x0, y + band), (x1, y + band)], fill=ink, width=frame)
            bands += 1
            y += band
        y += band * rng.uniform(0.3, 1.2) * (1.25 - style.density)
    return bands


def paint_beaded_rim(draw: ImageDraw.ImageDraw, bbox: Box, style: Style, rng: np.random.Generator) -> None:
    """The ring of dots just inside a coin's edge."""
    x0, y0, x1, y1 = bbox
    cx, cy, radius = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 2 * rng.uniform(0.84, 0.9)
    dot = max(1.0, radius * 0.035)
    for angle in np.linspace(0, 2 * np.pi, int(rng.integers(36, 60)), endpoint=False):
        x, y = cx + radius * np.cos(angle), cy + radius * np.sin(angle)
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=style.inks[0])
