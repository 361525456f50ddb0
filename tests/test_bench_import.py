"""Rows measured elsewhere (`mocar bench --import`): validation errors and the documented schema."""
import json
import re
from pathlib import Path

import pytest

from mocar.bench.rows import FIELDS, REQUIRED_IMPORT_FIELDS, load_imported_rows, parse_imported_rows
from mocar.errors import InputError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "bench_rows.md"


def _phone_row(**changes):
    row = {"export": "model_fp32.tflite", "format": "tflite", "precision": "fp32", "threads": 4, "p50_ms": 3.5}
    return {**row, **changes}


def _write(tmp_path, data, name="phone.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_object_with_defaults_labels_rows_by_device(tmp_path):
    path = _write(tmp_path, {"device": "Pixel 7", "os": "Android 14",
                             "rows": [_phone_row(), _phone_row(export="m_int8.tflite", precision="int8", p50_ms=2.0)]})
    rows = load_imported_rows(path)
    assert [(r["folder"], r["imported"], r["status"], r["os"]) for r in rows] == [("Pixel 7", True, "imported",
                                                                                 "Android 14")] * 2
    assert rows[1]["p50_ms"] == 2.0 and "top1" not in rows[1]


def test_list_form_with_parity_fields_kept(tmp_path):
    rows = load_imported_rows(_write(tmp_path, [_phone_row(device="Galaxy S23", top1=0.81, agreement=99.5)]))
    assert rows[0]["folder"] == "Galaxy S23" and rows[0]["top1"] == 0.81


@pytest.mark.parametrize("row, message", [
    (_phone_row(device="P", p50=3.0), r"phone\.json row 1 \('model_fp32\.tflite'\): unknown field 'p50' "
                                      r"\(did you mean 'p50_ms'\?\)"),
    (_phone_row(), r"row 1 .*missing required field\(s\) device"),
    (_phone_row(device="P", threads="4"), r"row 1 .*field 'threads' must be an integer, got '4'"),
    (_phone_row(device="P", precision="int4"), r"field 'precision' is 'int4'; valid: fp32, fp16, int8"),
    (_phone_row(device="P", p50_ms=0), r"p50_ms > 0"),
    (_phone_row(device="P", p50_ms=None), r"missing a central latency: give p50_ms \(median\) or mean_ms \(mean\)"),
    (_phone_row(device="P", p50_ms=None, mean_ms=-1.0), r"mean_ms > 0 .*mean_ms=-1\.0"),
    (_phone_row(device="P", simulated="no"), r"field 'simulated' must be true or false"),
])
def test_invalid_rows_name_file_row_and_field(tmp_path, row, message):
    path = _write(tmp_path, [_phone_row(device="P"), row])
    with pytest.raises(InputError, match=message.replace("row 1", "row 2")):
        load_imported_rows(path)


@pytest.mark.parametrize("content, message", [
    ("{not json", r"phone\.json: not valid JSON \(.* line 1, column 2\)"),
    ({"device": "P"}, r"must hold a 'rows' list"),
    ([], r"non-empty list"),
    ({"device": "P", "colour": "red", "rows": [_phone_row()]}, r"phone\.json \(top level\): unknown field 'colour'"),
    ([["not", "an", "object"]], r"row 1: expected an object of bench fields, got list"),
])
def test_invalid_files(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        load_imported_rows(_write(tmp_path, content))


def test_mean_only_rows_are_accepted_and_compared_mean_to_mean(tmp_path):
    from mocar.bench.rows import comparable_latencies

    rows = load_imported_rows(_write(tmp_path, [_phone_row(device="P", p50_ms=None, mean_ms=4.0)]))
    assert rows[0]["mean_ms"] == 4.0 and rows[0]["p50_ms"] is None
    assert comparable_latencies({"p50_ms": 8.0, "mean_ms": 9.0}, {"p50_ms": 2.0, "mean_ms": 3.0}) == (8.0, 2.0)
    assert comparable_latencies({"p50_ms": 8.0, "mean_ms": 9.0}, rows[0]) == (9.0, 4.0)
    assert comparable_latencies({"p50_ms": 8.0}, rows[0]) is None  # never a median against a mean


@pytest.mark.parametrize("data, message", [
    ({"device": "P", "rows": [_phone_row(), _phone_row(p50=1.0)]}, r"^upload row 2 \('model_fp32\.tflite'\): unknown field"),
    ({"device": "P"}, r"^upload: an object must hold a 'rows' list"),
    ({"device": "P", "colour": "red", "rows": [_phone_row()]}, r"^upload \(top level\): unknown field 'colour'"),
    ("rows", r"^upload: expected a non-empty list"),
])
def test_decoded_rows_are_validated_under_the_name_of_their_source(data, message):
    with pytest.raises(InputError, match=message):
        parse_imported_rows(data, "upload")
    assert parse_imported_rows({"device": "P", "rows": [_phone_row()]}, "upload")[0]["folder"] == "P"


def test_undecodable_files_are_named(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('[{"device": "Téléphone"}]'.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.json: not UTF-8 text \(invalid continuation byte at byte 14\)"):
        load_imported_rows(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="import file not found"):
        load_imported_rows(tmp_path / "nope.json")


def test_docs_list_every_field_and_the_required_ones():
    text = DOCS.read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `(\w+)` \| \w+ \| (yes)? *\|", text, flags=re.M))
    assert set(documented) == set(FIELDS)
    assert {name for name, required in documented.items() if required} == set(REQUIRED_IMPORT_FIELDS)


def test_phone_gpu_rows_are_compared_with_the_gpu_fp32_row(tmp_path):
    from mocar.bench.suite import add_ratios

    rows = load_imported_rows(_write(tmp_path, {"device": "Pixel 7", "rows": [
        _phone_row(delegate="xnnpack", p50_ms=4.0), _phone_row(delegate="gpu", p50_ms=2.0),
        _phone_row(export="m_int8.tflite", precision="int8", delegate="gpu", p50_ms=1.0)]}))
    for row in rows:
        row.setdefault("size_mb", None)
    add_ratios(rows)
    assert [r["speedup_vs_fp32"] for r in rows] == [1.0, 1.0, 2.0]
