"""Shared fixtures: small, deterministic inputs built on the fly."""
from __future__ import annotations

import os

import pytest

# Import order matters (TOOLCHAIN_NOTES): TensorFlow followed by triton-loading torch modules, or a bare
# coremltools import, can segfault. Loading timm (and so torchvision/triton) first makes every later
# import of tensorflow/coremltools in the same process safe.
import timm  # noqa: F401,E402

# Keep tests deterministic and polite on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch
    except ImportError:  # data-only environments
        yield
        return
    torch.set_num_threads(2)
    yield


def make_tiny_museum(root, n=120, size=40, seed=0):
    """A tiny export whose collection shows in the colour and whose year shows in the brightness."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    collections = {"Antikensammlung": (200, 60, 40), "Münzkabinett": (40, 160, 60), "Vorderasiatisches Museum": (50, 60, 190)}
    spans = {"Antikensammlung": (-700, 300), "Münzkabinett": (-600, 1900), "Vorderasiatisches Museum": (-3000, -300)}
    rows = []
    for i in range(n):
        name = list(collections)[i % 3]
        lo, hi = spans[name]
        year = int(rng.integers(lo, hi))
        shade = (year - lo) / (hi - lo)
        base = np.array(collections[name], float) * (0.5 + 0.5 * shade)
        pixels = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"{i}.png")
        dating = f"{abs(year) - 10} - {abs(year) + 10} v. Chr." if year < -20 else f"{year - 10}-{year + 10}"
        if year < -20:
            dating = f"{-year + 10} - {-year - 10} v. Chr."
        rows.append((f"T-{i}", f"{i}.png", name, dating))
    export = root / "export.csv"
    pd.DataFrame(rows, columns=["object_id", "image", "collection", "dating"]).to_csv(export, index=False)
    return export, images


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory):
    """A prepared folder (manifest, classes) of 120 tiny images: 3 collections, 6 epoch classes."""
    from mocar.data.prepare import PrepareConfig, prepare_dataset

    root = tmp_path_factory.mktemp("tiny_museum")
    export, images = make_tiny_museum(root)
    cfg = PrepareConfig(export=str(export), images=str(images), out=str(root / "prepared"), classes=6,
                        min_class_size=5, min_image_size=16, workers=1)
    prepare_dataset(cfg, progress=False)
    return root / "prepared"


@pytest.fixture(scope="session")
def tiny_indexed_run(tiny_prepared, tmp_path_factory):
    """A briefly trained 32 px run, calibrated (RAPS) and indexed (PCA-16 int8, float16 re-rank of 8 candidates).

    Returns {"run", "index", "prepared"}.
    """
    from mocar.field import build_index, calibrate_run
    from mocar.train.config import TrainConfig
    from mocar.train.loop import fit

    root = tmp_path_factory.mktemp("indexed_run")
    fit(TrainConfig(data=str(tiny_prepared), out=str(root / "run"), preset="mocar_tiny", steps=8, warmup=1,
                    batch_size=16, micro_batch=16, input_size=32, resize=40, workers=0, eval_every=8, lr=0.02,
                    progress=False, precision="fp32", eval_batch_size=32))
    calibrate_run(root / "run", method="raps")
    index = build_index(root / "run", dims=16, dtype="int8", thumb_px=24, rerank="float16", rerank_candidates=8)
    return {"run": root / "run", "index": index, "prepared": tiny_prepared}


@pytest.fixture(scope="session")
def tiny_tflite_export(tiny_indexed_run, tmp_path_factory):
    """The tiny indexed run exported to TFLite.

    Files: float32, int8 dynamic_range and int8 full_integer_quant (int8 I/O); ~1-2 min (onnx2tf).
    Returns {"root", "run", "index", "export", "prepared"}.
    """
    from mocar.export.run import export_run
    from mocar.quantize.request import Int8Request

    root = tmp_path_factory.mktemp("tflite_export")
    export_run(tiny_indexed_run["run"], root / "export", formats=("tflite",), precisions=("fp32", "int8"),
               calib_images=32, progress=False, int8=Int8Request(tflite="dynamic_range,full_integer_quant"))
    return {"root": root, **tiny_indexed_run, "export": root / "export"}


@pytest.fixture(scope="session")
def tiny_onnx_export(tiny_indexed_run, tmp_path_factory):
    """The tiny indexed run exported to ONNX fp32, fp16 and static int8 (what the web app runs).

    Returns {"root", "run", "index", "export", "prepared"}.
    """
    pytest.importorskip("onnxruntime")
    from mocar.export.run import export_run

    root = tmp_path_factory.mktemp("onnx_export")
    export_run(tiny_indexed_run["run"], root / "export", formats=("onnx",), precisions=("fp32", "fp16", "int8"),
               calib_images=32, progress=False)
    return {"root": root, **tiny_indexed_run, "export": root / "export"}


@pytest.fixture(scope="session")
def tiny_golden(tiny_tflite_export):
    """Golden vectors (6 test images) of the float32 and the full-integer TFLite file, one folder each."""
    from mocar.mobile.golden import write_golden

    golden = tiny_tflite_export["root"] / "golden"
    for name in ("model_fp32.tflite", "model_int8_full_integer_quant.tflite"):
        write_golden(tiny_tflite_export["export"] / name, tiny_tflite_export["prepared"],
                     golden / name.removesuffix(".tflite"), count=6, index_dir=tiny_tflite_export["index"])
    return golden
