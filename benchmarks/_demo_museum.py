"""A prepared demo museum for the training benchmarks, generated once and then reused.

Both training benchmarks need a prepared data folder (``manifest.parquet`` + ``classes.json``).
:func:`demo_prepared` generates the built-in demo museum (:func:`mocar.data.synth.synthesize_museum`)
and prepares it (:func:`mocar.data.prepare.prepare_dataset`) under one folder, skipping each stage
whose output is already there, so an interrupted benchmark does not pay for it twice.

Caveat: a folder is reused as it is; if you change ``objects``/``image_size``/``seed`` use a new
folder (the stored ``museum.json`` is compared and a mismatch is an error, not a silent reuse).
"""
from __future__ import annotations

import json
from pathlib import Path

from mocar.data.prepare import PrepareConfig, format_summary, prepare_dataset
from mocar.data.synth import synthesize_museum


def demo_prepared(root: Path, objects: int, image_size: int, seed: int = 0, classes: int = 50,
                  min_class_size: int = 10) -> Path:
    """Generate (once) and prepare (once) a demo museum under ``root``; returns the prepared folder.

    Args:
        root: Folder holding ``museum/``, ``prepared/`` and ``museum.json`` (the parameters).
        objects: Number of objects of the demo museum.
        image_size: Side of its photos in pixels.
        seed: Generator and split seed.
        classes: Epoch classes requested from `prepare` (the MaxAvg-Cat target).
        min_class_size: Smallest epoch class `prepare` may create.

    Raises:
        ValueError: If ``root`` already holds a museum made with other parameters.
    """
    params = {"objects": objects, "image_size": image_size, "seed": seed, "classes": classes,
              "min_class_size": min_class_size}
    root.mkdir(parents=True, exist_ok=True)
    stamp = root / "museum.json"
    if stamp.exists() and json.loads(stamp.read_text()) != params:
        raise ValueError(f"{root} holds a demo museum made with {stamp.read_text().strip()}, not {params}; "
                         "choose another folder or delete it")
    stamp.write_text(json.dumps(params) + "\n")
    museum, prepared = root / "museum", root / "prepared"
    if not (museum / "export.csv").exists():
        print(synthesize_museum(museum, n_objects=objects, source_image_size=image_size, seed=seed, progress=False),
              flush=True)
    if not (prepared / "report.json").exists():
        result = prepare_dataset(PrepareConfig(export=str(museum / "export.csv"), images=str(museum / "images"),
                                               out=str(prepared), classes=classes, min_class_size=min_class_size,
                                               seed=seed), progress=False)
        print(format_summary(result), flush=True)
    return prepared


def read_demo_file(path: Path) -> str:
    """The text of a file ``mocar demo`` writes; a clear exit naming it when the demo has not made it yet."""
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `make demo` (or `mocar demo --out DEMO`) first")
    return path.read_text(encoding="utf-8")
