"""`mocar data prepare` end to end on a small hand-made export with one row per failure mode."""
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mocar.cli import main
from mocar.data.prepare import MANIFEST_COLUMNS, PrepareConfig, prepare_dataset
from mocar.errors import InputError

COLLECTIONS = ["Antikensammlung", "Münzkabinett", "Vorderasiatisches Museum"]


def _image(path, size=(48, 40), mode="RGB", seed=0):
    arr = np.random.default_rng(seed).integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(arr).convert(mode)
    image.save(path, format="PNG" if path.suffix == ".png" else "JPEG")


@pytest.fixture()
def museum(tmp_path):
    """90 good objects over 3 collections + one bad row of every kind."""
    images = tmp_path / "images"
    images.mkdir()
    rows, rng = [], np.random.default_rng(1)
    for i in range(90):
        collection = COLLECTIONS[i % 3]
        year = int(rng.choice([-450, -300, 100, 800])) + int(rng.integers(-20, 20))
        _image(images / f"ok{i}.jpg", seed=i)
        rows.append((f"OK-{i}", f"ok{i}.jpg", collection, f"{year - 10}-{year + 10}" if year > 0 else f"um {-year} v. Chr."))
    modes = {"gray.png": "L", "pal.png": "P", "cmyk.jpg": "CMYK", "alpha.png": "RGBA"}
    for name, mode in modes.items():
        _image(images / name, mode=mode)
        rows.append((f"MODE-{mode}", name, "Münzkabinett", "1200-1300"))
    (images / "zero.jpg").write_bytes(b"")
    (images / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    _image(images / "tiny.jpg", size=(10, 10))
    bad = [
        ("", "ok0.jpg", "Antikensammlung", "1200-1300"),                     # missing_id
        ("OK-1", "ok1.jpg", "Antikensammlung", "1200-1300"),                 # duplicate_id
        ("B-coll", "ok2.jpg", "", "1200-1300"),                              # empty_collection
        ("B-path", "", "Antikensammlung", "1200-1300"),                      # missing_image_path
        ("B-date", "ok3.jpg", "Antikensammlung", "Neues Reich, 18. Dynastie"),  # unparsable_dating
        ("B-rev", "ok4.jpg", "Antikensammlung", "1300-1200"),                # begin_after_end
        ("B-old", "ok5.jpg", "Antikensammlung", "25000 v. Chr."),            # implausible_year
        ("B-miss", "missing.jpg", "Antikensammlung", "1200-1300"),           # image_not_found
        ("B-zero", "zero.jpg", "Antikensammlung", "1200-1300"),              # image_unreadable
        ("B-corrupt", "corrupt.jpg", "Antikensammlung", "1200-1300"),        # image_unreadable
        ("B-tiny", "tiny.jpg", "Antikensammlung", "1200-1300"),              # image_too_small
    ]
    rows += bad
    export = tmp_path / "export.csv"
    pd.DataFrame(rows, columns=["object_id", "image", "collection", "dating"]).to_csv(export, index=False, sep=";")
    return tmp_path, export, images


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_prepare_end_to_end(museum):
    root, export, images = museum
    before = _digest(root)
    cfg = PrepareConfig(export=str(export), images=str(images), out=str(root / "prepared"), classes=6, min_class_size=5)
    result = prepare_dataset(cfg, progress=False)
    assert _digest(root).items() >= before.items(), "input files must never be modified"

    out = root / "prepared"
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert set(MANIFEST_COLUMNS) <= set(manifest.columns)
    assert len(manifest) == 94 and manifest["id"].is_unique
    assert {"MODE-L", "MODE-P", "MODE-CMYK", "MODE-RGBA"} <= set(manifest["id"])

    report = json.loads((out / "report.json").read_text())
    assert report["rows_in"] == 105 and report["kept"] == 94 and report["rejected"] == 11
    assert report["rejected_by_reason"] == {
        "missing_id": 1, "duplicate_id": 1, "empty_collection": 1, "missing_image_path": 1,
        "unparsable_dating": 1, "begin_after_end": 1, "implausible_year": 1, "image_not_found": 1,
        "image_unreadable": 2, "image_too_small": 1,
    }
    rejected = pd.read_csv(out / "rejected.csv")
    assert len(rejected) == 11
    dup = rejected[rejected["reason"] == "duplicate_id"].iloc[0]
    assert dup["id"] == "OK-1" and dup["row"] == 97 and "row 3" in dup["detail"]

    classes = json.loads((out / "classes.json").read_text())
    assert classes["collections"] == sorted(COLLECTIONS)
    assert 3 <= len(classes["epochs"]) <= 6
    for epoch in classes["epochs"]:
        assert epoch["label"].startswith(epoch["collection"] + ", (") and epoch["label"].endswith("]")
    assert (manifest["year"] == (manifest["year_begin"] + manifest["year_end"]) / 2).all()
    for row in manifest.itertuples():
        epoch = classes["epochs"][row.epoch_idx]
        assert epoch["collection"] == row.collection and epoch["label"] == row.epoch_label
        assert epoch["begin"] <= row.year <= epoch["end"]
    assert set(manifest["split"]) == {"train", "val", "test"}
    assert result.report["kept"] == 94
    assert (out / "prepare_config.yaml").exists()


def test_prepare_is_deterministic(museum):
    root, export, images = museum
    outs = []
    for name in ("a", "b"):
        prepare_dataset(PrepareConfig(export=str(export), images=str(images), out=str(root / name), classes=6, min_class_size=5), progress=False)
        outs.append(pd.read_parquet(root / name / "manifest.parquet").drop(columns=["image"]))
    pd.testing.assert_frame_equal(outs[0], outs[1])


def test_numeric_begin_end_columns(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    rows = []
    for i in range(30):
        _image(images / f"{i}.jpg", seed=i)
        rows.append((f"N{i}", f"{i}.jpg", COLLECTIONS[i % 2], str(-500 + 10 * i), str(-480 + 10 * i)))
    rows.append(("N-bad", "0.jpg", "Münzkabinett", "fünf", "6"))
    export = tmp_path / "e.tsv"
    pd.DataFrame(rows, columns=["Inv", "Bild", "Sammlung", "von", "bis"]).to_csv(export, index=False, sep="\t")
    result = prepare_dataset(PrepareConfig(export=str(export), images=str(images), out=str(tmp_path / "p"),
                                           columns="id=Inv,image=Bild,collection=Sammlung,begin=von,end=bis",
                                           classes=4, min_class_size=3), progress=False)
    assert result.report["kept"] == 30 and result.report["rejected_by_reason"] == {"unparsable_dating": 1}
    first = result.manifest.set_index("id").loc["N0"]
    assert (first["year_begin"], first["year_end"], first["year"]) == (-500, -480, -490.0)


def test_refuses_to_write_into_images_folder(museum):
    root, export, images = museum
    with pytest.raises(InputError, match="images folder"):
        prepare_dataset(PrepareConfig(export=str(export), images=str(images), out=str(images)), progress=False)


def test_cli_reports_errors_without_traceback(museum, capsys):
    root, export, images = museum
    code = main(["data", "prepare", "--export", str(export), "--images", str(images), "--out", str(root / "o"),
                 "--columns", "id=Nope"])
    assert code == 2
    assert "Nope" in capsys.readouterr().err
