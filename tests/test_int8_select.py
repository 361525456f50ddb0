"""int8 auto-selection: the fastest passing candidate per runtime, on constructed rows and a tiny model."""
import json

import pytest

from mocar.runtime.policy import load_policy
from mocar.errors import InputError
from mocar.quantize.select import format_selection, prune_unselected, select_from_rows

POLICY = {"int8": {"agreement": {"min": 99.0}, "retrieval_overlap5": {"min": 0.9}}}


def _row(export, fmt, precision, p50, agreement=100.0, overlap=1.0, threads=2, speedup=None):
    return {"export": export, "format": fmt, "precision": precision, "flavour": export.split(".")[0], "threads": threads,
            "p50_ms": p50, "agreement": agreement, "retrieval_overlap5": overlap, "speedup_vs_fp32": speedup}


def _rows():
    return [
        _row("fp32.onnx", "onnx", "fp32", 1.0),
        _row("s8s8.onnx", "onnx", "int8", 0.40, agreement=97.0, speedup=2.5),   # fastest, fails agreement
        _row("u8s8_all.onnx", "onnx", "int8", 0.80, speedup=1.25),
        _row("u8s8_conv.onnx", "onnx", "int8", 0.60, speedup=1.67),            # fastest passing
        _row("u8s8_conv.onnx", "onnx", "int8", 0.10, threads=1, speedup=10.0),  # other thread count: ignored
        _row("fp32.tflite", "tflite", "fp32", 1.0),
        _row("dyn.tflite", "tflite", "int8", 0.5, overlap=0.8, speedup=2.0),
        _row("full.tflite", "tflite", "int8", 1.6, agreement=90.0, speedup=0.6),
    ]


def test_fastest_passing_candidate_per_runtime():
    selections = select_from_rows(_rows(), POLICY)
    onnx, tflite = selections["onnx"], selections["tflite"]
    assert onnx.chosen == "u8s8_conv.onnx" and onnx.threads == 2
    assert "fastest of 2 passing candidate(s) out of 3" in onnx.reason and "1.67x fp32" in onnx.reason
    failed = {c.export: c.failures for c in onnx.candidates if not c.passed}
    assert failed == {"s8s8.onnx": ["agreement = 97.0 (n unknown; required >= 99.0)"]}
    assert tflite.chosen is None
    assert "none of 2 int8 candidate(s) meets the policy" in tflite.reason
    assert "retrieval_overlap5 = 0.8" in tflite.reason and "agreement = 90.0" in tflite.reason


def test_thread_count_and_min_speedup_change_the_choice():
    assert select_from_rows(_rows(), POLICY, threads=1)["onnx"].chosen == "u8s8_conv.onnx"
    rows = _rows()
    rows[3]["speedup_vs_fp32"] = 0.9  # now slower than fp32
    plain = select_from_rows(rows, POLICY)["onnx"]
    assert plain.chosen == "u8s8_conv.onnx" and "slower than fp32" in plain.reason
    assert select_from_rows(rows, POLICY, min_speedup=1.0)["onnx"].chosen == "u8s8_all.onnx"


def test_markdown_lists_every_candidate():
    text = format_selection(select_from_rows(_rows(), POLICY))
    assert text.count("| **chosen** |") == 1
    for name in ("s8s8.onnx", "u8s8_all.onnx", "u8s8_conv.onnx", "dyn.tflite", "full.tflite"):
        assert f"| {name} |" in text


def test_no_int8_rows_is_an_error():
    with pytest.raises(InputError, match="no int8 file"):
        select_from_rows([_row("fp32.onnx", "onnx", "fp32", 1.0)], POLICY)


def _export_folder(tmp_path, manifest):
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("fp32.onnx", "s8s8.onnx", "u8s8_all.onnx", "u8s8_conv.onnx"):
        (folder / name).write_bytes(b"model")
    if manifest is not None:
        (folder / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return folder


@pytest.mark.parametrize("manifest, message", [
    (None, r"manifest\.json: not found"),
    ("{not json", r"manifest\.json: not valid JSON"),
    ({"run": {}}, r"manifest\.json: expected an object with a 'files' list"),
    ({"files": ["fp32.onnx"]}, r"manifest\.json: expected an object with a 'files' list"),
    ([], r"manifest\.json: expected an object with a 'files' list"),
])
def test_prune_with_a_bad_manifest_deletes_nothing(tmp_path, manifest, message):
    folder = _export_folder(tmp_path, manifest)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(InputError, match=message):
        prune_unselected(folder, select_from_rows(_rows(), POLICY))
    assert sorted(p.name for p in folder.iterdir()) == before


def test_prune_keeps_the_chosen_file_and_records_the_choice(tmp_path):
    names = ["fp32.onnx", "s8s8.onnx", "u8s8_all.onnx", "u8s8_conv.onnx"]
    folder = _export_folder(tmp_path, {"files": [{"file": name} for name in names]})
    selections = select_from_rows([r for r in _rows() if r["format"] == "onnx"], POLICY)
    assert prune_unselected(folder, selections) == ["s8s8.onnx", "u8s8_all.onnx"]
    assert sorted(p.name for p in folder.glob("*.onnx")) == ["fp32.onnx", "u8s8_conv.onnx"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [e["file"] for e in manifest["files"]] == ["fp32.onnx", "u8s8_conv.onnx"]
    assert manifest["int8_selection"]["onnx"] == {"chosen": "u8s8_conv.onnx", "reason": selections["onnx"].reason,
                                                  "removed": ["s8s8.onnx", "u8s8_all.onnx"]}


def test_unknown_candidate_is_rejected(tmp_path):
    from mocar.bench.int8_select import select_int8

    with pytest.raises(InputError, match="u8u8.*valid: u8s8_conv"):
        select_int8(tmp_path / "run", tmp_path / "out", candidates={"onnx": ["u8u8"]})


@pytest.mark.slow
def test_select_int8_on_a_tiny_model(tiny_prepared, tmp_path):
    pytest.importorskip("onnxruntime")
    from mocar.bench.int8_select import select_int8
    from mocar.train.config import TrainConfig
    from mocar.train.loop import fit

    run = fit(TrainConfig(data=str(tiny_prepared), out=str(tmp_path / "run"), preset="mocar_tiny", steps=3, warmup=1,
                          batch_size=8, micro_batch=4, input_size=32, resize=40, workers=0, eval_every=3, lr=0.02,
                          progress=False, precision="fp32"))
    policy = tmp_path / "lenient.yaml"
    policy.write_text("int8:\n  agreement: {min: 0.0}\n")
    selections = select_int8(run, tmp_path / "export", candidates={"onnx": ["u8s8_conv", "s8s8_all"]}, policy=policy,
                             threads=(1,), runs=5, calib_images=16, progress=False)
    onnx = selections["onnx"]
    assert sorted(c.flavour for c in onnx.candidates) == ["s8s8_all", "u8s8_conv"]
    assert all(c.passed for c in onnx.candidates)
    assert onnx.chosen == min(onnx.candidates, key=lambda c: c.p50_ms).export
    saved = json.loads((tmp_path / "export" / "int8_selection" / "int8_selection.json").read_text())
    assert saved["selections"]["onnx"]["chosen"] == onnx.chosen
    roles = json.loads((tmp_path / "export" / "image_roles.json").read_text())
    assert len(roles["calibration"]) == 16 and roles["selection"]
    assert not set(roles["calibration"]) & set(roles["selection"])
    # chosen on the selection images only, never on the report's parity set or the test split
    assert saved["images"]["kind"] == "selection" and saved["images"]["parity_images"] == len(roles["selection"])
    assert (tmp_path / "export" / "int8_selection" / "report.html").is_file()
    # the default policy judges the same rows differently only through its thresholds
    strict = select_from_rows(json.loads((tmp_path / "export" / "int8_selection" / "bench.json").read_text())["rows"],
                              load_policy())
    assert set(strict) == {"onnx"}
    # `mocar bench --select` on the same folder (several int8 files) gives a choice from the same candidates
    from mocar.cli import main

    code = main(["bench", "--exports", str(tmp_path / "export"), "--select", "--threads", "1", "--runs", "3",
                 "--warmup", "1", "--policy", str(policy), "--out", str(tmp_path / "sel")])
    assert code == 0
    again = json.loads((tmp_path / "sel" / "int8_selection.json").read_text())["selections"]["onnx"]
    assert again["chosen"] in {c.export for c in onnx.candidates} and len(again["candidates"]) == 2

    removed = prune_unselected(tmp_path / "export", selections)
    assert removed == sorted(c.export for c in onnx.candidates if c.export != onnx.chosen) and len(removed) == 1
    left = sorted(p.name for p in (tmp_path / "export").glob("*.onnx"))
    assert left == sorted(["model_fp32.onnx", onnx.chosen])
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert sorted(e["file"] for e in manifest["files"]) == left
    assert manifest["int8_selection"]["onnx"]["chosen"] == onnx.chosen


def test_export_int8_auto_is_wired_to_select_int8(monkeypatch, tmp_path, capsys):
    from mocar import cli
    from mocar.bench import int8_select
    from mocar.quantize import select
    from mocar.quantize.request import OFFERED

    calls = []
    monkeypatch.setattr(int8_select, "select_int8", lambda run, out, **kw: calls.append((run, out, kw)) or {})
    monkeypatch.setattr(select, "format_selection", lambda selections: "no candidates")
    assert cli.main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "x"), "--int8", "auto",
                     "--threads", "1"]) == 0
    (run, out, kw), = calls
    assert str(run).endswith("run") and kw["prune"] is True and kw["threads"] == (1,)
    assert cli.main(["export", "--run", "r", "--out", "o", "--int8", "auto", "--formats", "coreml"]) == 2
    assert "--int8 auto" in capsys.readouterr().err
    calls.clear()
    assert cli.main(["export", "--run", "r", "--out", "o", "--int8", "auto", "--tflite-int8",
                     "integer_quant_float_norm,dynamic_range"]) == 0  # narrows TFLite, keeps every ONNX recipe
    assert calls[0][2]["candidates"] == {**OFFERED, "tflite": ("integer_quant_float_norm", "dynamic_range")}
    assert cli.main(["export", "--run", "r", "--out", "o", "--int8", "auto", "--checkpoint", "last"]) == 2
    assert "leave out --checkpoint/--strict" in capsys.readouterr().err
