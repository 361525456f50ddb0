"""Calibration, selection and parity images: disjoint, deterministic, recorded by ids."""

import numpy as np
import pytest
from PIL import Image

from mocar.bench.parity_set import build_parity_set
from mocar.data.dataset import PreparedData
from mocar.data.image_roles import (ImageRoles, assign_roles, default_selection_count, image_folder_frame,
                                    parity_frame, selection_frame)
from mocar.errors import InputError
from mocar.export.reference import calibration_rows


def test_roles_are_disjoint_deterministic_and_match_the_calibration_rows(tiny_prepared):
    data = PreparedData.load(tiny_prepared)
    roles = assign_roles(data, calibration=10, selection=20)
    assert roles == assign_roles(data, calibration=10, selection=20)
    assert len(roles.calibration) == 10 and len(roles.selection) == 20
    assert not set(roles.calibration) & set(roles.selection)
    train = data.split("train")
    assert list(roles.calibration) == train["id"].astype(str).iloc[calibration_rows(len(train), 10)].tolist()
    assert set(roles.selection) <= set(train["id"].astype(str))


def test_default_selection_is_half_of_the_rest_at_most_1000():
    assert default_selection_count(1580, 200) == 690
    assert default_selection_count(5000, 200) == 1000
    assert default_selection_count(100, 200) == 0


def test_report_parity_set_leaves_out_calibration_and_selection_of_every_folder(tiny_prepared):
    data = PreparedData.load(tiny_prepared)
    first, second = assign_roles(data, 10, 20), assign_roles(data, 5, 5, seed=1)
    plan = build_parity_set(data, [first, second])
    parity_ids = set(plan.frame["id"].astype(str).iloc[plan.parity])
    assert not parity_ids & (first.reserved | second.reserved)
    assert len(parity_ids) == len(data.manifest) - len(first.reserved | second.reserved)
    test_ids = data.split("test")["id"].astype(str).tolist()
    assert plan.frame["id"].astype(str).iloc[plan.labelled].tolist() == test_ids  # labelled: the whole test split
    assert len(plan.frame) == len(parity_ids | set(test_ids))  # a test image that is a parity image is decoded once
    assert plan.describe()["parity_images"] == len(parity_ids)


def test_selection_set_and_sample(tiny_prepared):
    data = PreparedData.load(tiny_prepared)
    roles = assign_roles(data, 10, 20)
    plan = build_parity_set(data, [roles], split=None, selection=True)
    assert plan.frame["id"].astype(str).tolist() == list(roles.selection)
    assert (plan.parity == plan.labelled).all() and plan.kind == "selection"
    sample = parity_frame(data, roles.reserved, limit=7)
    assert len(sample) == 7 and sample.equals(parity_frame(data, roles.reserved, limit=7))
    with pytest.raises(InputError, match="one of"):
        build_parity_set(data, [roles], parity_images=5, selection=True)


def test_roles_file_round_trip_and_errors(tiny_prepared, tmp_path):
    data = PreparedData.load(tiny_prepared)
    roles = assign_roles(data, 10, 20)
    roles.save(tmp_path)
    assert ImageRoles.load(tmp_path) == roles
    assert ImageRoles.load(tmp_path / "nowhere") is None
    (tmp_path / "image_roles.json").write_text("{\"seed\": 0}")
    with pytest.raises(InputError, match="image_roles.json: not an image-roles file"):
        ImageRoles.load(tmp_path)
    with pytest.raises(InputError, match="not in the prepared data"):
        selection_frame(data, [ImageRoles((), ("no-such-id",))])


def test_parity_dir_lists_photos_and_refuses_an_empty_folder(tmp_path, tiny_prepared):
    (tmp_path / "sub").mkdir()
    for name in ("b.jpg", "sub/a.PNG"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a photo")
    frame = image_folder_frame(tmp_path)
    assert frame["id"].tolist() == ["b.jpg", "sub/a.PNG"]
    with pytest.raises(InputError, match="no image files"):
        image_folder_frame(_empty(tmp_path))
    data = PreparedData.load(tiny_prepared)
    with pytest.raises(InputError, match="no labels"):
        build_parity_set(data, [], split=None, parity_dir=tmp_path)


def _empty(root):
    path = root / "empty"
    path.mkdir()
    return path
