"""Field photos of demo-museum objects: the same object again, photographed by hand with a phone.

A museum photo (:func:`mocar.data.synth_render.render_object`) shows the object centred on a clean
studio background. A field photo of the same object shows what an investigator's phone records on a
market table or in a car boot:

* the object itself is identical: its style and object layer are drawn from the museum photo's own
  generator (same shape, ornament, wear), so the field photo carries the museum record's labels;
* a cluttered, textured surface (wooden table, cloth, newspaper-like paper) with other things on it;
* hand-held framing: any rotation for round things, a strong tilt otherwise, the object smaller or
  larger and off centre, a hard shadow, then a perspective (keystone) warp of the whole frame;
* partial occlusion by a hand (palm and fingers) or another thing lying on the object;
* low light with auto-exposure gain, a white-balance cast (tungsten, fluorescent, shade),
  vignetting and signal-dependent sensor noise;
* motion blur (hand shake) or defocus, an off-centre crop, a 4:3 frame in either orientation;
* a phone JPEG at camera resolution, then a messaging app's downscale and second, lower-quality JPEG.

Each nuisance is drawn per photo from its own generator, so the set covers mild and harsh photos.
:func:`render_field_photo` returns the final JPEG bytes and the list of nuisances applied (recorded in
``truth.csv`` by :func:`mocar.data.synth.synthesize_museum` with ``field=True``).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from mocar.data.synth_catalog import RGB
from mocar.data.synth_render import SUPERSAMPLE, ObjectSpec, material_texture, object_layer, sample_style, smooth_noise

FIELD_ASPECT = 4 / 3
_FREE_ROTATION = frozenset({"coin", "jewellery", "tile", "fragment"})
_TABLE_COLOURS: tuple[RGB, ...] = ((120, 82, 50), (150, 110, 70), (90, 60, 40), (170, 150, 120), (110, 100, 90))
_CLOTH_COLOURS: tuple[RGB, ...] = ((40, 60, 110), (150, 40, 40), (60, 90, 60), (200, 180, 140), (70, 70, 75))
_CLUTTER_COLOURS: tuple[RGB, ...] = ((200, 30, 30), (240, 200, 40), (30, 30, 30), (230, 230, 225), (40, 110, 180),
                                     (120, 160, 90), (180, 120, 60))
_SKIN_COLOURS: tuple[RGB, ...] = ((232, 190, 160), (205, 150, 115), (160, 110, 80), (110, 75, 55), (80, 55, 40))
#: Per-channel gains of the white-balance casts a phone gets wrong indoors and in shade.
_WHITE_BALANCE: dict[str, tuple[float, float, float]] = {
    "tungsten": (1.18, 1.0, 0.72), "fluorescent": (0.92, 1.08, 0.9), "shade": (0.85, 0.95, 1.18),
    "sodium": (1.25, 0.98, 0.6),
}


@dataclass(frozen=True)
class FieldPhoto:
    """A finished field photo: the JPEG file's bytes, its size and the nuisances drawn into it."""

    data: bytes
    size: tuple[int, int]
    nuisances: tuple[str, ...]


def field_frame_size(source_image_size: int, landscape: bool) -> tuple[int, int]:
    """(width, height) of a 4:3 field photo whose shorter side is ``source_image_size``."""
    long = int(round(source_image_size * FIELD_ASPECT))
    return (long, source_image_size) if landscape else (source_image_size, long)


def _pick(rng: np.random.Generator, colours: tuple[RGB, ...]) -> np.ndarray:
    return np.asarray(colours[int(rng.integers(len(colours)))], np.float32)


def _texture(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A material texture field cropped to a (height, width) frame."""
    return material_texture(kind, max(width, height), rng)[:height, :width]


def _surface(width: int, height: int, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """The surface the object lies on: a wooden table, a cloth or newspaper-like paper."""
    kind = ("table", "cloth", "paper")[int(rng.choice(3, p=[0.45, 0.35, 0.2]))]
    if kind == "table":
        field = _texture("streak", width, height, rng) * _texture("grain", width, height, rng)
        arr = _pick(rng, _TABLE_COLOURS) * field[..., None]
    elif kind == "cloth":
        arr = _pick(rng, _CLOTH_COLOURS) * _texture("weave", width, height, rng)[..., None]
    else:
        arr = np.full((height, width, 3), 222.0, np.float32) * _texture("grain", width, height, rng)[..., None]
        lines = (np.arange(height) // max(2, height // 60)) % 2 == 0
        arr[lines] *= rng.uniform(0.75, 0.9)  # rows of print
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), kind


def _clutter(scene: Image.Image, rng: np.random.Generator) -> None:
    """Other things on the table: boxes, bottle caps, papers, coins of no interest."""
    draw = ImageDraw.Draw(scene)
    width, height = scene.size
    for _ in range(int(rng.integers(2, 7))):
        colour = tuple(int(c) for c in _pick(rng, _CLUTTER_COLOURS) * rng.uniform(0.6, 1.0))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = width * rng.uniform(0.03, 0.14), height * rng.uniform(0.03, 0.14)
        if rng.random() < 0.5:
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
        else:
            angle = rng.uniform(0, np.pi)
            corners = [(-rx, -ry), (rx, -ry), (rx, ry), (-rx, ry)]
            draw.polygon([(cx + x * np.cos(angle) - y * np.sin(angle), cy + x * np.sin(angle) + y * np.cos(angle))
                          for x, y in corners], fill=colour)


def _place(obj: Image.Image, mask: Image.Image, scene: Image.Image, object_type: str,
           rng: np.random.Generator) -> Image.Image:
    """Put the object on the surface: any angle, off centre, a hard shadow; return its mask in the frame."""
    width, height = scene.size
    side = obj.size[0]
    angle = np.deg2rad(rng.uniform(0, 360) if object_type in _FREE_ROTATION else rng.uniform(-40, 40))
    scale = rng.uniform(0.55, 1.0) * min(width, height) / side
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, side, side)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    ox = width / 2 + rng.uniform(-0.2, 0.2) * width
    oy = height / 2 + rng.uniform(-0.2, 0.2) * height
    cos, sin = np.cos(angle), np.sin(angle)
    data = (cos / scale, sin / scale, centre[0] - (cos * ox + sin * oy) / scale,
            -sin / scale, cos / scale, centre[1] - (-sin * ox + cos * oy) / scale)
    obj_t = obj.transform(scene.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
    mask_t = mask.transform(scene.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
    dx, dy = (int(v) for v in rng.uniform(-0.06, 0.06, 2) * min(width, height))
    strength = rng.uniform(0.3, 0.7)
    shadow = ImageChops.offset(mask_t.filter(ImageFilter.GaussianBlur(min(width, height) * 0.006)), dx, dy)
    shadow = shadow.point(lambda value: int(value * strength))
    scene.paste(Image.composite(Image.new("RGB", scene.size, (0, 0, 0)), scene, shadow))
    scene.paste(Image.composite(obj_t, scene, mask_t))
    return mask_t


def _hand(scene: Image.Image, target: tuple[float, float], rng: np.random.Generator) -> None:
    """A hand reaching in from the frame's edge: a palm and three or four fingers towards ``target``."""
    width, height = scene.size
    unit = min(width, height)
    skin = tuple(int(c) for c in _pick(rng, _SKIN_COLOURS) * rng.uniform(0.85, 1.05))
    edge = int(rng.integers(4))
    start = [(rng.uniform(0, width), -0.05 * height), (width * 1.05, rng.uniform(0, height)),
             (rng.uniform(0, width), height * 1.05), (-0.05 * width, rng.uniform(0, height))][edge]
    direction = np.array(target) - np.array(start)
    direction /= max(np.linalg.norm(direction), 1e-6)
    reach = unit * rng.uniform(0.25, 0.45)
    palm = np.array(start) + direction * reach
    draw = ImageDraw.Draw(scene)
    r = unit * rng.uniform(0.12, 0.18)
    draw.line([tuple(start), tuple(palm)], fill=skin, width=int(r * 1.6))
    draw.ellipse([palm[0] - r, palm[1] - r, palm[0] + r, palm[1] + r], fill=skin)
    normal = np.array([-direction[1], direction[0]])
    finger = max(2, int(unit * rng.uniform(0.035, 0.055)))
    for k in range(int(rng.integers(3, 5))):
        base = palm + normal * r * (k - 1.5) * 0.5
        tip = base + direction * unit * rng.uniform(0.12, 0.22) + normal * rng.normal(0, 0.02) * unit
        draw.line([tuple(base), tuple(tip)], fill=skin, width=finger)
        draw.ellipse([tip[0] - finger / 2, tip[1] - finger / 2, tip[0] + finger / 2, tip[1] + finger / 2], fill=skin)


def _occlude(scene: Image.Image, mask: Image.Image, rng: np.random.Generator) -> str:
    """Cover part of the object with a hand or another thing; return which (``""`` for none)."""
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, *scene.size)
    kind = ("", "hand", "thing")[int(rng.choice(3, p=[0.35, 0.4, 0.25]))]
    # aim at a point near the object's edge so that only part of it is covered
    tx = rng.choice([x0, x1]) + rng.uniform(-0.15, 0.15) * (x1 - x0)
    ty = rng.uniform(y0, y1)
    if kind == "hand":
        _hand(scene, (float(tx), float(ty)), rng)
    elif kind == "thing":
        r = rng.uniform(0.12, 0.3) * max(x1 - x0, y1 - y0)
        colour = tuple(int(c) for c in _pick(rng, _CLUTTER_COLOURS))
        ImageDraw.Draw(scene).rounded_rectangle([tx - r, ty - r * 0.6, tx + r, ty + r * 0.6], radius=r * 0.2,
                                                fill=colour)
    return kind


def _perspective_coefficients(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """PIL PERSPECTIVE data mapping output points ``dst`` to input points ``src`` (4 x 2 each)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return tuple(float(c) for c in np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def _tilt(scene: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A hand-held keystone: each frame corner moves inwards or outwards by up to 12 % of the side."""
    width, height = scene.size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], float)
    moved = corners + rng.uniform(-0.12, 0.12, (4, 2)) * [width, height]
    data = _perspective_coefficients(corners, moved)
    return scene.transform(scene.size, Image.Transform.PERSPECTIVE, data, Image.Resampling.BILINEAR,
                           fillcolor=(20, 20, 20))


def _light(scene: Image.Image, rng: np.random.Generator) -> tuple[np.ndarray, str, float]:
    """Low light, uneven light and a white-balance cast; returns the frame, the cast and the gain."""
    width, height = scene.size
    arr = np.asarray(scene, np.float32)
    exposure = rng.uniform(0.25, 1.0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / height - 0.5, xx / width - 0.5
    vignette = 1 - rng.uniform(0.2, 0.6) * (xx ** 2 + yy ** 2) * 2
    direction = rng.uniform(0, 2 * np.pi)
    uneven = 1 + rng.uniform(0, 0.6) * (xx * np.cos(direction) + yy * np.sin(direction))
    cast = str(rng.choice(["none", *_WHITE_BALANCE]))
    gains = np.asarray(_WHITE_BALANCE.get(cast, (1.0, 1.0, 1.0)), np.float32) * (1 + rng.normal(0, 0.03, 3))
    arr = arr * (exposure * vignette * uneven)[..., None] * gains.astype(np.float32)
    # auto exposure brings a dark frame partly back up; the sensor noise is amplified with it
    gain = float(min(1 / exposure, 3.0) * rng.uniform(0.6, 0.9)) if exposure < 0.7 else 1.0
    return arr, cast, gain


def _sensor_noise(arr: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent shot noise plus read noise, then the auto-exposure gain."""
    sigma = np.sqrt(np.clip(arr, 0, 255) * rng.uniform(0.05, 0.3) + rng.uniform(1, 9))
    noisy = arr + rng.standard_normal(arr.shape, dtype=np.float32) * sigma.astype(np.float32)
    return np.clip(noisy * gain, 0, 255)


def _blur(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Hand shake (motion blur along a random direction) or missed focus (defocus), or neither."""
    kind = ("", "motion", "defocus")[int(rng.choice(3, p=[0.3, 0.4, 0.3]))]
    unit = min(image.size)
    if kind == "defocus":
        return image.filter(ImageFilter.GaussianBlur(unit * rng.uniform(0.003, 0.012))), kind
    if kind == "motion":
        length, angle = unit * rng.uniform(0.01, 0.035), rng.uniform(0, np.pi)
        steps = np.linspace(-0.5, 0.5, 9) * length
        frames = [np.asarray(image.transform(image.size, Image.Transform.AFFINE,
                                             (1, 0, s * np.cos(angle), 0, 1, s * np.sin(angle)),
                                             Image.Resampling.BILINEAR), np.float32) for s in steps]
        return Image.fromarray(np.clip(np.mean(frames, axis=0), 0, 255).astype(np.uint8)), kind
    return image, kind


def _jpeg(image: Image.Image, quality: int, subsampling: int = 2) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling, optimize=False, progressive=False)
    return buffer.getvalue()


def render_field_photo(spec: ObjectSpec, source_image_size: int, object_rng: np.random.Generator,
                       rng: np.random.Generator) -> FieldPhoto:
    """A phone photo of the object ``spec`` describes, as a messaging app delivers it.

    Args:
        spec: the object (as in the museum record).
        source_image_size: the shorter side of the photo in pixels (the longer is 4:3 of it).
        object_rng: the generator the museum photo was drawn from, in its initial state: the object's
            style and layer are drawn from it exactly as for the museum photo, so it is the same object.
        rng: the generator of everything else (scene, camera, compression).

    Returns:
        The JPEG bytes after the second compression, the photo's (width, height) and the nuisances.
    """
    side = source_image_size * SUPERSAMPLE
    obj, mask = object_layer(spec, sample_style(spec, object_rng), side, object_rng)
    out_size = field_frame_size(source_image_size, landscape=bool(rng.random() < 0.5))
    camera_size = (out_size[0] * SUPERSAMPLE, out_size[1] * SUPERSAMPLE)
    # the scene is drawn larger than the camera frame so that the off-centre crop stays inside it
    margin = rng.uniform(1.08, 1.3)
    scene, surface = _surface(round(camera_size[0] * margin), round(camera_size[1] * margin), rng)
    _clutter(scene, rng)
    placed = _place(obj, mask, scene, spec.object_type, rng)
    occluder = _occlude(scene, placed, rng)
    scene = _tilt(scene, rng)
    arr, cast, gain = _light(scene, rng)
    image, blur = _blur(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), rng)
    left = int(rng.integers(0, image.size[0] - camera_size[0] + 1))  # off-centre crop of the camera frame
    top = int(rng.integers(0, image.size[1] - camera_size[1] + 1))
    frame = image.crop((left, top, left + camera_size[0], top + camera_size[1]))
    noisy = _sensor_noise(np.asarray(frame, np.float32), gain, rng)
    phone = _jpeg(Image.fromarray(noisy.round().astype(np.uint8)), int(rng.integers(80, 96)))
    with Image.open(io.BytesIO(phone)) as decoded:
        delivered = decoded.convert("RGB").resize(out_size, Image.Resampling.BILINEAR)
    data = _jpeg(delivered, int(rng.integers(30, 71)))
    nuisances = (f"surface={surface}", f"occluder={occluder or 'none'}", f"white_balance={cast}",
                 f"gain={gain:.2f}", f"blur={blur or 'none'}")
    return FieldPhoto(data=data, size=out_size, nuisances=nuisances)
