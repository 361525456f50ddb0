"""Golden vectors: what the phone must compute, written by the code the benchmark and `mocar predict` use.

:func:`write_golden` takes an exported model file and ``count`` images of a prepared split and writes
a folder the Android core's JVM tests replay (``android_demo/core``, ``GoldenTest``):

* ``golden.json`` (schema ``mocar-golden`` v1): the model file's name, its metadata
  (:func:`mocar.runtime.metadata.read_metadata`), the input tensor's dtype/scale/zero point and one
  record per case: file names and shapes of the binaries below, the reference-search rows and
  similarities, and the answer exactly as ``mocar predict`` writes it
  (:func:`mocar.field.predict.predict_images`, without thumbnails) plus the top-5 class indices;
* per case, in ``case_NNN/``, raw little-endian arrays: ``pixels.u8`` (the decoded RGB image, H x W x
  3, :func:`mocar.data.images.load_rgb`), ``input.f32`` (the preprocessed NHWC float32 tensor,
  :func:`mocar.data.transforms.eval_transform` through :meth:`FieldModel.preprocess`),
  ``input_q.i8``/``.u8`` (integer-input files only: that tensor quantised with the file's own
  scale/zero point, :func:`mocar.runtime.tflite_file.quantize`) and ``<output>.f32`` (the file's own
  outputs through its benchmark runner, de-quantised like the benchmark does);
* ``case_000.png``: case 0's decoded pixels as PNG (the phone's decoder must give the same pixels);
* a copy of the model file (the core's metadata reader is tested on the real flatbuffer) and, with an
  index, its phone-readable copy ``reference_index/`` (:func:`mocar.mobile.android_assets.convert_index`);
* ``checks/``: small synthetic images resized by Pillow (bilinear and bicubic, up and down) and an
  RGBA image composited on white by :func:`mocar.data.images.to_rgb`, to test the resize and alpha
  rules on more shapes than the model's.

Nothing is re-implemented here: every value comes from the library functions named above.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mocar.data.dataset import PreparedData
from mocar.data.images import load_rgb, to_rgb
from mocar.data.transforms import INTERPOLATIONS
from mocar.errors import InputError
from mocar.export.to_tflite import tflite_file_name
from mocar.field.index import ReferenceIndex
from mocar.field.inference import from_file
from mocar.field.predict import predict_images
from mocar.mobile.android_assets import INDEX_FOLDER, MODEL_STEM, convert_index, little_endian, run_index_dir
from mocar.runtime.metadata import read_metadata
from mocar.runtime.tflite_file import load_interpreter, quantize, tensor_infos
from mocar.utils.io import atomic_write_bytes, atomic_write_text, json_safe, read_yaml

GOLDEN_DIR = "golden"
GOLDEN_FLAVOURS = ("float32", "dynamic_range", "full_integer_quant")  # float, fast int8, int8 I/O
SCHEMA = "mocar-golden"
SCHEMA_VERSION = 1
GOLDEN_FILE = "golden.json"
PNG_CASE = 0
# (source width, height) -> (target width, height): down, up, mixed, odd sizes and 4:3 photos.
RESIZE_CHECKS = (((7, 5), (3, 4)), ((40, 23), (32, 32)), ((13, 50), (32, 32)), ((10, 10), (25, 17)),
                 ((97, 61), (24, 24)), ((160, 120), (96, 96)), ((120, 160), (96, 96)))
RANDOM_RESIZE_CHECKS = 24  # plus this many random small shapes (both pass orders of Pillow 13 occur)
CHECK_INTERPOLATIONS = ("bilinear", "bicubic")


def training_data(run_dir: Path) -> str:
    """The prepared data folder a run was trained on (its config.yaml), or a clear error naming the file."""
    config = run_dir / "config.yaml"
    try:
        return read_yaml(config)["train"]["data"]
    except (OSError, KeyError, TypeError) as err:
        raise InputError(f"{config}: cannot read train.data ({type(err).__name__}: {err}); pass the prepared "
                         "data folder explicitly (--data)") from None


def _save_array(path: Path, array: np.ndarray) -> dict[str, Any]:
    """Writes raw little-endian bytes; returns ``{file, dtype, shape}`` relative to the golden folder."""
    array = np.ascontiguousarray(array)
    atomic_write_bytes(path, little_endian(array))
    return {"file": f"{path.parent.name}/{path.name}", "dtype": str(array.dtype), "shape": list(array.shape)}


def _input_info(model_file: Path) -> Any:
    """The TFLite input tensor (dtype, scale, zero point) as the interpreter reports it; None for other formats."""
    if model_file.suffix.lower() != ".tflite":
        return None

    return tensor_infos(load_interpreter(model_file, 1))[0]


def _write_case(out_dir: Path, name: str, image: str, model: Any, input_info: Any, index: Any, depth: int,
                answer: dict[str, Any], model_name: str) -> dict[str, Any]:
    """One case: its binaries in ``out_dir/name/`` and its golden.json record."""
    folder = out_dir / name
    pixels = np.asarray(load_rgb(image), dtype=np.uint8)
    tensor = model.preprocess([image])  # NCHW float32, the benchmark's eval_transform
    outputs = model.forward(tensor)
    record: dict[str, Any] = {"name": name, "image": Path(image).name, "width": int(pixels.shape[1]),
                              "height": int(pixels.shape[0]), "pixels": _save_array(folder / "pixels.u8", pixels)}
    nhwc = np.ascontiguousarray(tensor.transpose(0, 2, 3, 1), dtype=np.float32)
    record["input"] = _save_array(folder / "input.f32", nhwc)
    record["input_quantized"] = None
    if input_info is not None and input_info.quantized:
        suffix = "i8" if input_info.dtype == "int8" else "u8"
        record["input_quantized"] = _save_array(folder / f"input_q.{suffix}", quantize(nhwc, input_info))
    record["outputs"] = {key: _save_array(folder / f"{key}.f32", np.asarray(value, np.float32))
                         for key, value in outputs.items()}
    record["search"] = None
    if index is not None:
        rows, sims = index.search(outputs["embedding"], depth)
        record["search"] = {"rows": rows[0].tolist(), "similarities": sims[0].tolist()}
    labels = model.labels
    record["top5_indices"] = [labels.index(entry["label"]) for entry in answer["top5"]]
    record["answer"] = {**answer, "file": Path(image).name, "model": model_name}  # no machine-specific paths
    return record


def _write_checks(out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Pillow resizes and an alpha composite of synthetic images (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    resizes = []
    sizes = rng.integers(1, 48, (RANDOM_RESIZE_CHECKS, 4)).tolist()
    shapes = list(RESIZE_CHECKS) + [((w + 1, h + 1), (ow, oh)) for w, h, ow, oh in sizes]
    for number, ((width, height), (out_w, out_h)) in enumerate(shapes):
        ramp = np.linspace(0, 255, width * height * 3).reshape(height, width, 3)
        source = np.clip(ramp + rng.normal(0, 40, ramp.shape), 0, 255).astype(np.uint8)
        entry = {"source": _save_array(out_dir / "checks" / f"resize_{number}_src.u8", source), "expected": {}}
        for name in CHECK_INTERPOLATIONS:
            resized = np.asarray(Image.fromarray(source).resize((out_w, out_h), INTERPOLATIONS[name]))
            entry["expected"][name] = _save_array(out_dir / "checks" / f"resize_{number}_{name}.u8", resized)
        resizes.append(entry)
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    rgba[0, :, 3], rgba[1, :, 3] = 0, 255  # fully transparent and fully opaque rows
    composited = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))
    alpha = {"rgba": _save_array(out_dir / "checks" / "alpha_rgba.u8", rgba),
             "expected": _save_array(out_dir / "checks" / "alpha_rgb.u8", composited)}
    return {"resize": resizes, "alpha": alpha}


def write_golden(model_file: Path, data_dir: Path, out_dir: Path, count: int, index_dir: Path | None = None,
                 split: str = "test", k: int = 5) -> Path:
    """Writes the golden vectors of ``count`` images of a prepared split (see the module docstring).

    Args:
        model_file: An exported model file with mocar metadata (a ``.tflite`` for the phone).
        data_dir: The prepared data folder (``manifest.parquet``).
        out_dir: The golden folder to write.
        count: Number of images (the first ones of the split, in manifest order).
        index_dir: The model's reference index, for look-alikes and the OOD verdict.
        split: Which split's images.
        k: Number of look-alikes per answer.

    Returns:
        ``out_dir``.

    Raises:
        InputError: If ``count`` < 1 or the model file is missing.
        ModelMismatchError: If the index belongs to another model.
    """

    model_file, out_dir = Path(model_file), Path(out_dir)
    if count < 1:
        raise InputError(f"count={count}: write at least one golden case")
    if not model_file.is_file():
        raise InputError(f"{model_file} not found; export the model first (`mocar export`)")
    images = PreparedData.load(data_dir).split(split)["image"].head(count).tolist()
    answers = predict_images(images, model_file=model_file, index_dir=index_dir, k=k, thumbnails=False, threads=1)
    model = from_file(model_file, threads=1)
    index = ReferenceIndex.load(index_dir) if index_dir is not None else None
    depth = max(k, (index.meta.get("ood") or {}).get("k") or 1) if index is not None else 0
    input_info = _input_info(model_file)
    cases = [_write_case(out_dir, f"case_{number:03d}", image, model, input_info, index, depth, answer, model_file.name)
             for number, (image, answer) in enumerate(zip(images, answers))]
    return _finish(out_dir, model_file, cases, input_info, index_dir, k, split)


def _finish(out_dir: Path, model_file: Path, cases: list[dict[str, Any]], input_info: Any,
            index_dir: Path | None, k: int, split: str) -> Path:

    png = out_dir / f"{cases[PNG_CASE]['name']}.png"
    buffer = io.BytesIO()
    Image.fromarray(_read_pixels(out_dir, cases[PNG_CASE])).save(buffer, format="PNG")
    atomic_write_bytes(png, buffer.getvalue())
    atomic_write_bytes(out_dir / model_file.name, model_file.read_bytes())
    if index_dir is not None:
        convert_index(Path(index_dir), out_dir / INDEX_FOLDER)
    quantized = input_info is not None and input_info.quantized
    golden = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "model_file": model_file.name,
              "metadata": read_metadata(model_file), "split": split, "k": k,
              "input": {"dtype": input_info.dtype if input_info is not None else "float32",
                        "scale": input_info.scale if quantized else None,
                        "zero_point": input_info.zero_point if quantized else None},
              "reference_index": INDEX_FOLDER if index_dir is not None else None,
              "png": {"file": png.name, "case": cases[PNG_CASE]["name"]},
              "checks": _write_checks(out_dir), "cases": cases,
              "versions": {"numpy": np.__version__, "pillow": Image.__version__},
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_text(out_dir / GOLDEN_FILE, json.dumps(json_safe(golden), indent=1, ensure_ascii=False) + "\n")
    return out_dir


def _read_pixels(out_dir: Path, case: dict[str, Any]) -> np.ndarray:
    pixels = case["pixels"]
    return np.fromfile(out_dir / pixels["file"], dtype=np.uint8).reshape(pixels["shape"])


def write_export_goldens(export_dir: Path, count: int, run_dir: Path, data_dir: Path | None = None,
                         index_dir: Path | None = None) -> list[Path]:
    """``mocar export --golden N``: golden folders ``EXPORT/golden/<file stem>/`` for the phone's TFLite files.

    Args:
        export_dir: The export folder (``model_*.tflite``).
        count: Test images per file.
        run_dir: The run (its prepared data and ``RUN/index`` are the defaults).
        data_dir: The prepared data, if not the run's.
        index_dir: The reference index, if not ``RUN/index``.

    Returns:
        The golden folders written (float32, int8 dynamic_range and full_integer_quant, where exported).

    Raises:
        InputError: If the export folder holds none of those files.
    """

    export_dir, run_dir = Path(export_dir), Path(run_dir)
    files = [export_dir / tflite_file_name(MODEL_STEM, flavour) for flavour in GOLDEN_FLAVOURS]
    files = [f for f in files if f.is_file()]
    if not files:
        raise InputError(f"{export_dir}: no TFLite file to write golden vectors for (expected one of "
                         f"{[tflite_file_name(MODEL_STEM, f) for f in GOLDEN_FLAVOURS]}); export with --formats tflite")
    data_dir = Path(data_dir or training_data(run_dir))
    index_dir = index_dir or run_index_dir(run_dir)
    return [write_golden(f, data_dir, export_dir / GOLDEN_DIR / f.stem, count, index_dir) for f in files]
