"""export_run end to end on a briefly trained tiny run: ONNX files validated, a broken and a missing
format reported without stopping the others, manifest contents, strict errors, run left untouched."""
import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from mocar.export.errors import ExportError, ParityError
from mocar.runtime.metadata import read_metadata
from mocar.export.reference import calibration_rows, decode_images
from mocar.export.run import export_run, format_manifest_table, raise_for_failures
from mocar.quantize.request import Int8Request
from mocar.runtime.preprocessing import normalize_images
from mocar.runtime.registry import FORMATS
from mocar.train.config import TrainConfig
from mocar.train.loop import fit

pytestmark = pytest.mark.slow

BROKEN_EXPORTER = '''
def export_broken(job):
    raise RuntimeError("boom: the converter failed\\nsecond line of the message")
'''


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def exported_run(tiny_prepared, tmp_path_factory):
    root = tmp_path_factory.mktemp("export_run")
    fit(TrainConfig(data=str(tiny_prepared), out=str(root / "run"), preset="mocar_tiny", steps=8, warmup=1,
                    batch_size=16, micro_batch=16, input_size=32, resize=40, workers=0, eval_every=8, lr=0.02,
                    progress=False, precision="fp32", eval_batch_size=32))
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "broken_format.py").write_text(BROKEN_EXPORTER)
    before = {p.name: _sha(p) for p in (root / "run").iterdir() if p.is_file()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(plugins))
        for name, exporter in (("broken", "broken_format:export_broken"),
                               ("missing", "mocar.export.no_such_module:export_missing")):
            patch.setitem(FORMATS, name, dataclasses.replace(FORMATS["onnx"], name=name, exporter=exporter))
        manifest = export_run(root / "run", root / "out", formats=("onnx", "broken", "missing"), calib_images=32,
                              progress=False)
    return {"root": root, "manifest": manifest, "before": before, "prepared": tiny_prepared}


def test_onnx_files_pass_validation_next_to_failed_formats(exported_run):
    manifest = exported_run["manifest"]
    files = {(e["format"], e["precision"]): e for e in manifest["files"]}
    assert sorted(files) == [("onnx", "fp16"), ("onnx", "fp32"), ("onnx", "int8")]
    assert all(e["status"] == "ok" for e in files.values()), [e["reason"] for e in files.values()]
    int8 = files[("onnx", "int8")]["validation"]
    assert int8["top1_agreement"] >= 0.95 and int8["embedding_cosine"]["p01"] >= 0.95
    assert abs(int8["year_mae_delta"]) < 0.05 * 1000  # bounded by the limit; year_scale is ~1000 years here
    assert files[("onnx", "fp32")]["validation"]["outputs"]["logits"]["max_rel"] < 1e-4
    assert manifest["formats"]["onnx"]["status"] == "ok"
    assert manifest["summary"]["ok"] is False and manifest["summary"]["failed_formats"] == ["broken", "missing"]


def test_failed_formats_are_reported_in_one_line(exported_run):
    formats = exported_run["manifest"]["formats"]
    assert formats["broken"]["status"] == "failed"
    assert formats["broken"]["reason"] == "RuntimeError: boom: the converter failed"
    assert formats["missing"]["reason"].startswith("ModuleNotFoundError: No module named 'mocar.export.no_such_module'")
    log = (exported_run["root"] / "out" / formats["broken"]["log"]).read_text()
    assert "Traceback" in log and "second line of the message" in log  # the full story stays in the log


def test_manifest_entries_describe_the_files(exported_run):
    out = exported_run["root"] / "out"
    on_disk = json.loads((out / "manifest.json").read_text())
    for entry in on_disk["files"]:
        path = out / entry["file"]
        assert entry["sha256"] == _sha(path) and entry["size_bytes"] == path.stat().st_size
        assert entry["signature"]["input_shape"] == [1, 3, 32, 32]
        assert entry["signature"]["output_names"] == ["logits", "year", "embedding"]
        assert entry["simulated"] is False and entry["validation_images"] == on_disk["reference"]["validation_images"]
    assert on_disk["reference"]["sha256"] == _sha(out / "model.pt")
    names = sorted(e["file"] for e in on_disk["files"])
    assert names == ["model_fp16.onnx", "model_fp32.onnx", "model_int8_u8s8_conv.onnx"]


def test_embedded_metadata_carries_the_runs_contract(exported_run):
    out, prepared = exported_run["root"] / "out", exported_run["prepared"]
    classes = json.loads((prepared / "classes.json").read_text())
    metadata = read_metadata(out / "model_int8_u8s8_conv.onnx")
    assert metadata["labels"]["names"] == classes["collections"] and metadata["labels"]["target"] == "collection"
    assert metadata["year"]["mean"] == pytest.approx(classes["year_stats"]["mean"])
    assert metadata["input"]["resize"] == {"size": [32, 32], "interpolation": "bilinear", "crop": None,
                                           "rule": "resize the whole image to 32 x 32 (aspect ratio not kept, no crop)"}
    split_counts = pd.read_parquet(prepared / "manifest.parquet")["split"].value_counts().to_dict()
    assert metadata["training_data"]["split_counts"] == split_counts and metadata["training_data"]["step"] == 8
    assert metadata["precision"] == "int8" and metadata["quantization"]["flavour"] == "u8s8_conv"
    assert metadata["exporters"]["onnxruntime"] and metadata["model"]["architecture"] == "mocar"


def test_calibration_uses_training_images_in_seeded_order(exported_run):
    out, prepared = exported_run["root"] / "out", exported_run["prepared"]
    key = exported_run["manifest"]["reference"]["cache_key"]
    calibration = np.load(out / ".cache" / f"calibration_{key}.npy")
    train = pd.read_parquet(prepared / "manifest.parquet").query("split == 'train'").reset_index(drop=True)
    rows = calibration_rows(len(train), 32)
    expected = normalize_images(decode_images(train["image"].iloc[rows[:3]].tolist(), 32, "bilinear"), [0.5] * 3, [0.5] * 3)
    assert calibration.shape == (32, 3, 32, 32) and np.array_equal(calibration[:3], expected)
    assert not np.array_equal(rows[:5], np.arange(5))  # a permutation, not the first rows


def test_the_run_folder_is_not_modified(exported_run):
    run = exported_run["root"] / "run"
    assert {p.name: _sha(p) for p in run.iterdir() if p.is_file()} == exported_run["before"]


def test_strict_raises_typed_errors_listing_every_failure(exported_run):
    manifest = exported_run["manifest"]
    with pytest.raises(ExportError) as error:
        raise_for_failures(manifest)
    assert not isinstance(error.value, ParityError) and len(error.value.failures) == 2
    parity_only = {**manifest, "formats": {"onnx": manifest["formats"]["onnx"]},
                   "files": [{**manifest["files"][0], "status": "parity_failed", "reason": "logits: too far"}]}
    with pytest.raises(ParityError, match="model_.*onnx: logits: too far"):
        raise_for_failures(parity_only)
    ok = {**manifest, "formats": {"onnx": manifest["formats"]["onnx"]}}
    raise_for_failures(ok)  # nothing failed: no exception


def test_table_fits_one_screen_and_names_failures(exported_run):
    table = format_manifest_table(exported_run["manifest"])
    lines = table.splitlines()
    assert len(lines) <= 12 and max(map(len, lines)) <= 200
    assert any(line.startswith("(no files)") and "broken" in line and "RuntimeError: boom" in line for line in lines)
    rows = [line.split() for line in lines[2:-1]]
    assert sorted(row[4] for row in rows if row[1] == "onnx") == ["ok", "ok", "ok"]


def test_unknown_formats_and_precisions_are_refused_before_any_work(tmp_path):
    with pytest.raises(ExportError, match="unknown format.*'pdf'.*valid: onnx, tflite, coreml"):
        export_run(tmp_path / "nowhere", tmp_path / "out", formats=("onnx", "pdf"))
    with pytest.raises(ExportError, match="unknown precision.*'int4'"):
        export_run(tmp_path / "nowhere", tmp_path / "out", precisions=("int4",))
    with pytest.raises(ExportError, match="int8 needs calibration images; calib_images=0"):
        export_run(tmp_path / "nowhere", tmp_path / "out", calib_images=0)
    assert not (tmp_path / "out").exists()


def test_metadata_of_an_epoch_model_lists_bounds_and_no_year(tmp_path):
    from mocar.data.transforms import DataConfig
    from mocar.runtime.run_metadata import build_metadata
    from mocar.model import create_model_from_preset
    from mocar.train.run_files import TrainedRun

    model = create_model_from_preset("maxavgcat_tiny", num_classes=2, input_size=64)
    epochs = [{"index": 0, "label": "A, (-500, 0]", "collection": "A", "begin": -500.0, "end": 0.0, "count": 7},
              {"index": 1, "label": "A, (0, 300]", "collection": "A", "begin": 0.0, "end": 300.0, "count": 5}]
    run = TrainedRun(root=tmp_path / "run_a", checkpoint=tmp_path / "run_a" / "best.pt", model=model,
                     model_config=model.config, data_config=DataConfig(input_size=64, resize=72),
                     class_names=[e["label"] for e in epochs], target="epoch", train_config={"data": "/x/prepared"},
                     classes={"collections": ["A"], "epochs": epochs}, step=10, loss_state={})
    metadata = build_metadata(run, "fp32", "float", "tflite")
    assert metadata["labels"]["epochs"] == [{k: e[k] for k in ("index", "label", "collection", "begin", "end")} for e in epochs]
    assert metadata["labels"]["names"] == ["A, (-500, 0]", "A, (0, 300]"] and metadata["year"] is None
    assert [o["name"] for o in metadata["outputs"]] == ["logits", "embedding"]
    assert metadata["outputs"][1]["shape"] == [1, 256]
    assert metadata["input"]["layout"] == "NHWC" and metadata["input"]["shape"] == [1, 64, 64, 3]
    assert "tensorflow" in metadata["exporters"] and metadata["model"]["name"] == "run_a"
    assert json.loads(json.dumps(metadata)) == metadata


def test_export_command_passes_int8_flavours_and_refuses_unknown_ones(tmp_path, monkeypatch, capsys):
    import mocar.export.run as run_module
    from mocar.cli import main

    seen = {}

    def fake_export_run(run_dir, out_dir, **kwargs):
        seen.update(kwargs)
        return {"entries": []}

    monkeypatch.setattr(run_module, "export_run", fake_export_run)
    monkeypatch.setattr(run_module, "format_manifest_table", lambda manifest: "table")
    monkeypatch.setattr(run_module, "manifest_failures", lambda manifest: ([], []))
    assert main(["export", "--run", str(tmp_path), "--out", str(tmp_path / "out"), "--formats", "tflite,onnx",
                 "--tflite-int8", "integer_quant_float_norm,dynamic_range", "--onnx-int8", "u8s8_all"]) == 0
    assert seen["int8"] == Int8Request(onnx=("u8s8_all",), tflite=("integer_quant_float_norm", "dynamic_range"))
    seen.clear()
    assert main(["export", "--run", str(tmp_path), "--out", str(tmp_path / "out"), "--tflite-int8", "int4"]) != 0
    assert "tflite int8 flavour(s) ['int4'] not offered; valid: dynamic_range" in capsys.readouterr().err and not seen
