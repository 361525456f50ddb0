"""The distilled-student targets measured on this machine: int8 speed of BatchNorm students vs the BiT teacher.

Part 1, paper scale (latency only): the teacher ``mocar_r50x1`` (BiT-R50x1, GroupNorm) and the
student presets at ``--img-size`` (224) with the demo's 8 classes. No pretrained weights or real
training data exist here, so every model is **randomly initialised**: a run folder is written
from an untrained :class:`mocar.train.loop.Trainer` (its resolved config files plus a ``best.pt``
of its initial state), exported with :func:`mocar.export.run.export_run` (ONNX and TFLite, fp32
and int8) and all export folders are timed side by side in ONE :func:`mocar.bench.suite.run` on
the demo's validation images. Latency and file sizes are meaningful; the int8 top-1 agreement of
a random network is only a smoke check (its logits carry no class evidence).

Part 2, demo scale (``--demo runs/demo``, after ``mocar demo`` finished): accuracy of the real
distilled demo student (``student_tiny``) vs its teacher (``mocar_tiny``) from the runs'
``eval_test.json``, and their latency from the demo's own bench report (both export folders
benchmarked side by side at the demo's input size).

Targets (set for 2 threads; judged at every thread count measured): student int8 vs student fp32
>= 2.5x on onnxruntime and on TFLite; student int8 vs teacher fp32 >= 5x (same runtime); int8 top-1
agreement >= 99 %; demo student top-1 within 2 points and year MAE within 10 % of the teacher.
"Best int8" is the fastest int8 flavour of a runtime at that thread count. The summaries are
:func:`mocar.bench.speedups.summarise`, the verdicts :mod:`mocar.bench.targets` (decided by
:mod:`mocar.runtime.policy`).

Usage:
    .venv/bin/python benchmarks/student_speed.py --demo runs/demo             # ~40-60 min on 2 cores
    .venv/bin/python benchmarks/student_speed.py --teacher mocar_tiny --models student_tiny \\
        --img-size 64 --runs 3 --threads 1 --work /tmp/ss_smoke --out /tmp/ss_smoke/result   # smoke run
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demo_museum import read_demo_file  # noqa: E402
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.machine import LoadMonitor, LoadRecord, describe_machine  # noqa: E402
from mocar.bench.speedups import cell, format_summary_table, slower_count, summarise  # noqa: E402
from mocar.bench.suite import run as bench_run  # noqa: E402
from mocar.bench.targets import StudentTargets, format_verdicts, judge_accuracy, judge_speed  # noqa: E402
from mocar.export.run import export_run, manifest_failures  # noqa: E402
from mocar.quantize.request import Int8Request  # noqa: E402
from mocar.train.checkpoint import save_checkpoint  # noqa: E402
from mocar.train.config import TrainConfig  # noqa: E402
from mocar.train.loop import Trainer  # noqa: E402
from mocar.utils.io import json_safe, read_yaml  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "student_speed"
STUDENTS = ("student_resnet50", "student_resnet18", "student_efficientnet_lite0", "student_mobilenetv2_100",
            "student_mobilenetv3_large")
ONNX_INT8 = ("u8s8_conv", "u8s8_all")
TFLITE_INT8 = ("dynamic_range", "integer_quant", "full_integer_quant")
RUNTIME_VERSIONS = ("onnx", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert")


# ----------------------------------------------------------------------------- part 1: build, export, bench
def make_untrained_run(preset: str, data: Path, run_dir: Path, img_size: int, resize: int) -> Path:
    """A valid run folder holding a preset's randomly initialised model (no training step).

    The Trainer resolves and writes the run's config files exactly as ``mocar train`` would; its
    initial state (without the optimiser, like ``best.pt`` after training) is saved as ``best.pt``.
    """
    if (run_dir / "best.pt").is_file():
        return run_dir
    cfg = TrainConfig(data=str(data), out=str(run_dir), preset=preset, steps=1, warmup=0, input_size=img_size,
                      resize=resize, precision="fp32", progress=False, workers=0)
    trainer = Trainer(cfg)
    trainer.write_run_files()
    state = trainer.state()
    state.pop("optimizer")
    save_checkpoint(run_dir / "best.pt", state)
    return run_dir


def export_model(run_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """ONNX + TFLite, fp32 + int8 (the chosen flavours) of one run; reuses a finished folder with --skip-export."""
    manifest_file = out / "manifest.json"
    if args.skip_export and manifest_file.is_file():
        return json.loads(manifest_file.read_text(encoding="utf-8"))
    return export_run(run_dir, out, formats=["onnx", "tflite"], precisions=["fp32", "int8"],
                      calib_images=args.calib_images, data=str(args.data),
                      int8=Int8Request(onnx=args.onnx_int8, tflite=args.tflite_int8), threads=2)


def export_summary(preset: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Seconds and status per format, and every failure verbatim."""
    exports, parities = manifest_failures(manifest)
    return {"preset": preset, "formats": {f: {"status": r["status"], "seconds": r["seconds"], "reason": r["reason"]}
                                          for f, r in manifest["formats"].items()},
            "files": len(manifest["files"]), "export_failures": exports, "parity_failures": parities}


def run_paper_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Builds, exports and benchmarks the teacher and the students; returns rows, summaries, verdicts, load."""
    work = Path(args.work)
    presets = [args.teacher, *args.models]
    exports, export_info = [], []
    with LoadMonitor() as export_load:
        for preset in presets:
            run_dir = make_untrained_run(preset, args.data, work / "runs" / preset, args.img_size, args.resize)
            print(f"[student_speed] exporting {preset}", file=sys.stderr, flush=True)
            manifest = export_model(run_dir, work / "exports" / preset, args)
            export_info.append(export_summary(preset, manifest))
            exports.append(work / "exports" / preset)
    bench_dir = work / "bench"
    if args.skip_bench and (bench_dir / "bench.json").is_file():
        bench = json.loads((bench_dir / "bench.json").read_text(encoding="utf-8"))
        bench_load = LoadRecord(**json.loads((bench_dir / "load.json").read_text(encoding="utf-8")))
    else:
        with LoadMonitor() as monitor:
            bench = bench_run(exports, data_dir=args.data, split="val", threads=args.threads, runs=args.runs,
                              warmup=args.warmup, out=bench_dir, progress=False)
        bench_load = monitor.record
        (bench_dir / "load.json").write_text(json.dumps(asdict(bench_load)), encoding="utf-8")
    summaries = summarise(bench["rows"], teacher=bench["folders"][0]["label"])
    return {"exports": export_info, "export_load": asdict(export_load.record), "bench_load": asdict(bench_load),
            "bench_dir": str(bench_dir), "images": bench["images"], "summaries": summaries,
            "verdicts": judge_speed(summaries, args.targets), "rows": bench["rows"]}


# ----------------------------------------------------------------------------- part 2: the demo
def run_demo_scale(demo: Path, targets: StudentTargets) -> dict[str, Any]:
    """Accuracy (eval_test.json of both runs) and latency (the demo's bench.json) of the distilled demo student."""
    teacher_eval = json.loads(read_demo_file(demo / "run" / "eval_test.json"))
    student_eval = json.loads(read_demo_file(demo / "student" / "eval_test.json"))
    bench = json.loads(read_demo_file(demo / "bench" / "bench.json"))
    if "folders" not in bench or len(bench["folders"]) < 2:
        raise SystemExit(f"{demo}/bench/bench.json holds one export folder; rerun `mocar demo` to bench the student")
    teacher = bench["folders"][0]["label"]
    summaries = summarise(bench["rows"], teacher)
    qualified = summarise(bench["rows"], teacher, policy=targets.agreement_policy())
    size = _demo_input_size(demo)
    keys = ("top1", "top5", "macro_f1", "year_mae", "n", "step")
    return {"teacher_eval": {k: teacher_eval.get(k) for k in keys},
            "student_eval": {k: student_eval.get(k) for k in keys},
            "split": bench["split"], "images": bench["images"], "folders": bench["folders"], "input_size": size,
            "summaries": summaries, "qualified_summaries": qualified, "rows": bench["rows"],
            "verdicts": judge_accuracy(teacher_eval, student_eval, targets) + judge_speed(summaries, targets)}


def _demo_input_size(demo: Path) -> int | None:
    config = demo / "demo_config.yaml"
    return int(read_yaml(config)["input_size"]) if config.is_file() else None


# ----------------------------------------------------------------------------- reporting
def _paper_section(paper: dict[str, Any], args: argparse.Namespace) -> list[str]:
    failures = [f"- {e['preset']}: {line}" for e in paper["exports"] for line in e["export_failures"]]
    parity = [f"- {e['preset']}: {line}" for e in paper["exports"] for line in e["parity_failures"]]
    seconds = ", ".join(f"{e['preset']} " + "/".join(f"{f} {r['seconds']:.0f} s" for f, r in e["formats"].items())
                        for e in paper["exports"])
    return [
        f"## Part 1: paper scale, {args.img_size} px, random init (latency; agreement is a smoke check only)", "",
        f"Teacher `{args.teacher}`; students {', '.join(f'`{m}`' for m in args.models)}. One `mocar.bench.suite.run` "
        f"over all export folders, val split ({paper['images']} demo images, resized to {args.img_size} px), batch 1, "
        f"{args.runs} timed runs after {args.warmup} warm-up. ONNX int8 flavours {', '.join(args.onnx_int8)}; "
        f"TFLite int8 flavours {', '.join(args.tflite_int8)}; {args.calib_images} calibration images.", "",
        f"- export phase: {LoadRecord(**paper['export_load']).describe()}",
        f"- bench phase: {LoadRecord(**paper['bench_load']).describe()}",
        f"- export seconds: {seconds}", "",
        format_summary_table(paper["summaries"]), "",
        _threads_note(paper["rows"]), "",
        "### Targets per thread count (set for 2 threads)", "", format_verdicts(paper["verdicts"]), "",
        "Random-init caveat: the agreement figures compare a random network's int8 and float logits; they show "
        "that the int8 graph computes the same function, not that a trained student keeps its accuracy.", "",
        "### Export failures (verbatim)", "", *(failures or ["- none"]), "",
        "### Files outside their export parity tolerance (still benchmarked)", "", *(parity or ["- none"]), ""]


def _threads_note(rows: Sequence[Mapping[str, Any]]) -> str:
    slower, timed = slower_count(rows)
    loads = [r["load_1m"] for r in rows if r.get("load_1m") is not None]
    load = f"; 1-min load while rows were timed {min(loads):.1f}-{max(loads):.1f}" if loads else ""
    return (f"Thread scaling: {slower} of {timed} files were slower at their largest thread count than at "
            f"their smallest{load}. Where this is common, other processes held a core and the multi-thread "
            "figures (and their ratios) are skewed; the 1-thread figures are the steadier ones.")


def _demo_section(demo: dict[str, Any]) -> list[str]:
    t, s = demo["teacher_eval"], demo["student_eval"]
    return [
        f"## Part 2: demo scale (trained teacher vs distilled student, {demo['input_size']} px)", "",
        f"Accuracy from `run/eval_test.json` and `student/eval_test.json` (test split, {t.get('n')} images); latency "
        f"from the demo's own bench (`bench/bench.json`, split {demo['split']}, {demo['images']} images, folders "
        f"{', '.join(f['label'] + ' = ' + f['model'] for f in demo['folders'])}).", "",
        "| model | top-1 | top-5 | macro F1 | year MAE |", "|---|---|---|---|---|",
        *(f"| {name} | {cell(e['top1'], 4)} | {cell(e['top5'], 4)} | {cell(e['macro_f1'], 4)} "
          f"| {cell(e['year_mae'], 1)} |" for name, e in (("teacher", t), ("student", s))),
        "", "Fastest int8 file per runtime (any agreement):", "", format_summary_table(demo["summaries"]), "",
        "Fastest int8 file per runtime among those with top-1 agreement ≥ 99 % (\"-\": none reaches it); the "
        "targets below are judged on the fastest file above, speed and agreement of the same file:", "",
        format_summary_table(demo["qualified_summaries"]), "",
        _threads_note(demo["rows"]), "",
        "### Targets per thread count (set for 2 threads)", "", format_verdicts(demo["verdicts"]), ""]


def write_results(out: Path, header: dict[str, Any], paper: dict[str, Any] | None, demo: dict[str, Any] | None,
                  args: argparse.Namespace) -> None:
    """``<out>.md`` (command, machine, load, tables, verdicts) and ``<out>.json`` (the same plus raw rows)."""
    text = ["# Student speed: BatchNorm students vs the BiT teacher", "",
            f"Command: `{header['command']}`", f"Date: {header['date']}", "", "Machine:",
            *machine_lines(header["machine"]), f"- whole run: {LoadRecord(**header['load']).describe()}", ""]
    text += _paper_section(paper, args) if paper else []
    text += _demo_section(demo) if demo else []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(text) + "\n", encoding="utf-8")
    payload = {**header, "targets": asdict(args.targets), "paper": _plain(paper), "demo": _plain(demo)}
    out.with_suffix(".json").write_text(json.dumps(json_safe(payload), indent=2) + "\n", encoding="utf-8")


def _plain(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """A section with its summaries and verdicts as dicts (JSON-ready)."""
    if section is None:
        return None
    plain = {key: [asdict(item) for item in value] if key in ("summaries", "qualified_summaries", "verdicts")
             else value for key, value in section.items()}
    return plain


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/mocar_student_speed", help="scratch: run folders, exports, bench")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="results path without suffix")
    parser.add_argument("--data", type=Path, default=Path("runs/demo/prepared"), help="prepared data (read only)")
    parser.add_argument("--teacher", default="mocar_r50x1", help="teacher preset (first folder of the bench)")
    parser.add_argument("--models", default=",".join(STUDENTS), help="comma-separated student presets")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--resize", type=int, help="resize side (default img-size * 256 / 224)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--calib-images", type=int, default=50)
    parser.add_argument("--onnx-int8", default=",".join(ONNX_INT8), help="ONNX int8 flavours")
    parser.add_argument("--tflite-int8", default=",".join(TFLITE_INT8), help="TFLite int8 flavours")
    parser.add_argument("--skip-export", action="store_true", help="reuse finished export folders in --work")
    parser.add_argument("--skip-bench", action="store_true", help="reuse --work/bench/bench.json (tables only)")
    parser.add_argument("--skip-paper", action="store_true", help="only part 2 (needs --demo)")
    parser.add_argument("--demo", type=Path, help="finished demo folder for part 2, e.g. runs/demo")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.threads = tuple(int(t) for t in args.threads.split(","))
    args.onnx_int8 = tuple(f for f in args.onnx_int8.split(",") if f)
    args.tflite_int8 = tuple(f for f in args.tflite_int8.split(",") if f)
    args.resize = args.resize or round(args.img_size * 256 / 224)
    args.targets = StudentTargets()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    header: dict[str, Any] = {"command": command_line(__file__, argv), "date": now(), "machine": describe_machine(RUNTIME_VERSIONS)}
    with LoadMonitor() as load:
        paper = None if args.skip_paper else run_paper_scale(args)
        demo = run_demo_scale(args.demo, args.targets) if args.demo else None
    header["load"] = asdict(load.record)
    write_results(Path(args.out), header, paper, demo, args)
    for section in (paper, demo):
        if section:
            print(format_summary_table(section["summaries"]) + "\n\n" + format_verdicts(section["verdicts"]) + "\n")
    print(f"wrote {Path(args.out).with_suffix('.md')} and .json")


if __name__ == "__main__":
    main()
