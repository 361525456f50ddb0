"""Catalogue of the built-in demo museum: collections, periods, styles, titles and dating texts.

Declarative data plus the samplers that depend only on it: an object's collection, type, material
and true year, its title, and the free-text dating a German or English museum export would show
for that year. Drawing lives in :mod:`mocar.data.synth_render`; orchestration, broken rows and file
writing in :mod:`mocar.data.synth`.

The eight collections are named after the Berlin State Museums. Their spans, dense periods and
shares are plausible, not historical statistics. Dating intervals follow the conventions of
:func:`mocar.data.dating.parse_dating` (n-th century AD = 100(n-1)+1 .. 100n, parts of a century
counted forwards in time, ``um X`` = X +- 25), so the interval recorded here for a text is the one
the parser returns for it; the true year always lies inside it.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

RGB = tuple[int, int, int]
Weighted = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Period:
    """A dense period of a collection: a Gaussian over years."""

    label: str
    mean: float
    sd: float
    weight: float


@dataclass(frozen=True)
class Drift:
    """How a collection's style moves from the start (t=0) to the end (t=1) of its span.

    Sizes are fractions of the object's height. ``hue_shift`` is in degrees, applied as
    ``hue_shift * (t - 0.5)`` to material and ink colours.
    """

    density: tuple[float, float]
    spacing: tuple[float, float]
    line_width: tuple[float, float]
    hue_shift: float
    wear: tuple[float, float]


@dataclass(frozen=True)
class Collection:
    """One collection of the demo museum and its regional style."""

    name: str
    code: str
    share: float
    span: tuple[int, int]
    periods: tuple[Period, ...]
    types: Weighted
    materials: Weighted
    motifs: Weighted  # in chronological order: each peaks at its position in the span
    inks: tuple[RGB | str, ...]  # likewise chronological; "relief" = the material darkened (cast, impressed)
    drift: Drift


@dataclass(frozen=True)
class Material:
    """Base colour and surface texture family of a material."""

    label: str
    rgb: RGB
    texture: str  # grain | blotch | metal | glossy | streak | weave


@dataclass(frozen=True)
class Style:
    """Per-object appearance, sampled from the collection's style at the object's year.

    Sampled in :mod:`mocar.data.synth_render` and read by its painters and by those of
    :mod:`mocar.data.synth_motifs`, so it is declared here, below both.
    """

    base: RGB
    texture: str
    inks: tuple[RGB, ...]
    relief: bool
    motifs: tuple[str, str]
    density: float
    spacing: float
    line_width: float
    wear: float
    patina: RGB


MATERIALS: dict[str, Material] = {
    "terracotta": Material("Terrakotta", (186, 104, 62), "grain"),
    "black_glaze": Material("schwarzgefirnisste Keramik", (46, 38, 34), "glossy"),
    "clay": Material("Ton", (160, 134, 104), "grain"),
    "limestone": Material("Kalkstein", (212, 198, 168), "blotch"),
    "marble": Material("Marmor", (228, 224, 214), "blotch"),
    "basalt": Material("Basalt", (74, 72, 74), "grain"),
    "flint": Material("Feuerstein", (112, 100, 88), "blotch"),
    "bronze": Material("Bronze", (150, 108, 56), "metal"),
    "gold": Material("Gold", (214, 172, 62), "metal"),
    "silver": Material("Silber", (186, 186, 190), "metal"),
    "faience": Material("Fayence", (62, 156, 150), "glossy"),
    "glaze_white": Material("glasierte Keramik", (232, 230, 218), "glossy"),
    "turquoise_glaze": Material("türkis glasierte Keramik", (56, 160, 178), "glossy"),
    "jade": Material("Jade", (112, 150, 108), "glossy"),
    "lacquer": Material("Lack", (146, 36, 28), "glossy"),
    "wood": Material("Holz", (124, 84, 48), "streak"),
    "bone": Material("Knochen", (222, 212, 186), "grain"),
    "textile": Material("Textil", (176, 146, 104), "weave"),
}

TYPE_LABELS: dict[str, str] = {
    "vessel": "Gefäß", "coin": "Münze", "figurine": "Figur", "tablet": "Tafel", "fragment": "Fragment",
    "jewellery": "Schmuck", "mask": "Maske", "tile": "Fliese", "tool": "Gerät",
}

TYPE_MATERIALS: dict[str, tuple[str, ...]] = {
    "vessel": ("terracotta", "black_glaze", "clay", "faience", "glaze_white", "turquoise_glaze", "bronze",
               "silver", "gold", "limestone", "wood", "lacquer", "jade"),
    "coin": ("bronze", "silver", "gold"),
    "figurine": ("terracotta", "bronze", "limestone", "marble", "wood", "faience", "jade", "bone", "clay",
                 "gold", "basalt"),
    "tablet": ("clay", "limestone", "basalt", "marble", "wood", "turquoise_glaze", "glaze_white", "textile"),
    "fragment": ("terracotta", "black_glaze", "clay", "limestone", "marble", "basalt", "glaze_white",
                 "turquoise_glaze", "textile", "faience", "lacquer"),
    "jewellery": ("gold", "silver", "bronze", "faience", "jade", "bone"),
    "mask": ("wood", "gold", "limestone", "terracotta", "lacquer"),
    "tile": ("glaze_white", "turquoise_glaze", "terracotta", "faience"),
    "tool": ("flint", "bronze", "bone", "wood", "basalt"),
}

MOTIF_LABELS: dict[str, str] = {
    "meander": "Mäander", "zigzag": "Zickzackband", "hatch": "Schraffur", "dots": "Punktreihen",
    "triangles": "Dreiecksfries", "chevrons": "Winkelband", "glyphs": "Zeichenreihen",
    "wedges": "Keilzeichen", "spirals": "Spiralranken", "stars": "Sternmuster", "waves": "Wellenmuster",
    "legend": "Umschrift",
}

_TITLE_NOUNS: dict[str, tuple[str, ...]] = {
    "vessel": ("Amphora", "Krug", "Schale", "Kanne", "Flasche", "Becher", "Vase", "Topf"),
    "coin": ("Münze", "Tetradrachme", "Denar", "Dirham", "Pfennig", "Taler", "Medaille"),
    "figurine": ("Statuette", "Figur einer Frau", "Figur eines Mannes", "Tierfigur", "Votivfigur"),
    "tablet": ("Tafel", "Stele", "Reliefplatte", "Tontafel", "Bildtafel"),
    "fragment": ("Scherbe", "Fragment eines Gefäßes", "Bruchstück", "Randscherbe"),
    "jewellery": ("Halskette", "Anhänger", "Armreif", "Ring", "Perlenkette"),
    "mask": ("Maske", "Tanzmaske", "Gesichtsmaske"),
    "tile": ("Fliese", "Wandfliese", "Ziegel"),
    "tool": ("Klinge", "Beil", "Messer", "Spitze"),
}


def _periods(*rows: tuple[str, float, float, float]) -> tuple[Period, ...]:
    return tuple(Period(*row) for row in rows)


COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        "Antikensammlung", "ANT", 0.16, (-700, 300),
        _periods(("archaisch", -560, 50, 0.2), ("klassisch", -420, 40, 0.3), ("hellenistisch", -200, 60, 0.25),
                 ("römisch", 120, 70, 0.25)),
        (("vessel", 0.4), ("figurine", 0.15), ("fragment", 0.15), ("coin", 0.1), ("jewellery", 0.1),
         ("tablet", 0.1)),
        (("terracotta", 0.35), ("black_glaze", 0.2), ("marble", 0.15), ("bronze", 0.15), ("gold", 0.05),
         ("silver", 0.1)),
        (("triangles", 0.15), ("meander", 0.4), ("dots", 0.13), ("spirals", 0.17), ("legend", 0.15)),
        ((28, 22, 20), (70, 40, 24), (184, 82, 40), (232, 226, 210)),
        Drift((0.35, 0.8), (0.16, 0.09), (0.016, 0.008), 30.0, (0.7, 0.25)),
    ),
    Collection(
        "Ägyptisches Museum und Papyrussammlung", "AEM", 0.14, (-2700, 600),
        _periods(("Altes Reich", -2450, 120, 0.15), ("Mittleres Reich", -1900, 80, 0.15),
                 ("Neues Reich", -1350, 110, 0.35), ("Spätzeit", -600, 100, 0.2),
                 ("ptolemäisch-römisch", 50, 150, 0.15)),
        (("figurine", 0.25), ("tablet", 0.15), ("vessel", 0.2), ("jewellery", 0.15), ("mask", 0.1),
         ("fragment", 0.15)),
        (("limestone", 0.3), ("faience", 0.2), ("wood", 0.15), ("gold", 0.1), ("terracotta", 0.1),
         ("basalt", 0.1), ("bronze", 0.05)),
        (("zigzag", 0.1), ("chevrons", 0.15), ("glyphs", 0.5), ("dots", 0.15), ("triangles", 0.1)),
        ((28, 48, 118), (24, 22, 22), (162, 58, 40), (48, 112, 80), (200, 160, 60)),
        Drift((0.25, 0.75), (0.12, 0.16), (0.011, 0.017), -30.0, (0.8, 0.2)),
    ),
    Collection(
        "Vorderasiatisches Museum", "VAM", 0.08, (-3500, -300),
        _periods(("Uruk", -3200, 120, 0.15), ("frühdynastisch", -2500, 120, 0.2),
                 ("altbabylonisch", -1800, 100, 0.25), ("neuassyrisch", -800, 80, 0.25),
                 ("neubabylonisch", -560, 60, 0.15)),
        (("tablet", 0.35), ("vessel", 0.15), ("figurine", 0.15), ("fragment", 0.15), ("tile", 0.1),
         ("jewellery", 0.1)),
        (("clay", 0.35), ("terracotta", 0.2), ("basalt", 0.15), ("turquoise_glaze", 0.1), ("bronze", 0.1),
         ("gold", 0.05), ("silver", 0.05)),
        (("hatch", 0.1), ("wedges", 0.5), ("zigzag", 0.15), ("dots", 0.1), ("stars", 0.15)),
        ("relief", "relief", (36, 76, 158), (206, 164, 58)),
        Drift((0.5, 0.85), (0.14, 0.08), (0.014, 0.009), 25.0, (0.8, 0.45)),
    ),
    Collection(
        "Museum für Vor- und Frühgeschichte", "MVF", 0.15, (-5000, 1000),
        _periods(("Neolithikum", -4300, 350, 0.2), ("Bronzezeit", -1600, 300, 0.3), ("Eisenzeit", -500, 150, 0.2),
                 ("Kaiserzeit", 300, 120, 0.15), ("Frühmittelalter", 800, 80, 0.15)),
        (("vessel", 0.3), ("fragment", 0.25), ("tool", 0.2), ("jewellery", 0.15), ("figurine", 0.1)),
        (("terracotta", 0.3), ("bronze", 0.25), ("flint", 0.15), ("bone", 0.1), ("gold", 0.1), ("clay", 0.1)),
        (("spirals", 0.15), ("hatch", 0.3), ("zigzag", 0.3), ("triangles", 0.15), ("dots", 0.1)),
        ((40, 30, 24), (226, 218, 200), "relief"),
        Drift((0.25, 0.7), (0.18, 0.10), (0.02, 0.01), 30.0, (0.85, 0.35)),
    ),
    Collection(
        "Museum für Islamische Kunst", "ISL", 0.07, (650, 1900),
        _periods(("umayyadisch-abbasidisch", 800, 80, 0.2), ("fatimidisch-seldschukisch", 1150, 80, 0.25),
                 ("mamlukisch-timuridisch", 1400, 70, 0.25), ("safawidisch-osmanisch", 1650, 80, 0.3)),
        (("tile", 0.25), ("vessel", 0.3), ("fragment", 0.2), ("coin", 0.1), ("tablet", 0.15)),
        (("glaze_white", 0.3), ("turquoise_glaze", 0.25), ("terracotta", 0.1), ("bronze", 0.1), ("silver", 0.1),
         ("gold", 0.05), ("wood", 0.1)),
        (("legend", 0.2), ("chevrons", 0.1), ("stars", 0.35), ("spirals", 0.25), ("dots", 0.1)),
        ((30, 60, 150), (48, 158, 170), (90, 50, 82), (180, 140, 60)),
        Drift((0.5, 0.9), (0.14, 0.07), (0.012, 0.006), -40.0, (0.35, 0.1)),
    ),
    Collection(
        "Münzkabinett", "MK", 0.17, (-600, 1900),
        _periods(("griechisch", -350, 100, 0.25), ("römisch", 150, 120, 0.3), ("mittelalterlich", 1200, 120, 0.2),
                 ("neuzeitlich", 1750, 80, 0.25)),
        (("coin", 0.85), ("tablet", 0.1), ("jewellery", 0.05)),
        (("silver", 0.4), ("bronze", 0.35), ("gold", 0.2), ("marble", 0.05)),
        (("dots", 0.3), ("meander", 0.1), ("legend", 0.4), ("stars", 0.1), ("waves", 0.1)),
        ("relief", "relief", (60, 60, 64)),
        Drift((0.4, 0.8), (0.15, 0.09), (0.015, 0.008), 20.0, (0.7, 0.1)),
    ),
    Collection(
        "Museum für Asiatische Kunst", "ASI", 0.09, (-1500, 1900),
        _periods(("Shang-Zhou", -1100, 200, 0.15), ("Han", 0, 150, 0.15), ("Tang", 750, 80, 0.2),
                 ("Song-Ming", 1350, 140, 0.25), ("Qing-Edo", 1750, 80, 0.25)),
        (("vessel", 0.4), ("figurine", 0.2), ("tablet", 0.1), ("mask", 0.1), ("coin", 0.1), ("jewellery", 0.1)),
        (("glaze_white", 0.3), ("jade", 0.15), ("bronze", 0.2), ("lacquer", 0.15), ("wood", 0.1), ("gold", 0.05),
         ("limestone", 0.05)),
        (("meander", 0.15), ("hatch", 0.1), ("spirals", 0.3), ("waves", 0.35), ("dots", 0.1)),
        ((36, 58, 150), (110, 150, 120), (170, 40, 30), (26, 24, 24)),
        Drift((0.3, 0.75), (0.15, 0.08), (0.014, 0.007), -30.0, (0.6, 0.15)),
    ),
    Collection(
        "Ethnologisches Museum", "EM", 0.14, (1200, 1950),
        _periods(("vorkolonial", 1450, 120, 0.15), ("18. Jh.", 1750, 60, 0.2), ("Kolonialzeit", 1880, 30, 0.45),
                 ("frühes 20. Jh.", 1920, 15, 0.2)),
        (("mask", 0.25), ("figurine", 0.25), ("vessel", 0.15), ("tool", 0.15), ("jewellery", 0.1), ("tablet", 0.1)),
        (("wood", 0.35), ("textile", 0.15), ("terracotta", 0.15), ("bone", 0.1), ("gold", 0.05), ("bronze", 0.1),
         ("flint", 0.1)),
        (("hatch", 0.05), ("zigzag", 0.15), ("triangles", 0.35), ("chevrons", 0.25), ("dots", 0.2)),
        ((170, 60, 30), (24, 22, 20), (236, 230, 218), (200, 150, 60)),
        Drift((0.3, 0.8), (0.16, 0.09), (0.02, 0.011), 25.0, (0.6, 0.1)),
    ),
)
COLLECTION_BY_CODE: dict[str, Collection] = {c.code: c for c in COLLECTIONS}


# --- sampling an object ------------------------------------------------------------------------

def choose(rng: np.random.Generator, weighted: Weighted) -> str:
    """Draw one key of ``(key, weight)`` pairs."""
    weights = np.array([w for _, w in weighted], dtype=float)
    return weighted[int(rng.choice(len(weighted), p=weights / weights.sum()))][0]


def sample_year(rng: np.random.Generator, collection: Collection) -> int:
    """A year from the collection's mixture of periods, inside its span; never year 0."""
    lo, hi = collection.span
    weights = np.array([p.weight for p in collection.periods])
    for _ in range(20):  # rejection keeps the period shapes; the span edges are soft limits anyway
        period = collection.periods[int(rng.choice(len(weights), p=weights / weights.sum()))]
        year = int(round(rng.normal(period.mean, period.sd)))
        if lo <= year <= hi:
            break
    year = int(np.clip(year, lo, hi))
    return year if year != 0 else 1


def sample_material(rng: np.random.Generator, collection: Collection, object_type: str) -> str:
    """A material the collection uses that suits the object type (else the type's usual one)."""
    allowed = TYPE_MATERIALS[object_type]
    options = tuple((m, w) for m, w in collection.materials if m in allowed)
    return choose(rng, options) if options else allowed[0]


def make_title(rng: np.random.Generator, object_type: str, material: str, motif: str) -> str:
    """A German catalogue title such as ``Amphora mit Mäander, Terrakotta``."""
    noun = _TITLE_NOUNS[object_type][int(rng.integers(len(_TITLE_NOUNS[object_type])))]
    if rng.random() < 0.6:
        return f"{noun} mit {MOTIF_LABELS[motif]}, {MATERIALS[material].label}"
    return f"{noun} ({MATERIALS[material].label})"


#: How far (as a share of the span) a motif or ink stays in fashion around its peak.
FASHION_WIDTH = 0.3


def fashion_weights(base: np.ndarray, t: float) -> np.ndarray:
    """Re-weight chronologically ordered options so those in fashion at ``t`` (0..1) dominate.

    Option ``i`` of ``k`` peaks at ``t = i / (k - 1)``; its weight falls off as a Gaussian of
    width :data:`FASHION_WIDTH`. Returns probabilities.
    """
    peaks = np.linspace(0.0, 1.0, len(base)) if len(base) > 1 else np.zeros(1)
    weights = np.asarray(base, dtype=float) * np.exp(-(((t - peaks) / FASHION_WIDTH) ** 2))
    return weights / weights.sum()


def sample_motif(rng: np.random.Generator, collection: Collection, year: int) -> str:
    """The collection's motifs are a chronology: draw one in fashion at ``year``."""
    p = fashion_weights(np.array([w for _, w in collection.motifs]), relative_time(collection, year))
    return collection.motifs[int(rng.choice(len(p), p=p))][0]


def relative_time(collection: Collection, year: int) -> float:
    """Position of ``year`` in the collection's span, 0 (earliest) .. 1 (latest)."""
    lo, hi = collection.span
    return float(np.clip((year - lo) / (hi - lo), 0.0, 1.0))


def shift_hue(rgb: RGB, degrees: float) -> RGB:
    """Rotate the hue of an RGB colour."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + degrees / 360) % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))
