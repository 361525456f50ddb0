"""The standard corruptions hook (mocar.data.corruptions over corrupt-tta's ImageNet-C corruptions)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mocar.data.corruptions import CORRUPTIONS, IMAGENET_C, SEVERITIES, corrupt, library_version
from mocar.data.synth import plan_museum
from mocar.data.synth_render import render_object
from mocar.errors import InputError

corrupt_tta = pytest.importorskip("corrupt_tta", reason="the corruptions extra: pip install 'mocar[corruptions]'")


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    plans = plan_museum(24, seed=0, broken=False)[:6]
    return [render_object(p.spec, 64, np.random.default_rng([0, 2, p.index])).image for p in plans]


def _distance(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_uses_the_library_with_imagenet_c_names():
    assert library_version() == corrupt_tta.__version__
    assert set(IMAGENET_C.values()) <= set(corrupt_tta.corruption_dict)
    for name in ("gaussian_noise", "motion_blur", "defocus_blur", "jpeg", "brightness", "contrast", "fog", "occlusion"):
        assert name in CORRUPTIONS


def test_imagenet_c_corruption_is_the_librarys_output(photos):
    array = np.asarray(photos[0])
    np.random.seed(11)
    expected = np.clip(np.rint(corrupt_tta.corrupt(array, severity=3, corruption_name="gaussian_noise")), 0, 255)
    assert np.array_equal(corrupt(array, "gaussian_noise", 3, seed=11), expected.astype(np.uint8))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_with_a_seed_and_keeps_size_and_kind(photos, name):
    image = photos[1]
    state = np.random.get_state()
    first, again = corrupt(image, name, 4, seed=5), corrupt(image, name, 4, seed=5)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the caller's global RNG is untouched
    assert isinstance(first, Image.Image) and first.size == image.size and first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(again))
    array = corrupt(np.asarray(image), name, 4, seed=5)
    assert array.dtype == np.uint8 and np.array_equal(array, np.asarray(first))


@pytest.mark.parametrize("name", ["gaussian_noise", "motion_blur", "fog", "occlusion"])
def test_other_seed_other_pixels_where_random(photos, name):
    assert not np.array_equal(np.asarray(corrupt(photos[2], name, 3, seed=1)), np.asarray(corrupt(photos[2], name, 3, seed=2)))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_grows_the_difference_on_average(photos, name):
    mean = [np.mean([_distance(corrupt(p, name, s, seed=i), p) for i, p in enumerate(photos)]) for s in SEVERITIES]
    assert all(b >= a - 1e-6 for a, b in zip(mean, mean[1:])), mean  # ImageNet-C repeats some constants (fog 3 = 4)
    assert mean[-1] > mean[0] > 0, mean


@pytest.mark.parametrize("name, severity, message", [
    ("snow", 1, "unknown corruption 'snow'; valid: gaussian_noise"),
    ("fog", 0, "severity 0 is not valid; valid: 1, 2, 3, 4, 5"),
    ("fog", 6, "valid: 1, 2, 3, 4, 5"),
    ("fog", 2.0, "severity 2.0"),
    ("fog", True, "severity True"),
])
def test_bad_names_and_severities_are_named(photos, name, severity, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        corrupt(photos[0], name, severity)


def test_bad_image_shape_is_named():
    with pytest.raises(InputError, match="HxWx3"):
        corrupt(np.zeros((8, 8), np.uint8), "fog", 1)
