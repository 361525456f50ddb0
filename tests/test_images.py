import numpy as np
import pytest
from PIL import Image

from mocar.data.images import check_image, load_rgb


def _noise(size=(64, 48), seed=0):
    arr = np.random.default_rng(seed).integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr)


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("LA", "PNG"), ("I;16", "PNG"), ("RGB", "JPEG")])
def test_odd_modes_are_converted_not_dropped(tmp_path, mode, fmt):
    path = tmp_path / f"img.{fmt.lower()}"
    image = _noise().convert(mode) if mode != "I;16" else Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20))
    image.save(path, format=fmt)
    result = check_image(path, min_size=32)
    assert result.reason is None, result
    rgb = load_rgb(path)
    assert rgb.mode == "RGB" and rgb.size == (64, 48)
    if mode == "I;16":
        assert np.asarray(rgb).max() > 200, "16-bit images must be scaled, not clipped to white"


def test_transparent_pixels_become_white(tmp_path):
    image = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    image.save(tmp_path / "t.png")
    assert np.asarray(load_rgb(tmp_path / "t.png"))[0, 0].tolist() == [255, 255, 255]


def test_rejections(tmp_path):
    assert check_image(tmp_path / "missing.jpg").reason == "image_not_found"
    (tmp_path / "zero.jpg").write_bytes(b"")
    assert check_image(tmp_path / "zero.jpg").reason == "image_unreadable"
    _noise((200, 200)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    assert check_image(tmp_path / "trunc.jpg").reason == "image_unreadable"
    (tmp_path / "text.jpg").write_text("not an image")
    assert check_image(tmp_path / "text.jpg").reason == "image_unreadable"
    _noise((12, 12)).save(tmp_path / "tiny.png")
    small = check_image(tmp_path / "tiny.png", min_size=32)
    assert small.reason == "image_too_small" and "12x12" in small.detail


def test_large_image_cached_once(tmp_path):
    _noise((1600, 1000)).save(tmp_path / "big.jpg", quality=80)
    cache = tmp_path / "cache"
    cache.mkdir()
    result = check_image(tmp_path / "big.jpg", cache_dir=cache, cache_size=256)
    assert result.reason is None and result.cached_path is not None
    assert (result.width, result.height) == (1600, 1000), "the original size is reported"
    with Image.open(result.cached_path) as cached:
        assert max(cached.size) == 256 and cached.mode == "RGB"
    again = check_image(tmp_path / "big.jpg", cache_dir=cache, cache_size=256)
    assert again.cached_path == result.cached_path and len(list(cache.iterdir())) == 1
