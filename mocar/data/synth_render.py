"""Draw one photo of a demo-museum object: shape, material, regional ornament, wear, studio nuisance.

What a model can learn from these images, and what it cannot:

* The **collection** (region) shows in the palette of inks, the ornament family (meander, glyph
  rows, cuneiform wedges, zigzag and hatching, star patterns, waves, ...) and the materials the
  collection uses. Object *types* (vessel, coin, figurine, ...) are shared across collections, so
  shape alone does not tell the region.
* The **year** shows as a continuous drift within the collection: ornament density, motif size,
  line width, a hue shift of material and inks, and wear/patina (older = more worn). Every drift
  parameter also has per-object noise of about the same size, so the year is learnable but not
  readable off one statistic.
* Nuisance that carries no label: background (plain, sweep, cloth), an occasional scale bar,
  rotation, scale and position jitter, drop shadow, lighting gradient, colour cast, blur, noise.

Everything is drawn with PIL ImageDraw and numpy at twice the output size and downsampled, so edges
are anti-aliased. All randomness comes from the ``rng`` argument: the same generator state gives
the same pixels.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from mocar.data.synth_catalog import (
    COLLECTION_BY_CODE,
    MATERIALS,
    RGB,
    Collection,
    Style,
    fashion_weights,
    relative_time,
    sample_motif,
    shift_hue,
)
from mocar.data.synth_motifs import paint_beaded_rim, paint_ornament
from mocar.errors import ConfigError

SUPERSAMPLE = 2
METALS = frozenset({"bronze", "gold", "silver"})
_STUDIO_COLOURS: tuple[RGB, ...] = (
    (242, 242, 240), (214, 214, 210), (150, 150, 148), (96, 96, 96), (24, 24, 26), (58, 68, 92),
    (226, 216, 194), (40, 48, 40),
)
_CLOTH_COLOURS: tuple[RGB, ...] = ((30, 36, 70), (20, 20, 22), (200, 190, 170), (96, 24, 32), (70, 80, 70))
_PATINA: dict[str, RGB] = {"bronze": (78, 140, 112), "silver": (60, 58, 64), "gold": (150, 110, 40)}
_DIRT: RGB = (92, 78, 62)


@dataclass(frozen=True)
class ObjectSpec:
    """What is drawn: the labels and the choices that also appear in the export's text fields."""

    collection: str  # collection code, e.g. "ANT"
    object_type: str
    material: str
    motif: str
    year: int


@dataclass(frozen=True)
class RenderedObject:
    """The finished RGB photo and the object's soft mask (0..255) at the output size."""

    image: Image.Image
    mask: Image.Image


# --- style -------------------------------------------------------------------------------------

def _lerp(pair: tuple[float, float], t: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * t


def _luma(rgb: RGB) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _scale_rgb(rgb: RGB, factor: float, towards: RGB = (0, 0, 0)) -> RGB:
    """Move a colour ``1 - factor`` of the way towards ``towards`` (black by default)."""
    return tuple(int(np.clip(t + (c - t) * factor, 0, 255)) for c, t in zip(rgb, towards))  # type: ignore[return-value]


def _contrasting(ink: RGB, base: RGB) -> RGB:
    """Ornament must stay visible: push an ink that is too close to the base away from it."""
    if abs(_luma(ink) - _luma(base)) >= 45:
        return ink
    return _scale_rgb(ink, 0.4) if _luma(base) > 110 else _scale_rgb(ink, 0.35, (245, 240, 230))


def _inks(collection: Collection, t: float, base: RGB, hue: float, metal: bool,
          rng: np.random.Generator) -> tuple[RGB, ...]:
    """Two inks, those in fashion at ``t`` more likely; the first is the main one."""
    p = fashion_weights(np.ones(len(collection.inks)), t)
    picks = rng.choice(len(p), size=min(2, len(p)), replace=False, p=p)
    inks = []
    for index in picks:
        ink = collection.inks[int(index)]
        if ink == "relief" or (metal and rng.random() < 0.7):
            inks.append(_scale_rgb(base, 0.5))
        else:
            inks.append(_contrasting(shift_hue(ink, hue), base))
    return tuple(inks)


def sample_style(spec: ObjectSpec, rng: np.random.Generator) -> Style:
    """The object's appearance: collection style, drifted to its year, plus per-object noise."""
    collection = COLLECTION_BY_CODE[spec.collection]
    drift, t = collection.drift, relative_time(collection, spec.year)
    hue = drift.hue_shift * (t - 0.5) + rng.normal(0.0, 3.0)
    material = MATERIALS[spec.material]
    base = _scale_rgb(shift_hue(material.rgb, 0.7 * hue + rng.normal(0.0, 3.0)), rng.uniform(0.86, 1.12))
    metal = spec.material in METALS
    inks = _inks(collection, t, base, hue, metal, rng)
    return Style(
        base=base,
        texture=material.texture,
        inks=inks,
        relief=metal or collection.inks[0] == "relief",
        motifs=(spec.motif, sample_motif(rng, collection, spec.year)),
        density=float(np.clip(_lerp(drift.density, t) + rng.normal(0.0, 0.08), 0.05, 0.95)),
        spacing=_lerp(drift.spacing, t) * float(np.exp(rng.normal(0.0, 0.1))),
        line_width=_lerp(drift.line_width, t) * float(np.exp(rng.normal(0.0, 0.1))),
        wear=float(np.clip(_lerp(drift.wear, t) + rng.normal(0.0, 0.1), 0.0, 1.0)),
        patina=_PATINA.get(spec.material, _DIRT),
    )


# --- noise and textures ------------------------------------------------------------------------

def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in about [0, 1]: a ``cells`` x ``cells`` random grid upsampled bicubically."""
    grid = rng.random((cells, cells), dtype=np.float32)
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC))


@lru_cache(maxsize=8)
def unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(yy, xx) pixel coordinates divided by ``size``, float32, read-only (cached per size)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


def _gauss(rng: np.random.Generator, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean pixel noise with standard deviation ``sigma`` (uniform: 3x cheaper than normal)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(sigma * 12**0.5)


def material_texture(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative brightness field (size x size, around 1) for a material's surface."""
    yy, xx = unit_grid(size)
    if kind == "grain":
        field = 0.14 * (smooth_noise(rng, size, 6) - 0.5) + _gauss(rng, 0.05, (size, size))
    elif kind == "blotch":
        field = 0.3 * (smooth_noise(rng, size, 4) - 0.5) + 0.16 * (smooth_noise(rng, size, 14) - 0.5)
    elif kind == "metal":
        field = 0.28 * (smooth_noise(rng, size, 3) - 0.5) + _gauss(rng, 0.03, (size, size))
    elif kind == "glossy":
        field = 0.08 * (smooth_noise(rng, size, 4) - 0.5) + _gauss(rng, 0.012, (size, size))
    elif kind == "streak":
        phase = xx * rng.uniform(10, 22) + 1.2 * smooth_noise(rng, size, 3)
        field = 0.13 * np.sin(2 * np.pi * phase) + 0.06 * (smooth_noise(rng, size, 20) - 0.5)
    elif kind == "weave":
        period = rng.uniform(0.015, 0.03)
        field = 0.12 * np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
        field = field + 0.1 * (smooth_noise(rng, size, 5) - 0.5)
    else:
        raise ConfigError(f"unknown texture {kind!r}; valid: grain, blotch, metal, glossy, streak, weave")
    return (1.0 + field).astype(np.float32)


# --- shapes: each draws 255 on an L mask, with an object about 0.8 of the canvas ------------------

def _shape_vessel(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    cx, bowl = size / 2, rng.random() < 0.25
    if bowl:
        top, bottom = size * rng.uniform(0.3, 0.38), size * rng.uniform(0.72, 0.8)
        radii = [0.42, 0.42, 0.4, 0.33, 0.2, 0.12] * rng.uniform(0.85, 1.05, 6)
    else:
        top, bottom = size * rng.uniform(0.08, 0.15), size * rng.uniform(0.86, 0.92)
        rim, neck = rng.uniform(0.09, 0.2), rng.uniform(0.05, 0.12)
        radii = np.array([rim, neck, rng.uniform(0.2, 0.34), rng.uniform(0.24, 0.36), rng.uniform(0.1, 0.26),
                          rng.uniform(0.08, 0.16)])
    ts = np.linspace(0, 1, 28)
    r = np.interp(ts, [0, 0.1, 0.28, 0.5, 0.8, 1.0], radii) * size
    ys = top + ts * (bottom - top)
    draw.polygon([(cx + a, b) for a, b in zip(r, ys)] + [(cx - a, b) for a, b in zip(r[::-1], ys[::-1])], fill=255)
    if not bowl and rng.random() < 0.45:  # handles
        width = max(2, int(size * 0.03))
        y_neck, y_shoulder = top + 0.12 * (bottom - top), top + 0.33 * (bottom - top)
        for side in (-1, 1):  # r[3] is the neck, r[9] the shoulder (28 samples along the height)
            outer = cx + side * (r[9] + size * rng.uniform(0.05, 0.09))
            path = [(cx + side * r[3], y_neck), (outer, (y_neck + y_shoulder) / 2), (cx + side * r[9] * 0.9, y_shoulder)]
            draw.line(path, fill=255, width=width, joint="curve")


def _shape_coin(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    wobble = np.convolve(rng.normal(0, 0.02, 64), np.ones(5) / 5, mode="same")
    r = size * rng.uniform(0.33, 0.4) * (1 + wobble)
    draw.polygon([(size / 2 + a * np.cos(t), size / 2 + a * np.sin(t)) for a, t in zip(r, angles)], fill=255)


def _shape_figurine(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    cx = size / 2
    head_r, head_y = size * rng.uniform(0.06, 0.095), size * rng.uniform(0.13, 0.18)
    draw.ellipse([cx - head_r, head_y - head_r, cx + head_r * 0.95, head_y + head_r * 1.1], fill=255)
    shoulder, waist, hip = (size * rng.uniform(a, b) for a, b in ((0.12, 0.2), (0.07, 0.12), (0.1, 0.18)))
    y_sh, y_waist, y_hip, y_feet = head_y + head_r * 1.3, size * 0.45, size * 0.58, size * 0.84
    foot = size * rng.uniform(0.06, 0.16)
    draw.polygon([(cx - shoulder, y_sh), (cx + shoulder, y_sh), (cx + waist, y_waist), (cx + hip, y_hip),
                  (cx + foot, y_feet), (cx - foot, y_feet), (cx - hip, y_hip), (cx - waist, y_waist)], fill=255)
    arm = max(2, int(size * rng.uniform(0.03, 0.05)))
    spread = size * rng.uniform(0.0, 0.1)
    for side in (-1, 1):
        draw.line([(cx + side * shoulder * 0.9, y_sh + arm / 2), (cx + side * (shoulder + spread), y_hip)],
                  fill=255, width=arm, joint="curve")
    base_w = size * rng.uniform(0.14, 0.24)
    draw.rectangle([cx - base_w, y_feet, cx + base_w, y_feet + size * rng.uniform(0.04, 0.08)], fill=255)


def _shape_tablet(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    w, h = size * rng.uniform(0.28, 0.4), size * rng.uniform(0.3, 0.42)
    radius = size * rng.uniform(0.01, 0.08)
    draw.rounded_rectangle([size / 2 - w, size / 2 - h, size / 2 + w, size / 2 + h], radius=radius, fill=255)


def _shape_fragment(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    count = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = size * rng.uniform(0.22, 0.42, count)
    draw.polygon([(size / 2 + r * np.cos(a), size / 2 + r * np.sin(a)) for r, a in zip(radii, angles)], fill=255)


def _shape_jewellery(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    c = size / 2
    if rng.random() < 0.4:  # ring or bangle
        outer, inner = size * rng.uniform(0.3, 0.38), rng.uniform(0.6, 0.8)
        draw.ellipse([c - outer, c - outer, c + outer, c + outer], fill=255)
        draw.ellipse([c - outer * inner, c - outer * inner, c + outer * inner, c + outer * inner], fill=0)
        return
    bead, rx, ry = size * rng.uniform(0.025, 0.045), size * 0.36, size * rng.uniform(0.25, 0.36)
    for angle in np.linspace(0.05 * np.pi, 0.95 * np.pi, int(rng.integers(11, 19))):
        x, y = c + rx * np.cos(angle), c - size * 0.12 + ry * np.sin(angle)
        draw.ellipse([x - bead, y - bead, x + bead, y + bead], fill=255)
    pendant = size * rng.uniform(0.06, 0.1)
    top = c - size * 0.12 + ry
    draw.ellipse([c - pendant, top, c + pendant, top + pendant * 2.2], fill=255)


def _shape_mask(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    c, w, h = size / 2, size * rng.uniform(0.24, 0.32), size * rng.uniform(0.34, 0.42)
    draw.ellipse([c - w, c - h, c + w, c + h], fill=255)
    eye_w, eye_h, eye_y = w * rng.uniform(0.18, 0.3), h * rng.uniform(0.06, 0.14), c - h * 0.2
    for side in (-1, 1):
        ex = c + side * w * 0.42
        draw.ellipse([ex - eye_w, eye_y - eye_h, ex + eye_w, eye_y + eye_h], fill=0)
    mouth_w, mouth_y = w * rng.uniform(0.2, 0.45), c + h * 0.45
    draw.ellipse([c - mouth_w, mouth_y - h * 0.05, c + mouth_w, mouth_y + h * 0.07], fill=0)


def _shape_tile(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    c, r, kind = size / 2, size * rng.uniform(0.32, 0.4), rng.random()
    if kind < 0.5:
        draw.rectangle([c - r, c - r, c + r, c + r], fill=255)
        return
    if kind < 0.75:  # eight-pointed star, the classic Islamic tile
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        radii = np.where(np.arange(16) % 2 == 0, r, r * 0.62)
    else:  # hexagon
        angles, radii = np.linspace(0, 2 * np.pi, 6, endpoint=False), np.full(6, r)
    draw.polygon([(c + a * np.cos(t), c + a * np.sin(t)) for a, t in zip(radii, angles)], fill=255)


def _shape_tool(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    c, length, width = size / 2, size * rng.uniform(0.6, 0.82), size * rng.uniform(0.08, 0.16)
    top = c - length / 2
    ts = np.linspace(0, 1, 24)
    half = width * np.sin(np.pi * ts) ** rng.uniform(0.5, 0.9)
    ys = top + ts * length
    draw.polygon([(c + h, y) for h, y in zip(half, ys)] + [(c - h, y) for h, y in zip(half[::-1], ys[::-1])], fill=255)
    if rng.random() < 0.4:  # hafted: a handle below the blade
        draw.rectangle([c - width * 0.35, top + length * 0.8, c + width * 0.35, top + length * 1.08], fill=255)


ShapeFn = Callable[[ImageDraw.ImageDraw, int, np.random.Generator], None]
SHAPES: dict[str, ShapeFn] = {
    "vessel": _shape_vessel, "coin": _shape_coin, "figurine": _shape_figurine, "tablet": _shape_tablet,
    "fragment": _shape_fragment, "jewellery": _shape_jewellery, "mask": _shape_mask, "tile": _shape_tile,
    "tool": _shape_tool,
}
_ROUNDED = frozenset({"vessel", "figurine", "coin", "jewellery", "mask", "tool"})
_DOMED = frozenset({"coin", "mask"})
_CHIPPABLE = frozenset({"vessel", "fragment", "tablet", "tile", "figurine", "mask"})


# --- the object in its own frame ---------------------------------------------------------------
# Blends and composites run in PIL on 8-bit images (C speed); numpy only builds the masks and fields.

def _to_l(field: np.ndarray) -> Image.Image:
    """A 0..1 float field as an 8-bit mask."""
    return Image.fromarray((np.clip(field, 0.0, 1.0) * 255).astype(np.uint8))


def _apply_wear(decorated: Image.Image, plain: Image.Image, style: Style, rng: np.random.Generator) -> Image.Image:
    """Fade ornament where worn, add grime or patina, pit the surface; more of all when older."""
    size = plain.size[0]
    fade = _to_l((style.wear * 0.75 - smooth_noise(rng, size, 7)) * 6.0)
    worn = Image.composite(plain, decorated, fade)
    grime = np.minimum((smooth_noise(rng, size, 5) - (1.0 - 0.55 * style.wear)) * 3.0, 0.85)
    pits = rng.random((size, size), dtype=np.float32) < 0.012 * style.wear
    grime = np.where(pits, np.float32(0.6), grime)
    return Image.composite(Image.new("RGB", plain.size, style.patina), worn, _to_l(grime))


def _chip_edges(mask: Image.Image, wear: float, rng: np.random.Generator) -> None:
    """Bite small pieces out of the outline of worn objects (centred on random edge pixels)."""
    inside = np.asarray(mask) > 127
    edge = inside & ~(np.asarray(mask.filter(ImageFilter.MinFilter(3))) > 127)
    ys, xs = np.nonzero(edge)
    if len(xs) == 0:
        return
    draw = ImageDraw.Draw(mask)
    for index in rng.integers(0, len(xs), int(wear * 7)):
        r = mask.size[0] * rng.uniform(0.015, 0.05)
        x, y = float(xs[index]), float(ys[index])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=0)


def _shade(image: Image.Image, bbox: tuple[int, int, int, int], object_type: str, texture: str,
           rng: np.random.Generator) -> Image.Image:
    """Cylinder or dome shading for rounded objects, a soft tilt for flat ones, a specular spot."""
    size = image.size[0]
    x0, y0, x1, y1 = bbox
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, max(1.0, (x1 - x0) / 2), max(1.0, (y1 - y0) / 2)
    u = np.clip((np.arange(size, dtype=np.float32) - cx) / hw, -1, 1)[None, :]
    v = np.clip((np.arange(size, dtype=np.float32) - cy) / hh, -1, 1)[:, None]
    if object_type in _DOMED:
        shade = 0.72 + 0.36 * np.sqrt(np.clip(1 - u**2 - v**2, 0, 1))
    elif object_type in _ROUNDED:
        shade = (0.66 + 0.42 * np.sqrt(1 - u**2)) * np.ones_like(v)
    else:
        shade = 1.0 + 0.08 * (u * rng.uniform(-1, 1) + v * rng.uniform(-1, 1))
    rgb = np.asarray(image, np.float32) * shade[..., None]
    shaded = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    if texture not in ("glossy", "metal"):
        return shaded
    spot = np.exp(-(((u + 0.4) / 0.22) ** 2 + ((v + 0.35) / 0.3) ** 2)) * (0.55 if texture == "glossy" else 0.35)
    return Image.composite(Image.new("RGB", image.size, (255, 255, 255)), shaded, _to_l(spot))


def object_layer(spec: ObjectSpec, style: Style, size: int,
                 rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """The decorated, worn, shaded object in a ``size`` square: (RGB image, L mask)."""
    mask = Image.new("L", (size, size), 0)
    SHAPES[spec.object_type](ImageDraw.Draw(mask), size, rng)
    bbox = mask.getbbox() or (0, 0, size, size)
    plain_rgb = np.asarray(style.base, np.float32) * material_texture(style.texture, size, rng)[..., None]
    plain = Image.fromarray(np.clip(plain_rgb, 0, 255).astype(np.uint8))
    decorated = plain.copy()
    draw = ImageDraw.Draw(decorated)
    paint_ornament(draw, bbox, style, rng)
    if spec.object_type == "coin":
        paint_beaded_rim(draw, bbox, style, rng)
    worn = _apply_wear(decorated, plain, style, rng)
    if spec.object_type in _CHIPPABLE and style.wear > 0.3:
        _chip_edges(mask, style.wear, rng)
    return _shade(worn, bbox, spec.object_type, style.texture, rng), mask


# --- the studio --------------------------------------------------------------------------------

def _pick(rng: np.random.Generator, colours: tuple[RGB, ...]) -> np.ndarray:
    return np.asarray(colours[int(rng.integers(len(colours)))], np.float32)


def _scale_bar(bg: np.ndarray, rng: np.random.Generator) -> None:
    """The black-and-white centimetre scale museum photographers put beside an object."""
    size = bg.shape[0]
    h, seg = max(2, int(size * 0.03)), max(2, int(size * 0.045))
    y = int(size * rng.uniform(0.88, 0.94))
    x = int(size * rng.uniform(0.04, 0.5))
    for k in range(8):
        bg[y:y + h, x + k * seg:x + (k + 1) * seg] = 250.0 if k % 2 else 15.0


def background(size: int, rng: np.random.Generator) -> Image.Image:
    """Plain studio colour, a sweep (gradient) or cloth, sometimes with a scale bar."""
    yy, xx = unit_grid(size)
    kind = rng.random()
    if kind < 0.4:
        bg = _pick(rng, _STUDIO_COLOURS) * (1 + 0.06 * (smooth_noise(rng, size, 3) - 0.5))[..., None]
    elif kind < 0.75:
        top = _pick(rng, _STUDIO_COLOURS)
        bottom = top * rng.uniform(0.55, 0.95)
        ramp = (yy ** rng.uniform(0.6, 1.6))[..., None]
        bg = top * (1 - ramp) + bottom * ramp
    else:
        period, angle = rng.uniform(0.008, 0.02), rng.uniform(0, np.pi)
        weave = 0.07 * np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
        folds = 0.14 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) * 2.5
                              + 3 * smooth_noise(rng, size, 3))
        bg = _pick(rng, _CLOTH_COLOURS) * (1 + weave + folds)[..., None]
    bg = np.ascontiguousarray(bg, dtype=np.float32)
    if rng.random() < 0.2:
        _scale_bar(bg, rng)
    return Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))


def _affine(size: int, centre: tuple[float, float], angle: float, scale: float, shift: np.ndarray) -> tuple[float, ...]:
    """PIL AFFINE data mapping output pixels back to the object's frame, ``centre`` to mid-frame."""
    cos, sin = np.cos(angle), np.sin(angle)
    ox, oy = size / 2 + shift[0], size / 2 + shift[1]
    return (cos / scale, sin / scale, centre[0] - (cos * ox + sin * oy) / scale,
            -sin / scale, cos / scale, centre[1] - (-sin * ox + cos * oy) / scale)


def place(obj: Image.Image, mask: Image.Image, bg: Image.Image, object_type: str,
          rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """Rotate, scale and move the object onto the background with a soft drop shadow."""
    size = bg.size[0]
    free_rotation = object_type in ("coin", "jewellery", "tile", "fragment")
    angle = np.deg2rad(rng.uniform(0, 360) if free_rotation else rng.uniform(-12, 12))
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, size, size)
    shift = np.clip(rng.normal(0, 0.05 * size, 2), -0.1 * size, 0.1 * size)
    data = _affine(size, ((x0 + x1) / 2, (y0 + y1) / 2), angle, rng.uniform(0.62, 0.95), shift)
    obj_t = obj.transform((size, size), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
    mask_t = mask.transform((size, size), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
    dx, dy = int(size * rng.uniform(0.0, 0.03)), int(size * rng.uniform(0.01, 0.04))
    strength = rng.uniform(0.2, 0.55)
    shadow = ImageChops.offset(mask_t.filter(ImageFilter.GaussianBlur(size * 0.02)), dx, dy)
    shadow = shadow.point(lambda value: int(value * strength))
    shaded_bg = Image.composite(Image.new("RGB", bg.size, (0, 0, 0)), bg, shadow)
    return Image.composite(obj_t, shaded_bg, mask_t), mask_t


def finish(scene: Image.Image, out_size: int, rng: np.random.Generator) -> Image.Image:
    """Downsample, then lighting gradient, colour cast, lens blur and sensor noise."""
    arr = np.asarray(scene.resize((out_size, out_size), Image.Resampling.LANCZOS), np.float32)
    yy, xx = (grid - 0.5 for grid in unit_grid(out_size))
    direction = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.35) * (xx * np.cos(direction) + yy * np.sin(direction))
    arr = arr * (light[..., None] * (1 + rng.normal(0, 0.04, 3)).astype(np.float32))
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    radius = rng.uniform(0, 0.9) * out_size / 128
    if radius > 0.15:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    sigma = rng.uniform(0, 5)
    noisy = np.asarray(image, np.float32) + _gauss(rng, sigma, (out_size, out_size, 3))
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))


def render_object(spec: ObjectSpec, source_image_size: int, rng: np.random.Generator) -> RenderedObject:
    """Render one museum photo of ``spec`` at ``source_image_size`` x ``source_image_size`` pixels (RGB)."""
    if spec.object_type not in SHAPES:
        raise ConfigError(f"unknown object type {spec.object_type!r}; valid: {', '.join(SHAPES)}")
    size = source_image_size * SUPERSAMPLE
    style = sample_style(spec, rng)
    obj, mask = object_layer(spec, style, size, rng)
    scene, placed_mask = place(obj, mask, background(size, rng), spec.object_type, rng)
    image = finish(scene, source_image_size, rng)
    return RenderedObject(image=image, mask=placed_mask.resize((source_image_size, source_image_size), Image.Resampling.BOX))
