"""Where does an int8 TFLite file drift from its float twin? Per-operator error on real images.

Both files are run with every intermediate tensor kept (LiteRT ``experimental_preserve_all_tensors``,
:func:`mocar.runtime.tflite_file.load_interpreter` with ``inspect=True``) on the same preprocessed
images. For each operator of the int8 file, in execution order, whose output tensor also exists
(same name, same shape) in the float file, :func:`drift` averages the relative L2 error
``||int8 - float|| / ||float||`` of its output over the images (int8 values dequantised with the
tensor's own scale and zero point). ``jump`` = that error minus the largest error among the
operator's inputs: the operator that *adds* the error, not merely passes it on. Weights and other
constants (same value for every image) are skipped; ``jump`` is None when no input of the operator
could be compared (its name differs in the float file).

Caveat: both files run on LiteRT's built-in kernels without the XNNPACK delegate, so that every
operator is its own node (the delegate would hide the intermediates); the built-in int8 kernels
may round differently from XNNPACK's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mocar.data.dataset import PreparedData
from mocar.field.inference import from_file
from mocar.runtime.tflite_file import dequantize, load_interpreter, quantize, tensor_info


def tensor_values(interpreter: Any, image_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor's value (dequantised to float64) after one run of a preserving interpreter, by name."""
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], quantize(image_nhwc, tensor_info(detail)))
    interpreter.invoke()
    values = {}
    for tensor in interpreter.get_tensor_details():
        try:
            raw = interpreter.get_tensor(tensor["index"])
        except ValueError:  # tensors without data (e.g. optional inputs)
            continue
        values[tensor["name"]] = dequantize(raw, tensor_info(tensor)).astype(np.float64)
    return values


def drift(float_file: Path, int8_file: Path, images_nhwc: np.ndarray) -> list[dict[str, Any]]:
    """One row (``op``, ``type``, ``tensor``, ``error``, ``jump``) per int8 operator whose output the float
    file also has, in execution order (see the module docstring)."""
    reference, quantized = (load_interpreter(f, threads=1, inspect=True) for f in (float_file, int8_file))
    runs = [(tensor_values(reference, image[None]), tensor_values(quantized, image[None])) for image in images_nhwc]
    names = {t["index"]: t["name"] for t in quantized.get_tensor_details()}
    varying = {n for n, v in runs[0][0].items() if len(runs) > 1 and not np.array_equal(v, runs[1][0].get(n))}

    def error(name: str) -> float | None:
        if name not in varying or any(name not in q or q[name].shape != f[name].shape for f, q in runs):
            return None
        return float(np.mean([np.linalg.norm(q[name] - f[name]) / max(np.linalg.norm(f[name]), 1e-12) for f, q in runs]))

    rows = []
    for op in quantized._get_ops_details():
        out = names[int(op["outputs"][0])]
        err = error(out)
        if err is None:
            continue
        inputs = [e for e in (error(names[int(i)]) for i in op["inputs"] if i >= 0) if e is not None]
        rows.append({"op": int(op["index"]), "type": op["op_name"], "tensor": out, "error": err,
                     "jump": err - max(inputs) if inputs else None})
    return rows


def test_split_images(data: Path, float_file: Path, count: int) -> np.ndarray:
    """The first ``count`` test-split images of a prepared folder, preprocessed as the float file's metadata
    says (NHWC, float32)."""
    manifest = PreparedData.load(data).manifest
    paths = manifest[manifest["split"] == "test"]["image"].head(count).tolist()
    return from_file(float_file, threads=1).preprocess(paths).transpose(0, 2, 3, 1)
