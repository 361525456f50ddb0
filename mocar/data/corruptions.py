"""Standard image corruptions at graded severity (1-5), for robustness tables like ImageNet-C's.

The corruptions are the ImageNet-C ones (Hendrycks & Dietterich, 2019) as packaged by
``corrupt-tta`` (the ``corruptions`` extra: ``pip install 'mocar[corruptions]'``), with ImageNet-C's
own severity tables; nothing here re-implements them. ImageNet-C has no occlusion, so ``occlusion`` is
torchvision's Random Erasing (a rectangle of noise) with the covered share of the image as severity.

Reproducible: ``corrupt-tta`` draws from NumPy's global generator, so :func:`corrupt` seeds it with
``seed`` and restores the caller's state afterwards; the occlusion uses a seeded ``torch.Generator``.
ImageNet-C's ``impulse_noise`` goes through scikit-image's own unseeded generator and is therefore
not offered.

Caveat: the ImageNet-C constants were set for 224 px images; on smaller images the blurs (kernel
sizes in pixels) are relatively stronger.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as tvf

from mocar.errors import InputError, MocarError

#: Our name -> the ImageNet-C corruption of ``corrupt-tta`` that provides it.
IMAGENET_C: dict[str, str] = {
    "gaussian_noise": "gaussian_noise", "shot_noise": "shot_noise", "motion_blur": "motion_blur",
    "defocus_blur": "defocus_blur", "jpeg": "jpeg_compression", "brightness": "brightness",
    "contrast": "contrast", "fog": "fog", "pixelate": "pixelate",
}
#: Share of the image area covered by the occluding rectangle, per severity 1..5.
OCCLUSION_AREA = (0.05, 0.1, 0.15, 0.25, 0.35)
CORRUPTIONS: tuple[str, ...] = (*IMAGENET_C, "occlusion")
SEVERITIES = (1, 2, 3, 4, 5)
LIBRARY = "corrupt-tta"


class MissingCorruptionLibrary(MocarError, ImportError):
    """The corruption library is not installed."""


def library_version() -> str:
    """The installed ``corrupt-tta`` version (recorded beside robustness results)."""
    return _library().__version__


def _library():
    try:
        import corrupt_tta  # heavy optional dependency (OpenCV, scikit-image): imported on first use
    except ImportError as err:
        raise MissingCorruptionLibrary(
            f"the standard corruptions need {LIBRARY}: pip install 'mocar[corruptions]' ({err})") from err
    return corrupt_tta


def check_corruption(name: str, severity: int) -> None:
    """Raise InputError naming the valid corruptions and severities when ``name``/``severity`` are not."""
    if name not in CORRUPTIONS:
        raise InputError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise InputError(f"corruption {name!r}: severity {severity!r} is not valid; valid: 1, 2, 3, 4, 5")


def _imagenet_c(array: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    library = _library()
    saved = np.random.get_state()
    try:
        np.random.seed(seed)  # corrupt-tta draws from NumPy's global generator
        out = library.corrupt(array, severity=severity, corruption_name=IMAGENET_C[name])
    finally:
        np.random.set_state(saved)
    return np.clip(np.rint(np.asarray(out, np.float64)), 0, 255).astype(np.uint8)


def _occlusion(array: np.ndarray, severity: int, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    height, width = array.shape[:2]
    area = OCCLUSION_AREA[severity - 1] * height * width
    aspect = float(np.exp(torch.empty(1).uniform_(np.log(0.5), np.log(2.0), generator=generator).item()))
    h = int(min(height, round(np.sqrt(area / aspect))))
    w = int(min(width, round(np.sqrt(area * aspect))))
    top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)
    noise = torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
    return tvf.erase(tensor, top, left, h, w, noise).permute(1, 2, 0).numpy()


def corrupt(image: Image.Image | np.ndarray, name: str, severity: int, seed: int = 0) -> Image.Image | np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1 = mild .. 5 = harsh), reproducibly for ``seed``.

    Args:
        image: an RGB PIL image or an HxWx3 uint8 array (other PIL modes are converted to RGB).
        name: one of :data:`CORRUPTIONS`.
        severity: 1..5 (ImageNet-C's severity tables; for ``occlusion`` :data:`OCCLUSION_AREA`).
        seed: same seed, same pixels; the caller's NumPy global random state is left as it was.

    Returns:
        The corrupted image, of the same kind (PIL or uint8 array) and size as ``image``.

    Raises:
        InputError: On an unknown name, a severity outside 1..5 or an array that is not HxWx3.
        MissingCorruptionLibrary: If ``corrupt-tta`` is not installed (ImageNet-C corruptions only).
    """
    check_corruption(name, severity)
    is_pil = isinstance(image, Image.Image)
    array = np.asarray(image.convert("RGB") if is_pil else image)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 2:
        raise InputError(f"corrupt: expected an HxWx3 RGB image, got an array of shape {array.shape}")
    array = array.astype(np.uint8, copy=False)
    if name == "occlusion":
        out = _occlusion(array, int(severity), int(seed))
    else:
        out = _imagenet_c(array, name, int(severity), int(seed))
    return Image.fromarray(out) if is_pil else out
