"""Every format of the registry, end to end: export a tiny trained model, read its metadata back through the
registry, run the file through its runner and compare with the float PyTorch model.

A new format registered in :data:`mocar.runtime.registry.FORMATS` gets these tests without writing any.
"""
from __future__ import annotations

import numpy as np
import pytest

from mocar.data.dataset import PreparedData
from mocar.data.images import load_rgb
from mocar.export.run import export_run
from mocar.runtime.metadata import read_metadata
from mocar.runtime.preprocessing import Preprocessing
from mocar.runtime.registry import EXPORT_FORMATS, FORMATS, format_of, load
from mocar.runtime.runners import open_runner
from mocar.train.config import TrainConfig
from mocar.train.loop import fit

SIZE = 32


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("role", ["runner", "metadata_reader", "exporter"])
def test_every_registered_handler_imports(name, role):
    fmt = FORMATS[name]
    if getattr(fmt, role) is None:
        assert role == "exporter" and name == "torch"  # the reference file is written, not exported
        return
    assert callable(load(fmt, role))
    assert all(format_of(f"model{suffix}") is fmt for suffix in fmt.suffixes)


@pytest.fixture(scope="module")
def trained(tiny_prepared, tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    fit(TrainConfig(data=str(tiny_prepared), out=str(root / "run"), preset="mocar_tiny", steps=3, warmup=1,
                    batch_size=8, micro_batch=8, input_size=SIZE, resize=40, workers=0, eval_every=3, lr=0.02,
                    progress=False, precision="fp32"))
    test = PreparedData.load(tiny_prepared).split("test")
    return {"root": root, "run": root / "run", "images": test["image"].astype(str).tolist()[:6]}


def _inputs(metadata: dict, paths: list[str]) -> np.ndarray:
    preprocessing = Preprocessing.from_metadata(metadata)
    assert preprocessing.input_size == SIZE
    return np.stack([preprocessing.image_to_input(load_rgb(p)) for p in paths])


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORT_FORMATS)
def test_export_read_run_compare(trained, name):
    out = trained["root"] / f"export_{name}"
    manifest = export_run(trained["run"], out, formats=(name,), precisions=("fp32",), calib_images=8, progress=False)
    (entry,) = manifest["files"]
    assert entry["status"] == "ok", entry
    path = out / entry["file"]
    assert format_of(path).name == name
    metadata = read_metadata(path)
    assert metadata["format"] == name and metadata["precision"] == "fp32"
    assert metadata["input"]["layout"] == FORMATS[name].layout
    images = _inputs(metadata, trained["images"])
    reference = open_runner(out / "model.pt", threads=1).run(images)
    outputs = open_runner(path, threads=1).run(images)
    assert set(outputs) == set(reference)
    assert reference["logits"].shape[1] == len(metadata["labels"]["names"])  # labels travel inside the file
    for output, expected in reference.items():
        scale = float(np.max(np.abs(expected))) or 1.0
        np.testing.assert_allclose(outputs[output].reshape(expected.shape), expected, rtol=1e-3, atol=1e-4 * scale,
                                   err_msg=f"{name} {output}")
