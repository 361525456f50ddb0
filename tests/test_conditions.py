"""Condition specs: museum, field and seeded corruptions at graded severity."""

import numpy as np
import pytest

from mocar.data.conditions import Condition, parse_conditions
from mocar.data.corruptions import CORRUPTIONS
from mocar.errors import InputError


def test_specs_expand_in_order_without_duplicates():
    conditions = parse_conditions("museum, field, fog:1-2, fog:2, all:3")
    assert [c.name for c in conditions[:4]] == ["museum", "field", "fog@1", "fog@2"]
    assert [c.corruption for c in conditions[4:]] == [c for c in CORRUPTIONS]  # fog@3 once, in its place
    assert len(parse_conditions("all")) == 5 * len(CORRUPTIONS)


@pytest.mark.parametrize("spec, message", [("rain:3", "unknown condition"), ("fog:7", "1-5"), ("fog:x", "1-5"),
                                           ("", "empty"), ("fog:3-1", "1-5")])
def test_bad_specs_name_the_item(spec, message):
    with pytest.raises(InputError, match=message):
        parse_conditions(spec)


def test_a_corrupted_photo_is_seeded_by_its_id(tmp_path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    noisy = Condition("museum", "gaussian_noise", 3)
    first, again = np.asarray(noisy.image(str(path), "obj-1")), np.asarray(noisy.image(str(path), "obj-1"))
    other = np.asarray(noisy.image(str(path), "obj-2"))
    assert (first == again).all() and (first != other).any()
    assert (np.asarray(Condition().image(str(path), "obj-1")) == np.asarray(Image.open(path))).all()
    assert Condition("field", "fog", 2).name == "field+fog@2"
