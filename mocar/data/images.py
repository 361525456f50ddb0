"""Open, check and normalise museum photos.

Museum images come in every mode PIL knows: grayscale, palette, CMYK, with alpha. They are
converted to RGB (alpha composited on white, as a photo on a light table), never dropped. Corrupt,
truncated, empty and too-small files are rejected with a reason. Very large scans can be resized once
into a cache so training never decodes a 50-megapixel file per epoch.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

# Museum scans can exceed PIL's default bomb limit (89 MP); 400 MP still fits comfortably in memory.
MAX_IMAGE_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a rejection, not a grey half-image


@dataclass(frozen=True)
class ImageCheck:
    """Result of checking one image file; ``reason`` is None when the image is usable."""

    path: str
    reason: str | None = None
    detail: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    cached_path: str | None = None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent areas become white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale scans: scale to 8 bit instead of clipping.
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file as RGB (used by the training data set and by predict)."""
    with Image.open(path) as image:
        image.load()
        return to_rgb(image)


def _cache_name(path: Path) -> str:
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest() + ".jpg"


def check_image(
    path: str | Path,
    min_size: int = 32,
    cache_dir: Path | None = None,
    cache_size: int = 0,
) -> ImageCheck:
    """Fully decode one image and decide whether it is usable.

    Args:
        path: image file.
        min_size: the shorter side must be at least this many pixels.
        cache_dir: where resized copies go (only used when ``cache_size`` > 0).
        cache_size: if > 0, images whose longer side exceeds it (or that are not RGB) are written
            once, as RGB JPEG with that longer side, into ``cache_dir``; the check returns its path.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        return ImageCheck(name, "image_not_found", "no such file")
    if path.stat().st_size == 0:
        return ImageCheck(name, "image_unreadable", "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                mode = image.mode
                if cache_size > 0 and image.format == "JPEG":
                    image.draft("RGB", (cache_size, cache_size))  # decode large JPEGs at reduced size
                image.load()
                cached = _write_cache(image, path, cache_dir, cache_size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        return ImageCheck(name, "image_too_large", str(err)[:200])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return ImageCheck(name, "image_unreadable", f"{type(err).__name__}: {err}"[:200])
    if min(width, height) < min_size:
        return ImageCheck(name, "image_too_small", f"{width}x{height} < {min_size} px", width, height, mode)
    return ImageCheck(name, None, "", width, height, mode, cached)


def _write_cache(image: Image.Image, path: Path, cache_dir: Path | None, cache_size: int) -> str | None:
    if cache_size <= 0 or cache_dir is None:
        return None
    if max(image.size) <= cache_size and image.mode == "RGB":
        return None
    target = cache_dir / _cache_name(path)
    if not target.exists():
        rgb = to_rgb(image)
        rgb.thumbnail((cache_size, cache_size), Image.Resampling.BICUBIC)
        tmp = target.with_suffix(".tmp")
        rgb.save(tmp, format="JPEG", quality=95)
        tmp.replace(target)
    return str(target)
