"""Field-style training augmentation: museum photos given a phone photo's nuisances, by torchvision.

Off by default (``"none"``): the paper-exact recipe and every earlier run see exactly the images they
always saw. The ``"phone"`` preset stands in for the nuisances of a hand-held phone photo
(``docs/field_conditions.md``), each with a stock ``torchvision.transforms.v2`` transform:

* framing: ``RandomResizedCrop`` (a closer, off-centre shot of a 4:3 frame squashed to the square
  input, as evaluation squashes a field photo), ``RandomAffine`` (tilt, the object smaller and off
  centre) and ``RandomPerspective`` (keystone);
* occlusion: ``RandomErasing`` with a mid-grey rectangle, which the later colour, blur and noise steps
  then treat like the rest of the photo;
* light: ``ColorJitter`` (mostly darker, less contrast and saturation; hue jitter stands in for a
  white-balance cast, torchvision has no per-channel gain);
* camera: ``GaussianBlur`` (defocus and, roughly, hand shake), ``GaussianNoise`` (sensor noise) and
  ``JPEG`` (a messaging app's re-compression).

A share ``probability`` of the training images gets the whole pipeline (each step is itself random);
the rest stay museum photos, to limit the cost in museum accuracy (on the demo still 2-5 points at
0.5, over three seeds). It runs on the uint8 crop after the
random crop and flip and before normalisation, on training images only.

Reproducible: torchvision draws from torch's global generator, so each image's pipeline runs under
``torch.random.fork_rng`` seeded from the image's own generator, which depends on (run seed, epoch,
index) alone; the images are the same for any number of loader workers, and the caller's torch
random state is left as it was.

Caveats: the preset imitates the demo's synthetic field photos with generic transforms; clutter (other
things on the table) and real white-balance casts are not reproduced, and on the demo it does not
close the field gap (``benchmarks/results/field_augment_demo.md``). ``v2.JPEG`` encodes with
torchvision's own codec, which torchvision 0.29 (pinned) deprecates in favour of TorchCodec: a
torchvision upgrade that removes it needs another JPEG step here (a test would fail, not silently skip).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torchvision.transforms import v2

from mocar.errors import ConfigError

NONE = "none"
#: The mid-grey the occluding rectangle starts as (0 after BiT's normalisation: "no information").
OCCLUSION_GREY = 127
#: Strongest blur, as a share of the image side (the demo's field photos: about 0.3-1.2 %).
MAX_BLUR_SHARE = 0.015


def phone_photo(size: int) -> v2.Transform:
    """The ``"phone"`` preset for ``size`` x ``size`` uint8 CHW images (see the module docstring)."""
    max_sigma = MAX_BLUR_SHARE * size
    kernel = 2 * math.ceil(2 * max_sigma) + 1  # covers +-2 sigma of the strongest blur
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomApply([v2.RandomAffine(degrees=40, translate=(0.1, 0.1), scale=(0.6, 1.0),
                                        interpolation=v2.InterpolationMode.BILINEAR)], p=0.7),
        v2.RandomPerspective(distortion_scale=0.3, p=0.5),
        v2.RandomErasing(p=0.5, scale=(0.02, 0.15), value=OCCLUSION_GREY),
        v2.ColorJitter(brightness=(0.5, 1.2), contrast=(0.6, 1.2), saturation=(0.6, 1.3), hue=0.06),
        v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.3, max_sigma))], p=0.6),
        v2.RandomApply([v2.GaussianNoise(sigma=0.03)], p=0.5),
        v2.JPEG(quality=(30, 90)),
    ])


#: Preset name -> its pipeline for a given image side. ``mocar.train.config.FIELD_AUGMENTS`` copies
#: the names (with ``"none"``) so the command line need not import torchvision.
PRESETS: dict[str, Callable[[int], v2.Transform]] = {"phone": phone_photo}
FIELD_AUGMENTS: tuple[str, ...] = (NONE, *PRESETS)


class FieldAugment:
    """A torchvision pipeline applied to a share ``probability`` of images, reproducibly per image."""

    def __init__(self, transform: v2.Transform, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ConfigError(f"field_augment_p must be in [0, 1], got {probability}")
        self.transform, self.probability = transform, probability

    def __call__(self, array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """HWC uint8 -> HWC uint8; the randomness comes from ``rng`` only."""
        if rng.random() >= self.probability:
            return array
        seed = int(rng.integers(2**63))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # a copy: the preloaded cache is shared with the other workers, and decoded images are read-only
            out = self.transform(torch.from_numpy(np.array(array)).permute(2, 0, 1))
        return out.permute(1, 2, 0).numpy()


def field_augmentation(preset: str, probability: float, size: int) -> FieldAugment | None:
    """The training images' field augmentation for ``size`` px crops; None for ``"none"`` (paper-exact).

    Raises:
        ConfigError: On an unknown preset or a probability outside [0, 1].
    """
    if preset not in FIELD_AUGMENTS:
        raise ConfigError(f"field_augment {preset!r}: expected one of {', '.join(FIELD_AUGMENTS)}")
    return None if preset == NONE else FieldAugment(PRESETS[preset](size), probability)
