"""Field photos of the demo museum's objects (mocar.data.synth_field) and how `mocar data prepare` takes them.

Small: 40 objects at 48 px. They check that a field photo is the museum record's object (same id
and labels), that the renderer is reproducible and leaves the museum images alone, that field photos
really differ from the museum photos, and that prepare gives every field photo its object's split,
so no field photo of a val/test object reaches train.
"""
from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mocar.cli import main
from mocar.data.dataset import PreparedData
from mocar.data.prepare import PrepareConfig, prepare_dataset
from mocar.data.synth import FIELD, FIELD_DIR, MUSEUM, synthesize_museum
from mocar.data.synth_field import field_frame_size, render_field_photo
from mocar.data.synth_render import ObjectSpec
from mocar.errors import InputError

N_OBJECTS, SIZE, SEED = 40, 48, 3


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _synth(out: Path, seed: int = SEED, field: bool = True, **kwargs):
    return synthesize_museum(out, n_objects=N_OBJECTS, source_image_size=SIZE, seed=seed, progress=False, workers=1,
                             field=field, **kwargs)


@pytest.fixture(scope="module")
def museum(tmp_path_factory):
    out = tmp_path_factory.mktemp("field_museum")
    summary = _synth(out)
    return summary, _read_csv(out / "export.csv"), _read_csv(out / "truth.csv")


@pytest.fixture(scope="module")
def prepared(museum, tmp_path_factory):
    summary = museum[0]
    out = tmp_path_factory.mktemp("prepared")
    prepare_dataset(PrepareConfig(export=str(summary.export_csv), images=str(summary.images_dir), out=str(out),
                                  classes=8, min_class_size=2, split="60/20/20", workers=1), progress=False)
    return PreparedData.load(out)


def test_field_rows_carry_the_museum_records_id_and_labels(museum):
    summary, rows, truth = museum
    museum_rows = {r["object_id"]: r for r, t in zip(rows, truth) if r["condition"] == MUSEUM and not t["broken"]}
    field_rows = [r for r in rows if r["condition"] == FIELD]
    assert summary.n_field_photos == len(field_rows) == len(museum_rows)  # one per valid object
    assert {r["object_id"] for r in field_rows} == set(museum_rows)
    labels = ("collection", "object_type", "title", "dating")
    for row in field_rows:
        assert {k: row[k] for k in labels} == {k: museum_rows[row["object_id"]][k] for k in labels}
        assert row["image"].startswith(f"{FIELD_DIR}/") and (summary.images_dir / row["image"]).is_file()
    years = {t["object_id"]: t["true_year"] for t in truth if t["condition"] == MUSEUM and not t["broken"]}
    assert all(t["true_year"] == years[t["object_id"]] for t in truth if t["condition"] == FIELD)
    # museum rows come first, so their spreadsheet row numbers are those of the export without field photos
    assert [r["condition"] for r in rows] == sorted((r["condition"] for r in rows), key=lambda c: c != MUSEUM)


def test_field_photos_are_deterministic_per_seed(museum, tmp_path):
    summary = museum[0]
    again = _synth(tmp_path / "again")
    assert _digest(again.out_dir) == _digest(summary.out_dir)
    other = _digest(_synth(tmp_path / "other", seed=SEED + 1).images_dir / FIELD_DIR)
    ours = _digest(summary.images_dir / FIELD_DIR)
    assert not set(ours.values()) & set(other.values())


def test_museum_images_are_unchanged_by_field_rendering(museum, tmp_path):
    summary = museum[0]
    plain = _synth(tmp_path / "plain", field=False)
    with_field = {k: v for k, v in _digest(summary.images_dir).items() if not k.startswith(f"{FIELD_DIR}/")}
    assert with_field == _digest(plain.images_dir)
    plain_rows = plain.export_csv.read_text(encoding="utf-8").splitlines()
    museum_rows = [line.rsplit(",", 1)[0] for line in summary.export_csv.read_text(encoding="utf-8").splitlines()
                   if not line.endswith(f",{FIELD}")]
    assert museum_rows == plain_rows and "condition" not in plain_rows[0]


def test_field_photos_differ_from_museum_photos(museum):
    summary, rows, _ = museum
    by_id = {r["object_id"]: r["image"] for r in rows if r["condition"] == MUSEUM}
    differences = []
    for row in (r for r in rows if r["condition"] == FIELD):
        with Image.open(summary.images_dir / row["image"]) as field, \
                Image.open(summary.images_dir / by_id[row["object_id"]]) as studio:
            assert field.format == "JPEG" and sorted(field.size) == sorted(field_frame_size(SIZE, True))
            a = np.asarray(field.convert("RGB").resize((SIZE, SIZE)), np.float32)
            b = np.asarray(studio.convert("RGB").resize((SIZE, SIZE)), np.float32)
            differences.append(np.abs(a - b).mean())
    assert min(differences) > 5 and np.mean(differences) > 20, differences


def test_render_field_photo_reuses_the_museum_object_generator():
    spec = ObjectSpec("MK", "coin", "bronze", "meander", -300)
    photos = [render_field_photo(spec, 40, np.random.default_rng([1, 2, 7]), np.random.default_rng([1, 3, 7, k]))
              for k in (0, 0, 1)]
    assert photos[0] == photos[1] and photos[0].data != photos[2].data
    with Image.open(io.BytesIO(photos[0].data)) as image:
        assert image.size == photos[0].size and min(image.size) == 40
    assert any(n.startswith("blur=") for n in photos[0].nuisances)


def test_prepared_field_photos_inherit_their_objects_split_and_labels(prepared):
    rows = prepared.all_rows
    museum, field = rows[rows["condition"] == MUSEUM], rows[rows["condition"] == FIELD]
    assert len(field) == len(museum) and prepared.conditions == [MUSEUM, FIELD]
    joined = field.merge(museum, on="id", suffixes=("", "_museum"), validate="many_to_one")
    for column in ("split", "epoch_idx", "epoch_label", "collection_idx", "year"):
        assert (joined[column] == joined[f"{column}_museum"]).all(), column
    held_out = set(museum.loc[museum["split"] != "train", "id"])
    assert held_out and not held_out & set(prepared.split("train", condition=FIELD)["id"])
    assert set(prepared.split("test", condition=FIELD)["id"]) == set(prepared.split("test")["id"])
    # what training reads is unchanged: museum photos only, one per object
    assert prepared.manifest["id"].is_unique and (prepared.manifest["condition"] == MUSEUM).all()
    assert (prepared.split("train")["condition"] == MUSEUM).all()


def test_field_rows_change_nothing_for_the_museum_rows(museum, prepared, tmp_path):
    plain = _synth(tmp_path / "plain", field=False)
    out = tmp_path / "prepared"
    prepare_dataset(PrepareConfig(export=str(plain.export_csv), images=str(plain.images_dir), out=str(out), classes=8,
                                  min_class_size=2, split="60/20/20", workers=1), progress=False)
    alone = PreparedData.load(out)
    assert alone.classes == prepared.classes
    pd.testing.assert_frame_equal(alone.manifest.drop(columns="image"), prepared.manifest.drop(columns="image"))


def _export(tmp_path: Path, extra: list[tuple[str, str, str, str, str]]) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for i in range(30):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(images / f"{i}.jpg")
        rows.append((f"O{i}", f"{i}.jpg", ["A", "B"][i % 2], f"{1000 + 10 * i}-{1010 + 10 * i}", ""))
    Image.new("RGB", (40, 40)).save(images / "f.jpg")
    export = tmp_path / "export.csv"
    pd.DataFrame(rows + extra, columns=["object_id", "image", "collection", "dating", "condition"]).to_csv(export, index=False)
    return export, images


def test_prepare_rejects_field_rows_without_a_usable_museum_record(tmp_path):
    export, images = _export(tmp_path, [
        ("O1", "f.jpg", "", "", "Field"),            # kept: blank labels inherited, case ignored
        ("O2", "f.jpg", "A", "1020-1030", "field"),  # kept: labels agree
        ("O3", "f.jpg", "", "", "phone"),            # unknown_condition
        ("NOPE", "f.jpg", "", "", "field"),          # no_museum_record
        ("O4", "f.jpg", "B", "", "field"),           # conflicts_with_museum_record (collection)
        ("O5", "f.jpg", "", "1500", "field"),        # conflicts_with_museum_record (dating)
        ("O6", "missing.jpg", "", "", "field"),      # image_not_found
        ("O7", "", "", "", "field"),                 # missing_image_path
    ])
    (images / "7.jpg").unlink()  # O7's museum photo is gone: its field rows lose their record
    extra = pd.DataFrame([("O7", "f.jpg", "", "", "field")], columns=["object_id", "image", "collection", "dating",
                                                                       "condition"])
    extra.to_csv(export, mode="a", header=False, index=False)
    result = prepare_dataset(PrepareConfig(export=str(export), images=str(images), out=str(tmp_path / "p"), classes=4,
                                           min_class_size=2, workers=1), progress=False)
    rejected = pd.read_csv(tmp_path / "p" / "rejected.csv")
    reasons = dict(zip(rejected["row"], rejected["reason"]))
    assert result.report["rejected_by_reason"] == {
        "missing_image_path": 1, "image_not_found": 2, "unknown_condition": 1, "no_museum_record": 2,
        "conflicts_with_museum_record": 2}
    assert reasons[34] == "unknown_condition" and reasons[40] == "no_museum_record"
    assert "museum, field" in rejected.set_index("row").loc[34, "detail"]
    field = result.manifest[result.manifest["condition"] == FIELD]
    assert dict(zip(field["id"], field["collection"])) == {"O1": "B", "O2": "A"}
    assert result.report["conditions"][FIELD] == {s: int((field["split"] == s).sum()) for s in ("train", "val", "test")}


def test_missing_condition_split_names_what_is_there(prepared, tmp_path):
    alone = PreparedData(root=tmp_path, manifest=prepared.manifest.drop(columns="condition"), classes=prepared.classes)
    assert alone.conditions == [MUSEUM] and len(alone.all_rows) == len(prepared.manifest)
    with pytest.raises(InputError, match="field photos; present: museum"):
        alone.split("test", condition=FIELD)


def test_cli_synth_field_flag(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--objects", "6", "--source-image-size", "32",
                 "--no-broken", "--field", "--field-per-object", "2"]) == 0
    assert "field photos: 12" in capsys.readouterr().out
    rows = _read_csv(tmp_path / "export.csv")
    assert sum(r["condition"] == FIELD for r in rows) == 12
    with pytest.raises(InputError, match="field_per_object"):
        synthesize_museum(tmp_path, n_objects=6, broken=False, field=True, field_per_object=0, progress=False)
