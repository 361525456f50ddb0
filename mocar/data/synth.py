"""The built-in demo museum: a synthetic export with photos that behaves like the real task.

:func:`synthesize_museum` writes ``images/`` and ``export.csv`` (``object_id,image,collection,
object_type,title,dating``; dating as free text) in the shape of a museum database export, so the
demo exercises the real ingest path (`mocar data prepare`). Eight collections named after the
Berlin State Museums have unequal sizes and multi-modal year distributions; the region shows in
palette, ornament family and materials shared by all object types, and the year as a continuous
style drift (see :mod:`mocar.data.synth_render`).

Like a real export it contains mistakes (``broken=True``, about 1.5 % of rows, at least one of each
kind): missing, truncated, empty and tiny image files, a duplicate id, an empty collection, and
unparsable, reversed or implausible datings; plus valid rows whose images need converting
(grayscale, palette, CMYK, RGBA, one 3000x2000 scan). ``truth.csv`` (tests and diagnostics only)
gives every row's true year and collection and names its defect.

How hard it is (measured while tuning, 2,000 objects at 128 px, seed 0): a 4-block CNN trained from
scratch at 64 px for 15 epochs on 1,600 images reached 57 % collection accuracy on the other 400
(chance 12.5 %, majority 17 %) and a correlation of 0.59 between predicted and true year within a
collection; a linear probe on colour histograms and edge statistics reached 41 %.

With ``field=True`` the same objects are photographed a second time as phone photos in the field
(:mod:`mocar.data.synth_field`): ``images/field/``, rows appended to the export with the object's id
and labels and a ``condition`` column (``museum``/``field``). The museum images stay the same bytes.

Output is byte-identical for a seed, whatever the number of worker processes: each object is drawn
from its own generator seeded by ``(seed, object index)``, and JPEG/PNG encoder options are fixed.
Caveat: bytes are reproducible for a given Pillow/libjpeg/zlib build, not across versions.
"""
from __future__ import annotations

import csv
import io
import multiprocessing
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mocar.data.synth_catalog import (
    COLLECTIONS,
    TYPE_LABELS,
    Collection,
    choose,
    make_title,
    sample_material,
    sample_motif,
    sample_year,
)
from mocar.data.synth_datings import (
    IMPLAUSIBLE_DATINGS,
    UNPARSABLE_DATINGS,
    dating_for_year,
    reversed_dating,
)
from mocar.data.synth_field import render_field_photo
from mocar.data.synth_render import ObjectSpec, RenderedObject, render_object
from mocar.errors import InputError

EXPORT_COLUMNS = ("object_id", "image", "collection", "object_type", "title", "dating")
TRUTH_COLUMNS = ("row", "object_id", "true_year", "collection", "object_type", "dating_begin", "dating_end",
                 "broken", "image_note")
#: Each deliberate defect and the rejection reason `mocar data prepare` should give for it.
BROKEN_KINDS: dict[str, str] = {
    "missing_image": "image_not_found",
    "corrupt_image": "image_unreadable",
    "empty_image": "image_unreadable",
    "tiny_image": "image_too_small",
    "duplicate_id": "duplicate_id",
    "empty_collection": "empty_collection",
    "unparsable_dating": "unparsable_dating",
    "reversed_range": "begin_after_end",
    "implausible_year": "implausible_year",
}
#: Valid rows whose image must be converted, not dropped: kind -> (PIL mode, format).
ODD_IMAGES: dict[str, tuple[str, str]] = {
    "grayscale": ("L", "JPEG"), "palette": ("P", "PNG"), "cmyk": ("CMYK", "JPEG"), "rgba": ("RGBA", "PNG"),
    "large": ("RGB", "JPEG"),
}
BROKEN_SHARE = 0.015
PNG_SHARE = 0.1
TINY_SIZE = 12
LARGE_SIZE = (3000, 2000)
MIN_OBJECTS_WITH_BROKEN = 20
_PLAN_STREAM, _RENDER_STREAM, _FIELD_STREAM = 1, 2, 3  # separate seed streams for planning and drawing
#: The ``condition`` column of an export with field photos: museum photo or phone photo in the field.
MUSEUM, FIELD = "museum", "field"
FIELD_DIR = "field"  # field photos go to images/field/<collection>/<id>-f<k>.jpg


@dataclass(frozen=True)
class RowPlan:
    """One export row and everything needed to write its image file."""

    index: int  # object index: seeds the drawing
    object_id: str
    spec: ObjectSpec
    image: str  # relative to images/
    collection: str  # as written in the export (may be emptied by a defect)
    title: str
    dating: str
    dating_begin: int | None
    dating_end: int | None
    image_format: str = "JPEG"
    quality: int = 90
    subsampling: int = 2
    defect: str = ""
    note: str = ""


@dataclass(frozen=True)
class BrokenRow:
    """A deliberately broken export row (``row`` = spreadsheet row number; the header is row 1)."""

    row: int
    object_id: str
    kind: str
    expected_reason: str


@dataclass
class SynthSummary:
    """What :func:`synthesize_museum` wrote."""

    out_dir: Path
    images_dir: Path
    export_csv: Path
    truth_csv: Path
    n_objects: int
    n_rows: int
    source_image_size: int
    seed: int
    seconds: float
    objects_by_collection: dict[str, int]
    broken_by_kind: dict[str, int]
    odd_images_by_kind: dict[str, int]
    broken_rows: list[BrokenRow] = field(default_factory=list, repr=False)
    n_field_photos: int = 0

    @property
    def n_broken(self) -> int:
        return sum(self.broken_by_kind.values())

    def __str__(self) -> str:
        lines = [
            f"demo museum: {self.n_rows} rows ({self.n_objects} objects, {self.n_broken} deliberately broken), "
            f"{self.source_image_size} px, seed {self.seed}, {self.seconds:.1f} s",
            f"  export: {self.export_csv}", f"  images: {self.images_dir}", f"  truth:  {self.truth_csv}",
            "  collections: " + ", ".join(f"{k} {v}" for k, v in self.objects_by_collection.items()),
        ]
        if self.broken_by_kind:
            lines.append("  broken rows: " + ", ".join(f"{k} {v}" for k, v in self.broken_by_kind.items()))
        if self.odd_images_by_kind:
            lines.append("  odd images (valid): " + ", ".join(f"{k} {v}" for k, v in self.odd_images_by_kind.items()))
        if self.n_field_photos:
            lines.append(f"  field photos: {self.n_field_photos} (rows with condition={FIELD}, "
                         f"images under {self.images_dir / FIELD_DIR})")
        return "\n".join(lines)


# --- planning ------------------------------------------------------------------------------------

def _plan_object(index: int, collection: Collection, rng: np.random.Generator) -> RowPlan:
    object_type = choose(rng, collection.types)
    material = sample_material(rng, collection, object_type)
    year = sample_year(rng, collection)
    motif = sample_motif(rng, collection, year)
    dating = dating_for_year(year, rng)
    title = make_title(rng, object_type, material, motif)
    object_id = f"{collection.code}-{index:06d}"
    is_png = rng.random() < PNG_SHARE
    suffix = ".png" if is_png else (".jpeg" if rng.random() < 0.05 else ".jpg")
    return RowPlan(
        index=index, object_id=object_id, spec=ObjectSpec(collection.code, object_type, material, motif, year),
        image=f"{collection.code.lower()}/{object_id}{suffix}", collection=collection.name, title=title,
        dating=dating.text, dating_begin=dating.begin, dating_end=dating.end,
        image_format="PNG" if is_png else "JPEG", quality=int(rng.integers(40, 96)),
        subsampling=int(rng.choice([0, 2, 2])),
    )


def _sample_collection(rng: np.random.Generator) -> Collection:
    shares = np.array([c.share for c in COLLECTIONS])
    return COLLECTIONS[int(rng.choice(len(COLLECTIONS), p=shares / shares.sum()))]


def _as_jpeg(plan: RowPlan) -> RowPlan:
    stem = plan.image.rsplit(".", 1)[0]
    return replace(plan, image=f"{stem}.jpg", image_format="JPEG")


def _break(plan: RowPlan, kind: str, rng: np.random.Generator, serial: int) -> RowPlan:
    """Give a row exactly one defect of ``kind``."""
    if kind in ("corrupt_image", "tiny_image", "empty_image"):
        plan = _as_jpeg(plan)
    if kind == "empty_collection":
        plan = replace(plan, collection="")
    elif kind == "unparsable_dating":
        plan = replace(plan, dating=UNPARSABLE_DATINGS[serial % len(UNPARSABLE_DATINGS)], dating_begin=None,
                       dating_end=None)
    elif kind == "reversed_range":
        plan = replace(plan, dating=reversed_dating(plan.spec.year, rng), dating_begin=None, dating_end=None)
    elif kind == "implausible_year":
        plan = replace(plan, dating=IMPLAUSIBLE_DATINGS[serial % len(IMPLAUSIBLE_DATINGS)], dating_begin=None,
                       dating_end=None)
    return replace(plan, defect=kind)


def _odd(plan: RowPlan, kind: str) -> RowPlan:
    mode, image_format = ODD_IMAGES[kind]
    stem = plan.image.rsplit(".", 1)[0]
    return replace(plan, image=f"{stem}.{'png' if image_format == 'PNG' else 'jpg'}", image_format=image_format,
                   note=kind, quality=90 if kind == "large" else plan.quality)


def _add_duplicates(rows: list[RowPlan], originals: list[int], rng: np.random.Generator) -> list[RowPlan]:
    """Insert, somewhere after each original, a different object under the original's id."""
    rows = list(rows)
    for original in sorted(originals, reverse=True):  # inserting after the largest keeps smaller indices valid
        index = len(rows)
        extra = _plan_object(index, _sample_collection(rng), rng)
        source = rows[original]
        stem = source.image.rsplit("/", 1)[0]
        duplicate = replace(extra, object_id=source.object_id, image=f"{stem}/{source.object_id}-2.jpg",
                            image_format="JPEG", defect="duplicate_id")
        position = original + 1 + int(rng.integers(0, len(rows) - original))
        rows.insert(position, duplicate)
    return rows


def plan_museum(n_objects: int, seed: int, broken: bool) -> list[RowPlan]:
    """Every export row in order: objects, their defects and odd images (no pixels yet)."""
    rng = np.random.default_rng([seed, _PLAN_STREAM])
    rows = [_plan_object(i, _sample_collection(rng), rng) for i in range(n_objects)]
    per_broken = max(1, round(n_objects * BROKEN_SHARE / len(BROKEN_KINDS))) if broken else 0
    per_odd = max(1, n_objects // 400)
    odd_kinds = [k for k in ODD_IMAGES if k != "large" for _ in range(per_odd)] + ["large"]
    in_place = [k for k in BROKEN_KINDS if k != "duplicate_id" for _ in range(per_broken)]
    order = rng.permutation(n_objects)
    for serial, (kind, i) in enumerate(zip(in_place, order[: len(in_place)])):
        rows[i] = _break(rows[i], kind, rng, serial)
    rest = order[len(in_place):]
    for kind, i in zip(odd_kinds, rest[: len(odd_kinds)]):
        rows[i] = _odd(rows[i], kind)
    originals = [int(i) for i in rest[len(odd_kinds): len(odd_kinds) + per_broken]]
    return _add_duplicates(rows, originals, rng)


# --- drawing and encoding ------------------------------------------------------------------------

def _encode(rendered: RenderedObject, plan: RowPlan) -> bytes:
    """The image file's bytes for a plan (mode conversions, sizes and defects applied)."""
    image = rendered.image
    if plan.note == "large":
        side = LARGE_SIZE[1]
        canvas = Image.new("RGB", LARGE_SIZE, tuple(int(v) for v in np.asarray(image)[0].mean(axis=0)))
        canvas.paste(image.resize((side, side), Image.Resampling.BICUBIC), ((LARGE_SIZE[0] - side) // 2, 0))
        image = canvas
    elif plan.note == "rgba":
        image = image.copy()
        image.putalpha(rendered.mask)
    elif plan.note == "palette":
        image = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    elif plan.note in ("grayscale", "cmyk"):
        image = image.convert(ODD_IMAGES[plan.note][0])
    if plan.defect == "tiny_image":
        image = image.resize((TINY_SIZE, TINY_SIZE), Image.Resampling.BOX)
    buffer = io.BytesIO()
    if plan.image_format == "PNG":
        image.save(buffer, format="PNG", compress_level=6, optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=plan.quality, subsampling=plan.subsampling, optimize=False,
                   progressive=False)
    data = buffer.getvalue()
    if plan.defect == "corrupt_image":
        data = data[: len(data) * 2 // 5]  # truncated mid-scan, as by an interrupted copy
    return data


def write_image(plan: RowPlan, images_dir: Path, source_image_size: int, seed: int) -> int:
    """Draw and write one row's image file (or leave it missing/empty); return bytes written."""
    if plan.defect == "missing_image":
        return 0
    path = images_dir / plan.image
    path.parent.mkdir(parents=True, exist_ok=True)
    if plan.defect == "empty_image":
        path.write_bytes(b"")
        return 0
    rng = np.random.default_rng([seed, _RENDER_STREAM, plan.index])
    data = _encode(render_object(plan.spec, source_image_size, rng), plan)
    path.write_bytes(data)
    return len(data)


def _write_image_task(task: tuple[RowPlan, Path, int, int]) -> int:
    return write_image(*task)


def _run_tasks(function, tasks: list, desc: str, workers: int, progress: bool) -> list:
    """``[function(task) for task in tasks]``, in ``workers`` processes when worth it (same results)."""
    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not progress)
    results = []
    if workers <= 1 or len(tasks) < 64:
        for task in tasks:
            results.append(function(task))
            bar.update()
    else:
        # spawn, not fork: the caller may hold threads (torch, tqdm monitors) that fork would copy.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(function, tasks, chunksize=16):
                results.append(result)
                bar.update()
    bar.close()
    return results


def _write_images(rows: list[RowPlan], images_dir: Path, source_image_size: int, seed: int, workers: int,
                  progress: bool) -> None:
    tasks = [(row, images_dir, source_image_size, seed) for row in rows]
    _run_tasks(_write_image_task, tasks, "drawing demo museum", workers, progress)


# --- field photos --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRow:
    """One field photo of a museum row's object: the ``shot``-th phone photo of ``plan``'s object."""

    plan: RowPlan
    shot: int
    image: str  # relative to images/
    note: str = ""  # the nuisances drawn into it (filled in once drawn)


def plan_field_photos(rows: list[RowPlan], per_object: int) -> list[FieldRow]:
    """``per_object`` field photos of every object whose museum row is valid (no deliberate defect)."""
    return [FieldRow(plan, shot, f"{FIELD_DIR}/{plan.image.rsplit('/', 1)[0]}/{plan.object_id}-f{shot}.jpg")
            for plan in rows if not plan.defect for shot in range(per_object)]


def write_field_image(row: FieldRow, images_dir: Path, source_image_size: int, seed: int) -> str:
    """Draw and write one field photo; return the nuisances drawn into it.

    The object comes from the museum photo's own generator (``(seed, render stream, object index)``),
    the scene and camera from ``(seed, field stream, object index, shot)``.
    """
    object_rng = np.random.default_rng([seed, _RENDER_STREAM, row.plan.index])
    rng = np.random.default_rng([seed, _FIELD_STREAM, row.plan.index, row.shot])
    photo = render_field_photo(row.plan.spec, source_image_size, object_rng, rng)
    path = images_dir / row.image
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo.data)
    return "; ".join(photo.nuisances)


def _write_field_image_task(task: tuple[FieldRow, Path, int, int]) -> str:
    return write_field_image(*task)


def _write_field_images(rows: list[FieldRow], images_dir: Path, source_image_size: int, seed: int, workers: int,
                        progress: bool) -> list[FieldRow]:
    tasks = [(row, images_dir, source_image_size, seed) for row in rows]
    notes = _run_tasks(_write_field_image_task, tasks, "drawing field photos", workers, progress)
    return [replace(row, note=note) for row, note in zip(rows, notes)]


# --- tables --------------------------------------------------------------------------------------

def _write_tables(rows: list[RowPlan], export_csv: Path, truth_csv: Path,
                  field_rows: list[FieldRow] | None = None) -> None:
    """export.csv and truth.csv; with ``field_rows`` a ``condition`` column and the field rows at the end
    (so the museum rows keep their row numbers)."""
    lines = [(plan, plan.image, plan.collection, plan.defect, plan.note, MUSEUM) for plan in rows]
    lines += [(f.plan, f.image, f.plan.collection, "", f.note, FIELD) for f in field_rows or ()]
    extra = ("condition",) if field_rows is not None else ()
    with export_csv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS + extra)
        for plan, image, collection, _, _, condition in lines:
            writer.writerow([plan.object_id, image, collection, TYPE_LABELS[plan.spec.object_type], plan.title,
                             plan.dating] + ([condition] if extra else []))
    by_code = {c.code: c.name for c in COLLECTIONS}
    with truth_csv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS + extra)
        for number, (plan, _, _, defect, note, condition) in enumerate(lines, start=2):
            writer.writerow([number, plan.object_id, plan.spec.year, by_code[plan.spec.collection],
                             plan.spec.object_type, "" if plan.dating_begin is None else plan.dating_begin,
                             "" if plan.dating_end is None else plan.dating_end, defect, note]
                            + ([condition] if extra else []))


def _prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir``; replace a previous demo museum there, never anything else."""
    images_dir = out_dir / "images"
    if images_dir.exists() and any(images_dir.iterdir()):
        if not (out_dir / "truth.csv").is_file():
            raise FileExistsError(
                f"{images_dir} exists and is not a demo museum written by mocar (no truth.csv beside it); "
                "choose an empty or new --out folder"
            )
        shutil.rmtree(images_dir)  # stale files would mask the deliberately missing ones
    images_dir.mkdir(parents=True, exist_ok=True)
    return images_dir


def _ordered_counts(keys: Iterable[str], order: Iterable[str]) -> dict[str, int]:
    counts = Counter(keys)
    return {key: counts[key] for key in order if counts[key]}


def _check_arguments(n_objects: int, source_image_size: int, seed: int, broken: bool, workers: int) -> None:
    smallest = MIN_OBJECTS_WITH_BROKEN if broken else 1
    if n_objects < smallest:
        raise InputError(f"n_objects={n_objects}: need at least {smallest}"
                         + (" with broken rows (or pass broken=False)" if broken else ""))
    if not 32 <= source_image_size <= 1024:
        raise InputError(f"source_image_size={source_image_size}: valid sizes are 32..1024 px")
    if seed < 0:
        raise InputError(f"seed={seed}: must be a non-negative integer")
    if workers < 0:
        raise InputError(f"workers={workers}: must be >= 0 (0 or 1 = draw in this process)")


def synthesize_museum(out_dir: Path, n_objects: int = 2000, source_image_size: int = 128, seed: int = 0,
                      broken: bool = True, progress: bool = True, workers: int = 2, field: bool = False,
                      field_per_object: int = 1) -> SynthSummary:
    """Write the demo museum (``images/``, ``export.csv``, ``truth.csv``) into ``out_dir``.

    Args:
        out_dir: output folder; a previous demo museum there is replaced.
        n_objects: number of distinct objects (duplicate-id rows come on top).
        source_image_size: side of the (square) photos in pixels; the odd 3000x2000 scan and the tiny
            12x12 defect are the only exceptions.
        seed: same seed, same bytes.
        broken: add deliberately broken rows (about 1.5 %, at least one of each kind).
        progress: show a progress bar.
        workers: processes drawing images; the output does not depend on it.
        field: also draw ``field_per_object`` phone photos of every valid object
            (:mod:`mocar.data.synth_field`) into ``images/field/``, appended to the export as rows with
            the object's id and labels and ``condition=field`` (every museum row gets ``condition=museum``).
            The museum images are the same bytes as without it; `mocar data prepare` gives each field
            row its museum record's labels and split.
        field_per_object: field photos per object (with ``field``).

    Returns:
        Paths, counts per collection, broken rows per kind (with their rows) and the time taken.
    """
    _check_arguments(n_objects, source_image_size, seed, broken, workers)
    if field and field_per_object < 1:
        raise InputError(f"field_per_object={field_per_object}: must be >= 1 with field=True")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    images_dir = _prepare_out_dir(out_dir)
    rows = plan_museum(n_objects, seed, broken)
    _write_images(rows, images_dir, source_image_size, seed, workers, progress)
    field_rows = None
    if field:
        field_rows = _write_field_images(plan_field_photos(rows, field_per_object), images_dir, source_image_size,
                                         seed, workers, progress)
    export_csv, truth_csv = out_dir / "export.csv", out_dir / "truth.csv"
    _write_tables(rows, export_csv, truth_csv, field_rows)
    broken_rows = [BrokenRow(number, plan.object_id, plan.defect, BROKEN_KINDS[plan.defect])
                   for number, plan in enumerate(rows, start=2) if plan.defect]
    by_collection = Counter(plan.spec.collection for plan in rows if plan.defect != "duplicate_id")
    return SynthSummary(
        out_dir=out_dir, images_dir=images_dir, export_csv=export_csv, truth_csv=truth_csv, n_objects=n_objects,
        n_rows=len(rows), source_image_size=source_image_size, seed=seed, seconds=time.perf_counter() - started,
        objects_by_collection={c.name: by_collection.get(c.code, 0) for c in COLLECTIONS},
        broken_by_kind=_ordered_counts((b.kind for b in broken_rows), BROKEN_KINDS),
        odd_images_by_kind=_ordered_counts((plan.note for plan in rows if plan.note), ODD_IMAGES),
        broken_rows=broken_rows, n_field_photos=len(field_rows or ()),
    )
