"""`mocar data prepare`: from a museum export to training-ready, split, labelled data.

Pipeline: read the export (encoding/delimiter detected) -> validate every row (ids, collection,
dating, year range) -> decode every image (corrupt/missing/too small rejected, odd modes kept) ->
epoch classes per collection by Jenks natural breaks -> stratified hash splits -> write
``manifest.parquet``, ``classes.json``, ``report.json``, ``rejected.csv`` and the resolved config.

Field photos: an export may hold, beside each object's museum photo, photos of the same object
taken in the field (a ``condition`` column, ``museum``/``field``; blank = museum). A field row needs
only the object's id and its image: it takes its labels from the object's museum row and, above all,
its split, so a field photo of a val/test object never lands in train. Epoch classes, splits and the
year statistics are computed from museum rows alone, so adding field rows changes nothing for them.
A field row whose object has no usable museum row, or that names another collection or dating, is
rejected with a reason.

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
    "image_too_small", "image_too_large", "unknown_condition", "no_museum_record",
    "conflicts_with_museum_record",
)
MANIFEST_COLUMNS = (
    "id", "image", "collection", "collection_idx", "year_begin", "year_end", "year",
    "epoch_label", "epoch_idx", "split", "row", "width", "height", "mode", "condition",
)
MUSEUM, FIELD = "museum", "field"
CONDITIONS = (MUSEUM, FIELD)
#: What a field row takes from its object's museum row.
INHERITED_COLUMNS = ("collection", "collection_idx", "year_begin", "year_end", "year", "epoch_label", "epoch_idx",
                     "split", "dating")


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


def _condition(record: dict, column: str | None) -> str:
    """The row's condition, lower-cased; blank or no column = museum (unknown values are returned as given)."""
    raw = str(record[column]).strip().lower() if column else ""
    return raw or MUSEUM


def validate_rows(frame: pd.DataFrame, columns: ColumnMap, cfg: PrepareConfig) -> tuple[pd.DataFrame, list[dict]]:
    """Check ids, collections, datings and year range; return kept rows and rejections.

    Museum rows first (ids unique among them), then field rows against the kept museum rows.
    """
    condition_column = columns.condition_column(list(frame.columns))
    records = frame.to_dict("records")
    conditions = [_condition(record, condition_column) for record in records]
    kept, rejected = _validate_museum_rows([r for r, c in zip(records, conditions) if c == MUSEUM], columns, cfg)
    others = [(r, c) for r, c in zip(records, conditions) if c != MUSEUM]
    kept += _validate_field_rows(others, {row["id"]: row for row in kept}, columns, rejected)
    return pd.DataFrame(kept), rejected


def _validate_museum_rows(records: list[dict], columns: ColumnMap, cfg: PrepareConfig) -> tuple[list[dict], list[dict]]:
    kept, rejected, seen = [], [], {}
    for record in records:
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
                     "year_begin": begin, "year_end": end, "dating": raw, "condition": MUSEUM})
    return kept, rejected


def _field_conflict(record: dict, museum: dict, columns: ColumnMap) -> str:
    """Why a field row's own labels contradict its museum row ("" when they agree or are blank)."""
    collection = record[columns.collection].strip()
    if collection and collection != museum["collection"]:
        return f"collection {collection!r} but the museum row {museum['row']} says {museum['collection']!r}"
    given = (record[columns.begin].strip() and record[columns.end].strip()) if columns.uses_numeric_dating \
        else record[columns.dating].strip()
    dating, raw = _dating_of(record, columns)
    if given and dating != (museum["year_begin"], museum["year_end"]):
        return f"dating {raw!r} but the museum row {museum['row']} says {museum['dating']!r}"
    return ""


def _validate_field_rows(records: list[tuple[dict, str]], museum: dict[str, dict], columns: ColumnMap,
                         rejected: list[dict]) -> list[dict]:
    """Field rows need an id with a kept museum row and an image; their labels come from that row."""
    kept = []
    for record, condition in records:
        row, object_id, image = record["row"], record[columns.id].strip(), record[columns.image].strip()
        if condition not in CONDITIONS:
            _reject(rejected, row, object_id, "unknown_condition", f"{condition!r}; valid: {', '.join(CONDITIONS)}")
        elif not object_id:
            _reject(rejected, row, object_id, "missing_id")
        elif not image:
            _reject(rejected, row, object_id, "missing_image_path")
        elif object_id not in museum:
            _reject(rejected, row, object_id, "no_museum_record", "no valid museum row has this id")
        elif conflict := _field_conflict(record, museum[object_id], columns):
            _reject(rejected, row, object_id, "conflicts_with_museum_record", conflict)
        else:
            record_of = museum[object_id]
            kept.append({**record_of, "row": row, "image_rel": image, "condition": condition})
    return kept


def _drop_orphans(rows: pd.DataFrame, rejected: list[dict]) -> pd.DataFrame:
    """Reject the field rows whose museum row lost its image in the image checks."""
    museum_ids = set(rows.loc[rows["condition"] == MUSEUM, "id"])
    orphan = (rows["condition"] != MUSEUM) & ~rows["id"].isin(museum_ids)
    museum_rows = {r["id"]: r["row"] for r in rejected}
    for record in rows[orphan].to_dict("records"):
        _reject(rejected, record["row"], record["id"], "no_museum_record",
                f"the museum row {museum_rows.get(record['id'], '?')} was rejected for its image")
    return rows[~orphan].reset_index(drop=True)


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
    """Add year, collection index, Jenks epoch classes and the split; return rows and classes.json.

    Classes, splits and year statistics come from the museum rows; field rows inherit their object's.
    """
    is_museum = rows["condition"] == MUSEUM
    museum, classes = _label_museum_rows(rows[is_museum], cfg)
    field = rows[~is_museum].drop(columns=[c for c in INHERITED_COLUMNS if c in rows.columns])
    field = field.merge(museum[["id", *INHERITED_COLUMNS]], on="id", how="left", validate="many_to_one")
    return pd.concat([museum, field], ignore_index=True), classes


def _label_museum_rows(rows: pd.DataFrame, cfg: PrepareConfig) -> tuple[pd.DataFrame, dict]:
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
    museum = manifest[manifest["condition"] == MUSEUM]
    per_class = (museum.groupby(["epoch_label", "split"]).size().unstack(fill_value=0)
                 .reindex(columns=list(SPLIT_NAMES), fill_value=0))
    return {
        "export": str(table.path), "encoding": table.encoding, "delimiter": table.delimiter,
        "rows_in": int(len(table.frame)), "kept": int(len(manifest)), "rejected": int(len(rejected)),
        "rejected_by_reason": {r: int(reasons.get(r, 0)) for r in REJECTION_REASONS if reasons.get(r)},
        "splits": {s: int((manifest["split"] == s).sum()) for s in SPLIT_NAMES},
        "conditions": {c: {s: int(((manifest["condition"] == c) & (manifest["split"] == s)).sum())
                           for s in SPLIT_NAMES} for c in CONDITIONS if (manifest["condition"] == c).any()},
        "collections": {c: int((museum["collection"] == c).sum()) for c in classes["collections"]},
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
    rows = _drop_orphans(_apply_image_checks(rows, cfg, out, rejected, progress), rejected)
    timings["images"] = time.perf_counter() - start
    if not (rows["condition"] == MUSEUM).any():
        raise InputError(f"{cfg.export}: no museum row has a usable image under {cfg.images}")
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
