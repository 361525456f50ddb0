"""`mocar bench --android`: adb choreography against a fake adb that emulates a phone's file system.

The fake (a Python script written into tmp_path) logs every call, keeps the "phone" as a folder
(``phone/data/local/tmp/...``) so pushes and removals are real, and prints ``benchmark_model`` output
in the tool's documented format (tests/test_bench_latency.py) with a mean that depends on the threads.
"""
import json
import shlex
import sys

import numpy as np
import pytest

from mocar.bench.android import AndroidBenchConfig, bench_on_device
from mocar.bench.errors import AndroidBenchError
from mocar.errors import InputError

FAKE_ADB = r'''
import json, os, shlex, shutil, sys
from pathlib import Path

root, log = Path(os.environ["FAKE_PHONE"]), Path(os.environ["FAKE_ADB_LOG"])
args = sys.argv[1:]
with log.open("a") as handle:
    handle.write(json.dumps(args) + "\n")
serial = None
if args[:1] == ["-s"]:
    serial, args = args[1], args[2:]
props = {"ro.product.manufacturer": "Google", "ro.product.model": "Pixel 7", "ro.build.version.release": "14",
         "ro.build.version.sdk": "34", "ro.product.cpu.abi": "arm64-v8a", "ro.soc.model": "GS201",
         "ro.board.platform": "gs201"}
OUTPUT = """INFO: STARTING!
INFO: Num threads: [{threads}]
INFO: Running benchmark for at least 2 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=4 first=30000 curr=20000 min=20000 max=30000 avg=25000 std=4000
INFO: Running benchmark for at least 7 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=60 first=12000 curr={avg} min={low} max=12000 avg={avg} std=300
INFO: Inference timings in us: Init: 15000, First inference: 12000, Warmup (avg): 25000, Inference (avg): {avg}
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE.
INFO: Peak memory footprint (MB): init=3.5, overall=41.25
"""

def phone(path):
    return root / path.lstrip("/")

if args == ["devices"]:
    print("List of devices attached")
    print(os.environ.get("FAKE_DEVICES", "PIXEL123\tdevice").replace("|", "\n"))
elif args[0] == "push":
    assert serial, "push without -s"
    target = phone(args[2])
    assert target.parent.is_dir(), f"no folder {target.parent}"
    shutil.copy(args[1], target)
elif args[0] == "shell":
    words = shlex.split(args[1])
    if words[0] == "getprop":
        print(props.get(words[1], ""))
    elif words[:2] == ["mkdir", "-p"]:
        phone(words[2]).mkdir(parents=True)
    elif words[:2] == ["chmod", "+x"]:
        phone(words[2]).chmod(0o755)
    elif words[:2] == ["rm", "-rf"]:
        if os.environ.get("FAKE_FAIL_RM"):  # e.g. the phone was unplugged midway
            print("error: device 'PIXEL123' not found", file=sys.stderr)
            sys.exit(1)
        shutil.rmtree(phone(words[2]), ignore_errors=True)
    elif os.access(phone(words[0]), os.X_OK):
        flags = dict(w[2:].split("=", 1) for w in words[1:])
        assert phone(flags["graph"]).is_file(), flags["graph"]
        if os.environ.get("FAKE_FAIL_GRAPH", "//") in flags["graph"]:
            print("ERROR: Failed to apply the delegate")
            sys.exit(1)
        if os.environ.get("FAKE_SILENT_FAILURE"):  # an old adb: exit 0 although the tool failed
            print("INFO: STARTING!")
            sys.exit(0)
        threads = int(flags["num_threads"])
        print(OUTPUT.format(threads=threads, avg=10000 // threads, low=9000 // threads))
    else:
        print(f"/system/bin/sh: {words[0]}: not found", file=sys.stderr)
        sys.exit(127)
else:
    sys.exit(f"fake adb: unknown command {args}")
'''


def _tiny_tflite(path, precision, flavour):
    """A minimal valid TFLite flatbuffer carrying mocar metadata (no TensorFlow needed)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from mocar.runtime.tflite_file import TFLITE_FILE_IDENTIFIER, embed_tflite_metadata

    model = schema.ModelT()
    model.version, model.buffers, model.subgraphs = 3, [schema.BufferT()], []
    builder = flatbuffers.Builder(64)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_FILE_IDENTIFIER)
    path.write_bytes(builder.Output())
    embed_tflite_metadata(path, {"format": "tflite", "precision": precision, "quantization": {"flavour": flavour},
                                 "model": {"preset": "mocar_tiny", "backbone": "bit_tiny"}})
    return path


@pytest.fixture
def phone(tmp_path, monkeypatch):
    """(config factory, log reader, phone root) with one connected fake device."""
    pytest.importorskip("ai_edge_litert")
    adb = tmp_path / "fake_adb"
    adb.write_text(f"#!{sys.executable}\n{FAKE_ADB}")
    adb.chmod(0o755)
    root, log = tmp_path / "phone", tmp_path / "adb.log"
    (root / "data/local/tmp").mkdir(parents=True)
    (root / "data/local/tmp/keep.txt").write_text("the user's file")
    monkeypatch.setenv("FAKE_PHONE", str(root))
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    exports = tmp_path / "export"
    exports.mkdir()
    _tiny_tflite(exports / "model_fp32.tflite", "fp32", "float32")
    _tiny_tflite(exports / "model_int8_dynamic_range.tflite", "int8", "dynamic_range")
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF fake")

    def config(**changes):
        return AndroidBenchConfig(**{"benchmark_binary": binary, "adb": str(adb), "threads": (1, 4), "runs": 7,
                                     "warmup": 2, **changes})

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return config, calls, root, exports


def _phone_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_rows_commands_and_cleanup(phone):
    config, calls, root, exports = phone
    before = _phone_files(root)
    rows = bench_on_device(config(), [exports])
    assert _phone_files(root) == before  # the phone is left as found (the user's file untouched)
    assert [(r["export"], r["threads"]) for r in rows] == [
        ("model_fp32.tflite", 1), ("model_fp32.tflite", 4),
        ("model_int8_dynamic_range.tflite", 1), ("model_int8_dynamic_range.tflite", 4)]
    fp32_1, _, int8_1, int8_4 = rows
    assert int8_4["mean_ms"] == pytest.approx(2.5) and fp32_1["mean_ms"] == pytest.approx(10.0)
    assert int8_4["min_ms"] == pytest.approx(2.25) and int8_4["max_ms"] == pytest.approx(12.0)
    assert int8_4["std_ms"] == pytest.approx(0.3) and int8_4["timed_runs"] == 60  # the last count= line
    assert int8_4["p50_ms"] is None and int8_4["throughput_ips"] == pytest.approx(400.0)  # no invented median
    assert int8_4["load_s"] == pytest.approx(0.015) and int8_4["peak_memory_mb"] == pytest.approx(41.25)
    assert (int8_1["precision"], int8_1["flavour"]) == ("int8", "dynamic_range")
    assert int8_1["model"] == "mocar_tiny · bit_tiny"
    assert fp32_1["size_mb"] == pytest.approx((exports / "model_fp32.tflite").stat().st_size / 1e6)
    assert (fp32_1["device"], fp32_1["os"]) == ("Google Pixel 7", "Android 14 (API 34)")
    assert fp32_1["cpu"] == "GS201 (arm64-v8a)"
    assert (fp32_1["folder"], fp32_1["imported"], fp32_1["delegate"], fp32_1["runtime"]) == \
        ("Google Pixel 7", True, "xnnpack", "litert benchmark_model")

    log = calls()
    assert log[0] == ["devices"] and all(c[:2] == ["-s", "PIXEL123"] for c in log[1:])
    runs = [shlex.split(c[3]) for c in log[1:] if c[2] == "shell" and "benchmark_model" in c[3].split()[0]]
    remote = runs[0][0].rsplit("/", 1)[0]
    assert remote.startswith("/data/local/tmp/mocar_bench_")
    assert runs[1] == [f"{remote}/benchmark_model", f"--graph={remote}/0_model_fp32.tflite", "--num_threads=4",
                       "--num_runs=7", "--warmup_runs=2", "--use_xnnpack=true"]
    assert [r[2] for r in runs] == ["--num_threads=1", "--num_threads=4"] * 2
    assert log[-1][2:] == ["shell", f"rm -rf {remote}"]


def test_gpu_rows_use_the_gpu_flag(phone):
    config, calls, _, exports = phone
    rows = bench_on_device(config(threads=(2,), gpu=True), [exports])
    assert [(r["export"], r["delegate"]) for r in rows] == [
        ("model_fp32.tflite", "xnnpack"), ("model_fp32.tflite", "gpu"),
        ("model_int8_dynamic_range.tflite", "xnnpack"), ("model_int8_dynamic_range.tflite", "gpu")]
    flags = [c[3].split()[-1] for c in calls() if "--graph=" in c[-1]]
    assert flags == ["--use_xnnpack=true", "--use_gpu=true"] * 2


def test_failed_run_midway_still_removes_everything_pushed(phone, monkeypatch):
    config, calls, root, exports = phone
    before = _phone_files(root)
    monkeypatch.setenv("FAKE_FAIL_GRAPH", "model_int8")
    with pytest.raises(AndroidBenchError, match=r"(?s)exit code 1.*Failed to apply the delegate"):
        bench_on_device(config(), [exports])
    assert _phone_files(root) == before
    log = calls()
    pushed = [c[4] for c in log[1:] if c[2] == "push"]
    remote = pushed[0].rsplit("/", 1)[0]
    assert len(pushed) == 3 and all(p.startswith(remote + "/") for p in pushed)
    assert log[-1][2:] == ["shell", f"rm -rf {remote}"]


def test_output_without_timings_names_the_run_and_cleans_up(phone, monkeypatch):
    config, calls, root, exports = phone
    before = _phone_files(root)
    monkeypatch.setenv("FAKE_SILENT_FAILURE", "1")
    with pytest.raises(AndroidBenchError, match=r"Google Pixel 7: model_fp32\.tflite \(xnnpack, 1 threads\): "
                                                r"benchmark_model output has no 'Inference timings in us:' line"):
        bench_on_device(config(), [exports])
    assert _phone_files(root) == before and calls()[-1][2:3] == ["shell"] and calls()[-1][3].startswith("rm -rf ")


def test_a_failed_cleanup_does_not_hide_the_error_that_stopped_the_run(phone, monkeypatch):
    config, calls, root, exports = phone
    monkeypatch.setenv("FAKE_SILENT_FAILURE", "1")
    monkeypatch.setenv("FAKE_FAIL_RM", "1")
    with pytest.warns(UserWarning, match="could not remove /data/local/tmp/mocar_bench_"), \
            pytest.raises(AndroidBenchError, match="no 'Inference timings in us:' line"):
        bench_on_device(config(), [exports])
    monkeypatch.delenv("FAKE_SILENT_FAILURE")
    with pytest.raises(AndroidBenchError, match=r"rm -rf /data/local/tmp/mocar_bench_\w+'` failed"):
        bench_on_device(config(), [exports])  # a run that succeeded: the failed removal is the error


@pytest.mark.parametrize("devices, serial, message", [
    ("", None, r"no Android device connected"),
    ("AAA\tdevice|BBB\tdevice", None, r"several devices connected: AAA \(device\), BBB \(device\); choose one with "
                                      r"--android SERIAL"),
    ("AAA\tdevice", "CCC", r"device 'CCC' is not connected; connected: AAA \(device\)"),
    ("AAA\tunauthorized", None, r"device 'AAA' is unauthorized, not ready"),
])
def test_device_errors_are_clear_and_touch_nothing(phone, monkeypatch, devices, serial, message):
    config, calls, _, exports = phone
    monkeypatch.setenv("FAKE_DEVICES", devices)
    with pytest.raises(AndroidBenchError, match=message):
        bench_on_device(config(serial=serial), [exports])
    assert calls() == [["devices"]]


def test_serial_picks_one_of_several(phone, monkeypatch):
    config, calls, _, exports = phone
    monkeypatch.setenv("FAKE_DEVICES", "AAA\tdevice|BBB\tdevice")
    rows = bench_on_device(config(serial="BBB", threads=(1,)), [exports])
    assert len(rows) == 2 and all(c[:2] == ["-s", "BBB"] for c in calls()[1:])


def test_missing_binary_adb_or_tflite(phone, tmp_path):
    config, calls, _, exports = phone
    with pytest.raises(InputError, match=r"--benchmark-binary .*nope: file not found"):
        bench_on_device(config(benchmark_binary=tmp_path / "nope"), [exports])
    with pytest.raises(InputError, match=r"adb not found: '/no/adb'"):
        bench_on_device(config(adb="/no/adb"), [exports])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \.tflite file in .*empty"):
        bench_on_device(config(), [tmp_path / "empty"])
    assert calls() == []


def test_phone_rows_compare_means_with_means(phone):
    from mocar.bench.suite import add_ratios

    config, _, _, exports = phone
    rows = bench_on_device(config(threads=(4,)), [exports])
    desktop = {"folder": "export", "model": "mocar_tiny · bit_tiny", "export": "model_fp32.tflite", "format": "tflite",
               "precision": "fp32", "threads": 4, "p50_ms": 99.0, "mean_ms": 50.0, "size_mb": 1.0}
    add_ratios([desktop, *rows])
    assert rows[1]["speedup_vs_fp32"] == pytest.approx(1.0)  # same mean on the fake phone: 10000 // 4 us
    assert rows[0]["size_ratio"] == pytest.approx(1.0) and desktop["speedup_vs_fp32"] == pytest.approx(1.0)


def test_report_names_the_mean_column(phone):
    from mocar.bench.report import columns_for, format_bench_table

    config, _, _, exports = phone
    rows = bench_on_device(config(threads=(1,)), [exports])
    keys = [key for key, _, _ in columns_for(rows)]
    assert keys.index("mean_ms") == keys.index("p50_ms") + 1 and "peak_memory_mb" in keys
    assert "| 10.00 |" in format_bench_table(rows)


def test_cli_requires_the_binary(tmp_path, capsys):
    from mocar.cli import main

    assert main(["bench", "--exports", str(tmp_path), "--android"]) == 2
    assert "--android needs --benchmark-binary" in capsys.readouterr().err


def test_write_rows_do_not_depend_on_numpy_types(phone):
    config, _, _, exports = phone
    rows = bench_on_device(config(threads=(1,)), [exports])
    json.dumps(rows)  # plain JSON values, as bench.json needs
    assert not any(isinstance(v, np.generic) for r in rows for v in r.values())

