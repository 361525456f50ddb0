"""`mocar data prepare`: from a museum export to training-ready, split, labelled data.

Pipeline: read the export (encoding/delimiter detected) -> validate every row (ids, collection,
dating, year range) -> decode every image (corrupt/missing/too small rejected, odd modes kept) ->
epoch classes per collection by Jenks natural breaks -> stratified hash splits -> write
``manifest.parquet``, ``classes.json``, ``report.json``, ``rejected.csv`` and the resolved config.

Nothing the user gave is modified: outputs go to ``--out`` only, written atomically. No row is
dropped silently: each rejected row is listed with its spreadsheet row number, id and reason.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from mocar.data.dating import parse_dating
from mocar.data.epochs import assign_epoch, build_epoch_classes
from mocar.data.export_reader import ColumnMap, read_export
from mocar.data.images import check_image
from mocar.data.splits import SPLIT_NAMES, assign_splits, parse_fractions
from mocar.errors import InputError
from mocar.utils.io import atomic_write_text, write_yaml

REJECTION_REASONS = (
    "missing_id", "duplicate_id", "empty_collection", "missing_image_path", "unparsable_dating",
    "begin_after_end", "implausible_year", "image_not_found", "image_unreadable",
    "image_too_small", "image_too_large",
)
MANIFEST_COLUMNS = (
    "id", "image", "collection", "collection_idx", "year_begin", "year_end", "year",
    "epoch_label", "epoch_idx", "split", "row", "width", "height", "mode",
)


@dataclass
class PrepareConfig:
    """Everything `mocar data prepare` needs; saved resolved as ``prepare_config.yaml``."""

    export: str
    images: str
    out: str
    columns: str | None = None
    classes: int = 50
    min_class_size: int = 20
    split: str = "80/10/10"
    seed: int = 0
    min_image_size: int = 32
    min_year: int = -12000
    max_year: int = 2100
    cache_size: int = 0
    workers: int = 2


@dataclass
class PrepareResult:
    out: Path
    manifest: pd.DataFrame
    report: dict = field(repr=False)


def _reject(rejected: list[dict], row: int, object_id: str, reason: str, detail: str = "") -> None:
    rejected.append({"row": row, "id": object_id, "reason": reason, "detail": detail})


def parse_numeric_dating(begin: str, end: str) -> tuple[int, int] | None:
    """Numeric begin/end columns; None when either is not a whole number."""
    try:
        b, e = float(begin.replace("\u2212", "-")), float(end.replace("\u2212", "-"))
    except ValueError:
        return None
    if not (b.is_integer() and e.is_integer()):
        return None
    return int(b), int(e)


def _dating_of(record: dict, columns: ColumnMap) -> tuple[tuple[int, int] | None, str]:
    if columns.uses_numeric_dating:
        raw = f"{record[columns.begin]}..{record[columns.end]}"
        return parse_numeric_dating(record[columns.begin].strip(), record[columns.end].strip()), raw
    raw = record[columns.dating]
    return parse_dating(raw), raw


def validate_rows(frame: pd.DataFrame, columns: ColumnMap, cfg: PrepareConfig) -> tuple[pd.DataFrame, list[dict]]:
    """Check ids, collections, datings and year range; return kept rows and rejections."""
    kept, rejected, seen = [], [], {}
    for record in frame.to_dict("records"):
        row, object_id = record["row"], record[columns.id].strip()
        collection, image = record[columns.collection].strip(), record[columns.image].strip()
        if not object_id:
            _reject(rejected, row, object_id, "missing_id")
            continue
        if object_id in seen:
            _reject(rejected, row, object_id, "duplicate_id", f"first seen in row {seen[object_id]}")
            continue
        seen[object_id] = row
        if not collection:
            _reject(rejected, row, object_id, "empty_collection")
            continue
        if not image:
            _reject(rejected, row, object_id, "missing_image_path")
            continue
        dating, raw = _dating_of(record, columns)
        if dating is None:
            _reject(rejected, row, object_id, "unparsable_dating", raw)
            continue
        begin, end = dating
        if begin > end:
            _reject(rejected, row, object_id, "begin_after_end", f"{raw!r} -> ({begin}, {end})")
            continue
        if begin < cfg.min_year or end > cfg.max_year:
            _reject(rejected, row, object_id, "implausible_year",
                    f"{raw!r} -> ({begin}, {end}) outside [{cfg.min_year}, {cfg.max_year}]")
            continue
        kept.append({"row": row, "id": object_id, "collection": collection, "image_rel": image,
                     "year_begin": begin, "year_end": end, "dating": raw})
    return pd.DataFrame(kept), rejected


def check_images(paths: list[str], cfg: PrepareConfig, cache_dir: Path | None, progress: bool) -> list:
    """Decode every image (in ``cfg.workers`` processes) with a progress bar."""
    check = partial(check_image, min_size=cfg.min_image_size, cache_dir=cache_dir, cache_size=cfg.cache_size)
    bar = tqdm(total=len(paths), desc="checking images", unit="img", disable=not progress)
    results = []
    if cfg.workers <= 1 or len(paths) < 64:
        for path in paths:
            results.append(check(path))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
            for result in pool.map(check, paths, chunksize=32):
                results.append(result)
                bar.update()
    bar.close()
    return results


def _apply_image_checks(rows: pd.DataFrame, cfg: PrepareConfig, out: Path, rejected: list[dict], progress: bool) -> pd.DataFrame:
    images_dir = Path(cfg.images)
    paths = [str(images_dir / rel) for rel in rows["image_rel"]]
    cache_dir = out / "cache" if cfg.cache_size > 0 else None
    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
    checks = check_images(paths, cfg, cache_dir, progress)
    rows = rows.assign(
        image=[str(Path(c.cached_path or c.path).resolve()) for c in checks],
        width=[c.width for c in checks], height=[c.height for c in checks], mode=[c.mode for c in checks],
    )
    usable = [c.reason is None for c in checks]
    for record, result in zip(rows.to_dict("records"), checks):
        if result.reason:
            _reject(rejected, record["row"], record["id"], result.reason, f"{record['image_rel']}: {result.detail}")
    return rows[usable].reset_index(drop=True)


def label_and_split(rows: pd.DataFrame, cfg: PrepareConfig) -> tuple[pd.DataFrame, dict]:
    """Add year, collection index, Jenks epoch classes and the split; return rows and classes.json."""
    rows = rows.copy()
    rows["year"] = (rows["year_begin"] + rows["year_end"]) / 2.0
    collections = sorted(rows["collection"].unique())
    rows["collection_idx"] = rows["collection"].map({c: i for i, c in enumerate(collections)})
    years = {c: rows.loc[rows["collection"] == c, "year"].to_numpy(float) for c in collections}
    epochs = build_epoch_classes(years, total_classes=cfg.classes, min_class_size=cfg.min_class_size)
    rows["epoch_idx"] = -1
    first_index = {}
    for epoch in epochs:
        first_index.setdefault(epoch.collection, epoch.index)
    for collection, breaks in _breaks_by_collection([asdict(e) for e in epochs]).items():
        local = assign_epoch(years[collection], breaks)  # same row order as the mask below
        rows.loc[rows["collection"] == collection, "epoch_idx"] = first_index[collection] + np.asarray(local)
    rows["epoch_label"] = rows["epoch_idx"].map({e.index: e.label for e in epochs})
    rows["split"] = assign_splits(rows["id"].tolist(), rows["epoch_idx"].tolist(), parse_fractions(cfg.split), cfg.seed)
    train_years = rows.loc[rows["split"] == "train", "year"].to_numpy(float)
    classes = {
        "collections": collections,
        "epochs": [asdict(e) for e in epochs],
        "year_stats": _year_stats(train_years if len(train_years) else rows["year"].to_numpy(float)),
    }
    return rows, classes


def _year_stats(years: np.ndarray) -> dict:
    """Normalisation constants for the year regression (from the training split)."""
    return {"mean": float(np.mean(years)), "std": float(np.std(years) or 1.0),
            "min": float(np.min(years)), "max": float(np.max(years))}


def build_report(cfg: PrepareConfig, table, manifest: pd.DataFrame, rejected: list[dict], classes: dict, timings: dict) -> dict:
    reasons = Counter(r["reason"] for r in rejected)
    per_class = (manifest.groupby(["epoch_label", "split"]).size().unstack(fill_value=0)
                 .reindex(columns=list(SPLIT_NAMES), fill_value=0))
    return {
        "export": str(table.path), "encoding": table.encoding, "delimiter": table.delimiter,
        "rows_in": int(len(table.frame)), "kept": int(len(manifest)), "rejected": int(len(rejected)),
        "rejected_by_reason": {r: int(reasons.get(r, 0)) for r in REJECTION_REASONS if reasons.get(r)},
        "splits": {s: int((manifest["split"] == s).sum()) for s in SPLIT_NAMES},
        "collections": {c: int((manifest["collection"] == c).sum()) for c in classes["collections"]},
        "num_classes": len(classes["epochs"]), "requested_classes": cfg.classes,
        "per_class": {label: {s: int(v) for s, v in counts.items()} for label, counts in per_class.iterrows()},
        "jenks_breaks": _breaks_by_collection(classes["epochs"]),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }


def _breaks_by_collection(epochs: list[dict]) -> dict[str, list[float]]:
    breaks: dict[str, list[float]] = {}
    for e in epochs:
        bounds = breaks.setdefault(e["collection"], [e["begin"]])
        bounds.append(e["end"])
    return breaks


def write_outputs(out: Path, cfg: PrepareConfig, manifest: pd.DataFrame, rejected: list[dict], classes: dict, report: dict) -> None:
    tmp = out / "manifest.parquet.tmp"
    manifest.to_parquet(tmp, index=False)
    os.replace(tmp, out / "manifest.parquet")
    rejected_frame = pd.DataFrame(rejected, columns=["row", "id", "reason", "detail"]).sort_values("row")
    atomic_write_text(out / "rejected.csv", rejected_frame.to_csv(index=False))
    atomic_write_text(out / "classes.json", json.dumps(classes, indent=2, ensure_ascii=False))
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    write_yaml(out / "prepare_config.yaml", asdict(cfg))


def prepare_dataset(cfg: PrepareConfig, progress: bool = True) -> PrepareResult:
    """Run the whole ingest (Python API of `mocar data prepare`)."""
    out = Path(cfg.out)
    _check_out_dir(out, cfg)
    columns = ColumnMap.parse(cfg.columns)
    timings, start = {}, time.perf_counter()
    table = read_export(Path(cfg.export), columns)
    rows, rejected = validate_rows(table.frame, columns, cfg)
    timings["read_validate"] = time.perf_counter() - start
    if rows.empty:
        raise InputError(f"{cfg.export}: no usable rows (all {len(table.frame)} rejected); see the reasons with --out")
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rows = _apply_image_checks(rows, cfg, out, rejected, progress)
    timings["images"] = time.perf_counter() - start
    if rows.empty:
        raise InputError(f"{cfg.export}: no row has a usable image under {cfg.images}")
    start = time.perf_counter()
    rows, classes = label_and_split(rows, cfg)
    timings["classes_splits"] = time.perf_counter() - start
    manifest = rows[list(MANIFEST_COLUMNS) + ["dating"]].copy()
    manifest[["width", "height"]] = manifest[["width", "height"]].astype(int)
    report = build_report(cfg, table, manifest, rejected, classes, timings)
    write_outputs(out, cfg, manifest, rejected, classes, report)
    return PrepareResult(out=out, manifest=manifest, report=report)


def _check_out_dir(out: Path, cfg: PrepareConfig) -> None:
    """Refuse output locations that could overwrite the user's inputs."""
    target = out.resolve()
    if target == Path(cfg.images).resolve():
        raise InputError(f"--out {out} is the images folder; choose a separate output folder")
    export = Path(cfg.export).resolve()
    ours = ("manifest.parquet", "rejected.csv", "classes.json", "report.json", "prepare_config.yaml")
    if export.parent == target and export.name in ours:
        raise InputError(f"--out {out} would overwrite the export file {export}; choose another folder")


def format_summary(result: PrepareResult) -> str:
    """A short human summary printed by the CLI."""
    r = result.report
    lines = [
        f"prepared {r['kept']} of {r['rows_in']} objects -> {result.out}",
        f"  splits: " + ", ".join(f"{k} {v}" for k, v in r["splits"].items()),
        f"  classes: {r['num_classes']} epoch classes over {len(r['collections'])} collections"
        + ("" if r["num_classes"] == r["requested_classes"] else f" (requested {r['requested_classes']})"),
    ]
    if r["rejected"]:
        reasons = ", ".join(f"{k} {v}" for k, v in r["rejected_by_reason"].items())
        lines.append(f"  rejected {r['rejected']} rows ({reasons}); see {result.out / 'rejected.csv'}")
    return "\n".join(lines)
