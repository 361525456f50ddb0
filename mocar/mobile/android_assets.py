"""Copy models and the reference index into an Android app's assets, in phone-readable form.

``mocar export --android-assets android_demo/app/src/main/assets`` (or
:func:`write_android_assets`) writes:

* the chosen ``.tflite`` files, unchanged (default: ``float32`` and ``int8`` ``dynamic_range``).
  Each already carries its own metadata (input size, mean/std, labels, calibration; see
  :mod:`mocar.runtime.tflite_file`), so no second copy of labels or preprocessing is written;
* ``reference_index/``: the reference index (:mod:`mocar.field.index`) without numpy or parquet,
  which a phone cannot read:

  - ``index.json``: the desktop index's own description, copied byte for byte (fingerprint, OOD
    threshold, search recipe);
  - ``codes.bin``, ``scales.bin``, ``offsets.bin``, ``components.bin`` and, for an index with
    re-ranking, ``rerank.bin``, ``rerank_scales.bin``, ``rerank_offsets.bin``: raw little-endian
    arrays; ``layout.json`` gives each one's file, dtype and shape (schema ``mocar-android-index``)
    and ``rerank_candidates``;
  - ``objects.json``: one record per reference, in code order (``id, collection, dating,
    year_begin, year_end, year, epoch_label, thumb_offset, thumb_size``);
  - ``thumbnails.bin``: unchanged (JPEGs back to back).

The Java core (``android_demo/core``, ``org.mocar.core.ReferenceIndex``) reads this folder. Every
file is written atomically; inputs are never modified.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import InputError
from mocar.export.to_tflite import tflite_file_name
from mocar.field.errors import ModelMismatchError
from mocar.field.index import ARRAY_KEYS, FILES, ReferenceIndex
from mocar.runtime.tflite_file import read_tflite_metadata
from mocar.utils.io import atomic_write_bytes, atomic_write_text

LAYOUT_SCHEMA = "mocar-android-index"
LAYOUT_VERSION = 1
INDEX_FOLDER = "reference_index"
DEFAULT_FLAVOURS = ("float32", "dynamic_range")
MODEL_STEM = "model"  # mocar.export.run names every file model_<precision>[...]
_ARRAY_FILES = {key: f"{key}.bin" for key in ARRAY_KEYS}  # every array an index may hold, one raw file each


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def little_endian(array: np.ndarray) -> bytes:
    """The array's raw bytes in little-endian order (what the phone's reader expects)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def convert_index(index_dir: Path, out_dir: Path) -> list[Path]:
    """Writes the phone-readable copy of a reference index (see the module docstring).

    Args:
        index_dir: An index folder written by ``mocar index build``.
        out_dir: The folder to write (usually ``<assets>/reference_index``).

    Returns:
        The files written.

    Raises:
        ReferenceIndexError: If a file of the index is missing or inconsistent (the message names it).
    """
    index_dir, out_dir = Path(index_dir), Path(out_dir)
    index = ReferenceIndex.load(index_dir)
    written = []
    arrays = {}
    for key, name in _ARRAY_FILES.items():
        array = getattr(index, key)
        if array is None:
            continue
        atomic_write_bytes(out_dir / name, little_endian(np.asarray(array)))
        arrays[key] = {"file": name, "dtype": str(array.dtype), "shape": list(array.shape)}
        written.append(out_dir / name)
    objects = [{**index.object_record(row), "thumb_offset": int(index.objects.at[row, "thumb_offset"]),
                "thumb_size": int(index.objects.at[row, "thumb_size"])} for row in range(len(index))]
    # Compact: one record per reference adds up (1,584 demo references: 0.3 MB).
    atomic_write_text(out_dir / "objects.json", json.dumps(objects, ensure_ascii=False, separators=(",", ":")))
    thumbs = (index.meta.get("files") or {}).get("thumbnails")
    if thumbs is not None:
        atomic_write_bytes(out_dir / FILES["thumbnails"], (index_dir / thumbs).read_bytes())
        written.append(out_dir / FILES["thumbnails"])
    atomic_write_bytes(out_dir / FILES["meta"], (index_dir / FILES["meta"]).read_bytes())
    layout = {"schema": LAYOUT_SCHEMA, "schema_version": LAYOUT_VERSION, "byte_order": "little",
              "count": len(index), "dims": int(index.codes.shape[1]), "source_dims": index.input_dims,
              "arrays": arrays, "rerank_candidates": index.rerank_candidates, "objects": "objects.json",
              "thumbnails": FILES["thumbnails"] if thumbs is not None else None, "index": FILES["meta"]}
    atomic_write_text(out_dir / "layout.json", _json_text(layout))
    return [*written, out_dir / "objects.json", out_dir / FILES["meta"], out_dir / "layout.json"]


def check_index_model(index_dir: Path, metadata: dict[Path, dict[str, Any]]) -> None:
    """Refuses an index built with another model than the files: their embeddings are not comparable.

    Args:
        index_dir: The reference index folder.
        metadata: Each model file's metadata (files without a fingerprint cannot be checked and pass).

    Raises:
        ModelMismatchError: Naming the index file and the first file of another model.
        ReferenceIndexError: If the index cannot be read.
    """
    expected = ReferenceIndex.load(index_dir).meta["model"]["fingerprint"]
    for model, meta in metadata.items():
        fingerprint = (meta.get("model") or {}).get("fingerprint")
        if fingerprint is not None and fingerprint != expected:
            raise ModelMismatchError(f"{Path(index_dir) / FILES['meta']} (for {Path(model).name})", expected, fingerprint)


def run_index_dir(run_dir: Path) -> Path | None:
    """The index ``mocar index build`` writes by default (``RUN/index``), or None when there is none."""
    index_dir = Path(run_dir) / "index"
    return index_dir if (index_dir / FILES["meta"]).is_file() else None


def _model_files(export_dir: Path, flavours: Sequence[str]) -> list[Path]:

    files = [export_dir / tflite_file_name(MODEL_STEM, flavour) for flavour in flavours]
    missing = [f for f in files if not f.is_file()]
    if missing:
        present = sorted(p.name for p in export_dir.glob("*.tflite")) or ["none"]
        raise InputError(f"{', '.join(map(str, missing))} not found; {export_dir} holds .tflite files: "
                         f"{', '.join(present)} (run `mocar export --formats tflite` or choose other flavours)")
    return files


def write_android_assets(export_dir: Path, out_dir: Path, index_dir: Path | None,
                         flavours: Sequence[str] | None = None) -> list[Path]:
    """Copies TFLite models and converts the reference index into an app's assets folder.

    Args:
        export_dir: A ``mocar export`` folder with ``model_*.tflite`` files.
        out_dir: The assets folder (e.g. ``android_demo/app/src/main/assets``).
        index_dir: The run's reference index (``mocar index build``), or None for models only.
        flavours: TFLite flavours to copy (default :data:`DEFAULT_FLAVOURS`).

    Returns:
        Every file written.

    Raises:
        InputError: If a requested model file is missing (the message lists what is there).
        TFLiteMetadataError: If a model file carries no mocar metadata.
        ModelMismatchError: If the index was built with another model than the files.
        ReferenceIndexError: If the index is missing a file or is inconsistent.
    """

    export_dir, out_dir = Path(export_dir), Path(out_dir)
    models = _model_files(export_dir, tuple(flavours or DEFAULT_FLAVOURS))
    written = []
    if index_dir is not None:
        check_index_model(Path(index_dir), {m: read_tflite_metadata(m) for m in models})
        written += convert_index(Path(index_dir), out_dir / INDEX_FOLDER)
    for model in models:
        atomic_write_bytes(out_dir / model.name, model.read_bytes())
        written.append(out_dir / model.name)
    return written
