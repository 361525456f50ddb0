"""Issue 9's student targets measured on this machine: int8 speed of BatchNorm students vs the BiT teacher.

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

Targets (issue 9 names 2 threads; judged at every thread count measured): student int8 vs
student fp32 >= 2.5x on onnxruntime and on TFLite; student int8 vs teacher fp32 >= 5x (same
runtime); int8 top-1 agreement >= 99 %; demo student top-1 within 2 points and year MAE within
10 % of the teacher. "Best int8" is the fastest int8 flavour of a runtime at that thread count.

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demo_museum import read_demo_file  # noqa: E402
from _machine import LoadMonitor, LoadRecord, command_line, describe_machine, machine_lines, now  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "student_speed"
STUDENTS = ("student_resnet50", "student_resnet18", "student_efficientnet_lite0", "student_mobilenetv2_100",
            "student_mobilenetv3_large")
RUNTIMES = ("onnx", "tflite")  # CoreML rows are simulated on Linux: no latency to judge
ONNX_INT8 = ("u8s8_conv", "u8s8_all")
TFLITE_INT8 = ("dynamic_range", "integer_quant", "full_integer_quant")


@dataclass(frozen=True)
class Targets:
    """Issue 9's thresholds."""

    own_speedup: float = 2.5  # student int8 vs student fp32, same runtime
    teacher_speedup: float = 5.0  # student int8 vs teacher fp32, same runtime
    agreement_pct: float = 99.0  # int8 top-1 agreement with the own float model
    top1_points: float = 2.0  # demo: student top-1 at most this many points below the teacher's
    year_mae_rel_pct: float = 10.0  # demo: student year MAE at most this much above the teacher's


@dataclass
class RuntimeSummary:
    """One model x runtime x thread count: fp32 vs its fastest int8 file, and vs the teacher's fp32."""

    folder: str
    model: str
    runtime: str
    threads: int
    fp32_p50_ms: float | None
    fp32_mb: float | None
    int8_p50_ms: float | None
    int8_flavour: str | None
    int8_mb: float | None
    int8_agreement_pct: float | None
    speedup_own: float | None
    speedup_vs_teacher: float | None
    is_teacher: bool


@dataclass
class Verdict:
    """One target checked on one model/runtime."""

    target: str
    subject: str
    value: float | None
    threshold: float
    met: bool | None  # None: not measurable (a file is missing)
    detail: str


# ----------------------------------------------------------------------------- pure: tables and verdicts
def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def _pick(rows: Sequence[Mapping[str, Any]], folder: str, runtime: str, threads: int, precision: str
          ) -> list[Mapping[str, Any]]:
    return [r for r in rows if r.get("folder") == folder and r.get("format") == runtime
            and r.get("threads") == threads and r.get("precision") == precision and r.get("p50_ms")]


def summarise(rows: Sequence[Mapping[str, Any]], teacher: str, runtimes: Sequence[str] = RUNTIMES,
              min_agreement: float | None = None) -> list[RuntimeSummary]:
    """Per folder x runtime x threads: fp32 p50, fastest int8 p50 and flavour, the speed-ups, sizes, agreement.

    Args:
        rows: ``mocar bench`` rows (``bench.json["rows"]``).
        teacher: The teacher's folder label (the "vs teacher" baseline).
        runtimes: Runtimes (``format`` values) to summarise.
        min_agreement: Only int8 files with at least this top-1 agreement (percent) compete for
            "fastest"; ``None`` lets every int8 file compete.
    """
    keys = sorted({(r["folder"], r["format"], r["threads"]) for r in rows if r.get("format") in runtimes},
                  key=lambda k: (k[0] != teacher, _first_index(rows, k[0]), runtimes.index(k[1]), k[2]))
    summaries = []
    for folder, runtime, threads in keys:
        fp32 = next(iter(_pick(rows, folder, runtime, threads, "fp32")), None)
        candidates = [r for r in _pick(rows, folder, runtime, threads, "int8")
                      if min_agreement is None or (r.get("agreement") or 0.0) >= min_agreement]
        int8 = min(candidates, key=lambda r: r["p50_ms"], default=None)
        teacher_fp32 = next(iter(_pick(rows, teacher, runtime, threads, "fp32")), None)
        get = lambda row, key: row.get(key) if row else None  # noqa: E731
        model = get(fp32, "model") or get(int8, "model") or folder
        summaries.append(RuntimeSummary(
            folder, model, runtime, threads, get(fp32, "p50_ms"), get(fp32, "size_mb"), get(int8, "p50_ms"),
            get(int8, "flavour"), get(int8, "size_mb"), get(int8, "agreement"),
            _ratio(get(fp32, "p50_ms"), get(int8, "p50_ms")), _ratio(get(teacher_fp32, "p50_ms"), get(int8, "p50_ms")),
            folder == teacher))
    return summaries


def _first_index(rows: Sequence[Mapping[str, Any]], folder: str) -> int:
    return next(i for i, r in enumerate(rows) if r.get("folder") == folder)


def slower_with_more_threads(rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(files slower at their largest than at their smallest thread count, files timed at both).

    On an idle 2-core machine a second thread never doubles the latency; when many files get slower,
    other processes held a core while they were timed, and the multi-thread figures are skewed.
    """
    by_file: dict[tuple[str, str], dict[int, float]] = {}
    for r in rows:
        if r.get("p50_ms") and r.get("folder") is not None:
            by_file.setdefault((r["folder"], r["export"]), {})[r["threads"]] = r["p50_ms"]
    timed = [t for t in by_file.values() if len(t) > 1]
    return sum(1 for t in timed if t[max(t)] > t[min(t)]), len(timed)


def _verdict(target: str, subject: str, value: float | None, threshold: float, unit: str, higher_is_better: bool = True
             ) -> Verdict:
    if value is None:
        return Verdict(target, subject, None, threshold, None, "not measured (file missing or failed)")
    met = value >= threshold if higher_is_better else value <= threshold
    if met:
        detail = f"{value:.2f}{unit} (target {'≥' if higher_is_better else '≤'} {threshold:g}{unit}): met"
    elif unit == "x":
        detail = f"{value:.2f}x (target ≥ {threshold:g}x): NOT met, {threshold / value:.2f}x short"
    else:
        detail = f"{value:.2f}{unit} (target {'≥' if higher_is_better else '≤'} {threshold:g}{unit}): NOT met, " \
                 f"{abs(threshold - value):.2f}{unit.strip()} off"
    return Verdict(target, subject, value, threshold, met, detail)


def judge_speed(summaries: Sequence[RuntimeSummary], targets: Targets = Targets(),
                threads: Sequence[int] | None = None) -> list[Verdict]:
    """Issue 9's latency/agreement targets for every student (non-teacher) row, per thread count.

    Args:
        summaries: :func:`summarise` rows.
        targets: The thresholds.
        threads: Thread counts to judge (default: every measured one; issue 9 names 2).
    """
    counts = sorted(set(threads) if threads else {s.threads for s in summaries})
    verdicts = []
    for s in sorted((s for s in summaries if not s.is_teacher and s.threads in counts), key=lambda s: s.threads):
        subject = f"{s.folder} {s.runtime} {s.threads}t ({s.int8_flavour or 'no int8'})"
        verdicts += [
            _verdict("int8 vs own fp32", subject, s.speedup_own, targets.own_speedup, "x"),
            _verdict("int8 vs teacher fp32", subject, s.speedup_vs_teacher, targets.teacher_speedup, "x"),
            _verdict("int8 top-1 agreement", subject, s.int8_agreement_pct, targets.agreement_pct, " %"),
        ]
    return verdicts


def judge_accuracy(teacher_eval: Mapping[str, Any], student_eval: Mapping[str, Any], targets: Targets = Targets()
                   ) -> list[Verdict]:
    """Demo targets: student top-1 within ``top1_points`` and year MAE within ``year_mae_rel_pct`` of the teacher."""
    gap = 100.0 * (teacher_eval["top1"] - student_eval["top1"])  # points the student is behind
    verdicts = [_verdict("top-1 gap to teacher (points)", "demo student", gap, targets.top1_points, " pt", False)]
    teacher_mae, student_mae = teacher_eval.get("year_mae"), student_eval.get("year_mae")
    rel = 100.0 * (student_mae - teacher_mae) / teacher_mae if teacher_mae and student_mae is not None else None
    verdicts.append(_verdict("year MAE above teacher (%)", "demo student", rel, targets.year_mae_rel_pct, " %", False))
    return verdicts


def _cell(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}" if isinstance(value, float) else str(value)


def format_summary_table(summaries: Sequence[RuntimeSummary]) -> str:
    """Markdown table of :func:`summarise` rows."""
    lines = ["| model | runtime | threads | fp32 p50 ms | best int8 p50 ms | int8 flavour | int8 vs own fp32 "
             "| int8 vs teacher fp32 | fp32 MB | int8 MB | int8 agreement % |", "|---" * 11 + "|"]
    for s in summaries:
        name = f"{s.model} (teacher)" if s.is_teacher else s.model
        lines.append(f"| {name} | {s.runtime} | {s.threads} | {_cell(s.fp32_p50_ms)} | {_cell(s.int8_p50_ms)} "
                     f"| {_cell(s.int8_flavour)} | {_cell(s.speedup_own, 2, 'x')} "
                     f"| {_cell(s.speedup_vs_teacher, 2, 'x')} "
                     f"| {_cell(s.fp32_mb, 1)} | {_cell(s.int8_mb, 1)} | {_cell(s.int8_agreement_pct, 1)} |")
    return "\n".join(lines)


def format_verdicts(verdicts: Sequence[Verdict]) -> str:
    """Markdown table of verdicts plus a count line."""
    met = sum(1 for v in verdicts if v.met)
    lines = ["| target | subject | result |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.subject} | {v.detail} |" for v in verdicts]
    return "\n".join(lines) + f"\n\n{met} of {len(verdicts)} checks met."


# ----------------------------------------------------------------------------- part 1: build, export, bench
def make_untrained_run(preset: str, data: Path, run_dir: Path, img_size: int, resize: int) -> Path:
    """A valid run folder holding a preset's randomly initialised model (no training step).

    The Trainer resolves and writes the run's config files exactly as ``mocar train`` would; its
    initial state (without the optimiser, like ``best.pt`` after training) is saved as ``best.pt``.
    """
    from mocar.train.checkpoint import save_checkpoint
    from mocar.train.config import TrainConfig
    from mocar.train.loop import Trainer

    if (run_dir / "best.pt").is_file():
        return run_dir
    cfg = TrainConfig(data=str(data), out=str(run_dir), preset=preset, steps=1, warmup=0, image_size=img_size,
                      resize=resize, precision="fp32", progress=False, workers=0)
    trainer = Trainer(cfg)
    trainer.write_run_files()
    state = trainer.state()
    state.pop("optimizer")
    save_checkpoint(run_dir / "best.pt", state)
    return run_dir


def export_model(run_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """ONNX + TFLite, fp32 + int8 (the chosen flavours) of one run; reuses a finished folder with --skip-export."""
    from mocar.export.run import export_run

    manifest_file = out / "manifest.json"
    if args.skip_export and manifest_file.is_file():
        return json.loads(manifest_file.read_text(encoding="utf-8"))
    options = {"onnx_int8_flavours": list(args.onnx_int8), "tflite_int8_flavours": list(args.tflite_int8)}
    return export_run(run_dir, out, formats=["onnx", "tflite"], precisions=["fp32", "int8"],
                      calib_images=args.calib_images, data=str(args.data), options=options, threads=2)


def export_summary(preset: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Seconds and status per format, and every failure verbatim."""
    from mocar.export.run import manifest_failures

    exports, parities = manifest_failures(manifest)
    return {"preset": preset, "formats": {f: {"status": r["status"], "seconds": r["seconds"], "reason": r["reason"]}
                                          for f, r in manifest["formats"].items()},
            "files": len(manifest["files"]), "export_failures": exports, "parity_failures": parities}


def run_paper_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Builds, exports and benchmarks the teacher and the students; returns rows, summaries, verdicts, load."""
    from mocar.bench.suite import run as bench_run

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
def run_demo_scale(demo: Path, targets: Targets) -> dict[str, Any]:
    """Accuracy (eval_test.json of both runs) and latency (the demo's bench.json) of the distilled demo student."""
    teacher_eval = json.loads(read_demo_file(demo / "run" / "eval_test.json"))
    student_eval = json.loads(read_demo_file(demo / "student" / "eval_test.json"))
    bench = json.loads(read_demo_file(demo / "bench" / "bench.json"))
    if "folders" not in bench or len(bench["folders"]) < 2:
        raise SystemExit(f"{demo}/bench/bench.json holds one export folder; rerun `mocar demo` to bench the student")
    teacher = bench["folders"][0]["label"]
    summaries = summarise(bench["rows"], teacher)
    qualified = summarise(bench["rows"], teacher, min_agreement=targets.agreement_pct)
    size = _demo_input_size(demo)
    keys = ("top1", "top5", "macro_f1", "year_mae", "n", "step")
    return {"teacher_eval": {k: teacher_eval.get(k) for k in keys},
            "student_eval": {k: student_eval.get(k) for k in keys},
            "split": bench["split"], "images": bench["images"], "folders": bench["folders"], "input_size": size,
            "summaries": summaries, "qualified_summaries": qualified, "rows": bench["rows"],
            "verdicts": judge_accuracy(teacher_eval, student_eval, targets) + judge_speed(summaries, targets)}


def _demo_input_size(demo: Path) -> int | None:
    from mocar.utils.io import read_yaml

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
        "### Targets per thread count (issue 9 names 2 threads)", "", format_verdicts(paper["verdicts"]), "",
        "Random-init caveat: the agreement figures compare a random network's int8 and float logits; they show "
        "that the int8 graph computes the same function, not that a trained student keeps its accuracy.", "",
        "### Export failures (verbatim)", "", *(failures or ["- none"]), "",
        "### Files outside their export parity tolerance (still benchmarked)", "", *(parity or ["- none"]), ""]


def _threads_note(rows: Sequence[Mapping[str, Any]]) -> str:
    slower, timed = slower_with_more_threads(rows)
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
        *(f"| {name} | {_cell(e['top1'], 4)} | {_cell(e['top5'], 4)} | {_cell(e['macro_f1'], 4)} "
          f"| {_cell(e['year_mae'], 1)} |" for name, e in (("teacher", t), ("student", s))),
        "", "Fastest int8 file per runtime (any agreement):", "", format_summary_table(demo["summaries"]), "",
        "Fastest int8 file per runtime among those with top-1 agreement ≥ 99 % (\"-\": none reaches it); the "
        "targets below are judged on the fastest file above, speed and agreement of the same file:", "",
        format_summary_table(demo["qualified_summaries"]), "",
        _threads_note(demo["rows"]), "",
        "### Targets per thread count (issue 9 names 2 threads)", "", format_verdicts(demo["verdicts"]), ""]


def write_results(out: Path, header: dict[str, Any], paper: dict[str, Any] | None, demo: dict[str, Any] | None,
                  args: argparse.Namespace) -> None:
    """``<out>.md`` (command, machine, load, tables, verdicts) and ``<out>.json`` (the same plus raw rows)."""
    from mocar.utils.io import json_safe

    text = ["# Student speed (issue 9): BatchNorm students vs the BiT teacher", "",
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
    args.targets = Targets()
    return args


def machine() -> dict[str, str]:
    """_machine's description plus the runtime versions."""
    from mocar.runtime.metadata import package_versions

    versions = package_versions(("onnx", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert"))
    return {**describe_machine(), **{name: str(version) for name, version in versions.items()}}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    header: dict[str, Any] = {"command": command_line(__file__, argv), "date": now(), "machine": machine()}
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
