"""Field-style training augmentation: off = the old pipeline, on = changed, seeded, training images only."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from mocar.cli import _train_config, build_parser
from mocar.data.dataset import MuseumDataset
from mocar.data.field_augment import field_augmentation
from mocar.data.transforms import DataConfig, random_crop_flip, to_normalized_tensor
from mocar.errors import ConfigError
from mocar.train.checkpoint import load_checkpoint
from mocar.train.config import TrainConfig
from mocar.train.loop import Trainer, fit, resume_config
from mocar.utils.io import read_yaml

CFG = DataConfig(input_size=24, resize=28)


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    """Four 28 px photos with structure (a bright square on noise), so geometry and blur show."""
    root = tmp_path_factory.mktemp("augment_images")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        pixels = rng.integers(0, 120, (28, 28, 3), dtype=np.uint8)
        pixels[6:20, 8:22] = (220, 180 - 30 * i, 60)
        Image.fromarray(pixels).save(root / f"{i}.png")
        rows.append({"image": str(root / f"{i}.png"), "epoch_idx": i % 2, "collection_idx": 0, "year": 100.0 * i})
    return pd.DataFrame(rows)


def _images(dataset, epoch=0):
    return torch.stack([dataset[(i, epoch)][0] for i in range(len(dataset))])


def _train_set(frame, seed=3, preset="none", p=1.0):
    return MuseumDataset(frame, CFG, train=True, seed=seed, field_augment=field_augmentation(preset, p, CFG.input_size))


def test_off_by_default_and_off_is_the_unchanged_crop_and_flip(frame):
    assert (TrainConfig().field_augment, field_augmentation("none", 0.5, 24)) == ("none", None)
    dataset = MuseumDataset(frame, CFG, train=True, seed=3)
    assert dataset.field_augment is None
    for index in range(len(frame)):  # the pipeline as it was before field augmentation existed
        rng = np.random.default_rng((3, 1, index))
        expected = to_normalized_tensor(random_crop_flip(dataset.cache[index], CFG.input_size, rng), CFG)
        assert torch.equal(dataset[(index, 1)][0], expected)
    assert torch.equal(_images(dataset, 1), _images(_train_set(frame), 1))


def test_phone_changes_training_images_and_keeps_their_form(frame):
    plain, phone = _images(_train_set(frame)), _images(_train_set(frame, preset="phone"))
    assert phone.shape == plain.shape == (4, 3, 24, 24) and phone.dtype == torch.float32
    assert phone.min() >= -1.0 and phone.max() <= 1.0  # still normalised uint8 pixels
    assert all(not torch.equal(a, b) for a, b in zip(phone, plain))
    assert (phone - plain).abs().mean() > 0.05
    never = _images(_train_set(frame, preset="phone", p=0.0))
    assert torch.equal(never, plain)  # p = 0: the crop and flip only, drawn as without augmentation


def test_same_seed_same_images_and_the_callers_random_state_is_untouched(frame):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = _images(_train_set(frame, preset="phone"))
    assert torch.equal(torch.rand(3), expected_next)
    assert torch.equal(first, _images(_train_set(frame, preset="phone")))
    assert not torch.equal(first, _images(_train_set(frame, seed=4, preset="phone")))
    assert not torch.equal(first, _images(_train_set(frame, preset="phone"), epoch=1))


def test_loader_workers_see_the_same_augmented_images(frame):
    dataset = _train_set(frame, preset="phone")
    items = [(i, 0) for i in range(len(frame))]
    batches = [next(iter(DataLoader(dataset, batch_size=4, num_workers=workers, sampler=items)))[0]
               for workers in (0, 2)]
    assert torch.equal(batches[0], batches[1])


def test_unknown_preset_or_share_is_a_clear_error(frame):
    with pytest.raises(ConfigError, match=r"field_augment 'studio': expected one of none, phone"):
        TrainConfig(field_augment="studio")
    with pytest.raises(ConfigError, match=r"field_augment 'studio': expected one of none, phone"):
        field_augmentation("studio", 0.5, 24)
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match=r"field_augment_p must be in \[0, 1\]"):
            TrainConfig(field_augment="phone", field_augment_p=bad)
        with pytest.raises(ConfigError, match=r"field_augment_p must be in \[0, 1\]"):
            field_augmentation("phone", bad, 24)
    with pytest.raises(ConfigError, match="training images only"):
        MuseumDataset(frame, CFG, train=False, field_augment=field_augmentation("phone", 0.5, 24))


@pytest.mark.parametrize("command", [["train"], ["train", "lr-find"], ["distill", "--teacher", "t"]])
def test_field_augment_flags_reach_the_config(command, capsys):
    parser = build_parser()
    args = parser.parse_args([*command, "--data", "d", "--out", "o", "--field-augment", "phone",
                              "--field-augment-p", "0.25"])
    assert (args.field_augment, args.field_augment_p) == ("phone", 0.25)
    if command[0] == "train":
        assert (_train_config(args).field_augment, _train_config(args).field_augment_p) == ("phone", 0.25)
    plain = parser.parse_args([*command, "--data", "d", "--out", "o"])
    assert (plain.field_augment, plain.field_augment_p) == (None, None)  # not given: config or default stands
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--field-augment", "studio"])
    assert "invalid choice: 'studio' (choose from 'none', 'phone')" in capsys.readouterr().err


def test_the_setting_is_saved_with_the_run_and_resumed(tiny_prepared, tmp_path):
    cfg = TrainConfig(data=str(tiny_prepared), out=str(tmp_path / "run"), steps=2, warmup=1, batch_size=8,
                      micro_batch=8, input_size=32, resize=40, workers=0, eval_every=2, lr=0.02, progress=False,
                      precision="fp32", eval_batch_size=32, field_augment="phone", field_augment_p=0.75)
    run = fit(cfg)
    saved = read_yaml(run / "config.yaml")["train"]
    assert (saved["field_augment"], saved["field_augment_p"]) == ("phone", 0.75)
    assert load_checkpoint(run / "last.pt")["config"]["field_augment"] == "phone"
    assert TrainConfig.from_dict(saved) == cfg
    older = {k: v for k, v in saved.items() if not k.startswith("field_augment")}  # a run from before
    assert TrainConfig.from_dict(older).field_augment == "none"
    resumed = resume_config(run)
    assert (resumed.field_augment, resumed.field_augment_p) == ("phone", 0.75)
    train_set, val_set = Trainer(resumed).datasets()
    assert train_set.field_augment.probability == 0.75 and val_set.field_augment is None
