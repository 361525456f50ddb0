"""The main job: the whole pipeline on the built-in demo museum (`mocar demo`, `make demo`).

Every stage writes under one folder (default ``runs/demo``) and is skipped when its output is
already complete, so an interrupted demo resumes where it stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mocar.bench.int8_search import search_export
from mocar.bench.report import verdict_summary
from mocar.bench.search_records import SEARCHED_RUNTIMES, load_search_records
from mocar.bench.suite import format_bench_table, run
from mocar.data.conditions import parse_conditions
from mocar.data.dataset import PreparedData
from mocar.data.prepare import FIELD, PrepareConfig, format_summary, prepare_dataset
from mocar.data.synth import synthesize_museum
from mocar.export.run import export_run, format_manifest_table
from mocar.field import build_index, calibrate_run, format_calibration, format_prediction, predict_images
from mocar.field.calibrate import calibration_file
from mocar.field.conditions import evaluate_conditions, format_conditions_table
from mocar.mobile.android_assets import write_android_assets
from mocar.mobile.golden import write_export_goldens
from mocar.mobile.web import RuntimeUnavailableError, build_site
from mocar.train.config import TrainConfig
from mocar.train.distill import distill
from mocar.train.eval_run import evaluate_run, format_eval
from mocar.train.loop import fit, resume_config
from mocar.utils.io import write_yaml

# An int8 file that is not at least this much faster than fp32 is not worth its agreement risk: the
# demo teacher's passing int8 files run at ~1.0x (GroupNorm stays float between int8 convolutions).
DEMO_MIN_SPEEDUP = 1.1
# Museum photos vs phone photos of the same objects: accuracy, coverage and every export's agreement.
DEMO_CONDITIONS = "museum,field"

@dataclass
class DemoConfig:
    """The demo's knobs; training values are sized for a few minutes on 2 CPU cores.

    ``field_photos``: also render every object as a phone photo (``mocar data synth --field``); training
    reads the museum photos only, the field photos measure the shift (issue 17).
    """

    out: str = "runs/demo"
    objects: int = 2000
    source_image_size: int = 128
    seed: int = 0
    preset: str = "mocar_tiny"
    train_steps: int = 800
    batch_size: int = 32
    input_size: int = 96
    lr: float = 0.03
    student: str = "student_tiny"
    golden_images: int = 8
    field_photos: bool = True


def _stage(name: str) -> None:
    print(f"\n== {name} ==", flush=True)


def _train(cfg: DemoConfig, prepared: Path, run: Path) -> dict:

    if (run / "last.pt").exists():
        print(f"continuing {run}")
        fit(resume_config(run), resume=True)
    else:
        fit(TrainConfig(data=str(prepared), out=str(run), preset=cfg.preset, steps=cfg.train_steps,
                        batch_size=cfg.batch_size, input_size=cfg.input_size, resize=cfg.input_size + 16,
                        lr=cfg.lr, seed=cfg.seed, channels_last=True, eval_every=cfg.train_steps // 8))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"steps": rows[-1]["step"], "best_val_loss": min(r["val_loss"] for r in rows), "run": str(run)}


def _distill(cfg: DemoConfig, teacher: Path, student: Path) -> dict:

    if (student / "last.pt").exists():
        print(f"continuing {student}")
        distill(None, cfg.student, student, resume=True)
    else:
        distill(teacher, cfg.student, student, steps=cfg.train_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                seed=cfg.seed, channels_last=True, eval_every=cfg.train_steps // 8)
    return {"run": str(student), "preset": cfg.student}


def _evaluate(run: Path) -> dict:

    metrics = evaluate_run(run, "test")
    print(format_eval({k: v for k, v in metrics.items() if k != "per_class"}))
    keys = ("top1", "top5", "macro_f1", "year_mae", "loss_combined")
    return {k: metrics[k] for k in keys if k in metrics}


def _calibrate_and_index(run: Path, field_photos: bool) -> dict:

    if not (run / "calibration.json").exists():
        print(format_calibration(calibrate_run(run)))
    if not (run / "index" / "index.json").exists():
        build_index(run, out=run / "index", dims=128, dtype="int8", rerank="float16", progress=True)
    done = {"calibration": str(run / "calibration.json"), "index": str(run / "index")}
    if field_photos:
        done["conditions"] = _field_conditions(run)
    return done


def _field_conditions(run: Path) -> dict:
    """Recalibrates on the field photos of val, then measures museum vs field photos of test side by side."""
    if not (run / calibration_file(FIELD)).exists():
        calibrate_run(run, condition=FIELD)
    result = evaluate_conditions(run, parse_conditions(DEMO_CONDITIONS))
    print(format_conditions_table(result))
    return {"table": str(run / "conditions_test.md"),
            **{row["condition"]: {"top1": row["top1"]["value"], "n": row["top1"]["n"]} for row in result["rows"]}}


def _export(run: Path, export_dir: Path) -> dict:

    if (export_dir / "manifest.json").exists():
        manifest = json.loads((export_dir / "manifest.json").read_text())
        print(f"reusing {export_dir}")
        print(format_manifest_table(manifest))
    else:
        manifest = export_run(run, export_dir, calib_images=200)  # prints its own table
    return {"dir": str(export_dir), **{k: manifest["summary"][k] for k in ("ok_files", "failed", "parity_failed")},
            "int8_search": _int8_search(export_dir)}


def _int8_search(export_dir: Path) -> dict[str, str]:
    """Per runtime, the fastest int8 file with a few layer groups float that meets the policy on the export's
    selection images, or why none; a file buying less than 1.1x fp32 is refused (ship fp16 or the student)."""
    records = load_search_records(export_dir)
    if set(records) != set(SEARCHED_RUNTIMES):
        results = search_export(export_dir, min_speedup=DEMO_MIN_SPEEDUP, budget_s=120.0)
        records = {runtime: {"reason": result.reason} for runtime, result in results.items()}
    for runtime, record in records.items():
        print(f"int8 search, {runtime}: {record['reason']}")
    return {runtime: record["reason"] for runtime, record in records.items()}


def _android(out: Path, golden_images: int) -> dict:
    """Goldens for the Android core's tests (teacher and student), the student's files as app assets."""
    goldens = []
    for export_dir, run_dir in ((out / "export", out / "run"), (out / "student_export", out / "student")):
        if not (export_dir / "golden").exists():
            goldens += [str(p) for p in write_export_goldens(export_dir, golden_images, run_dir)]
    assets = out / "android_assets"
    if not assets.exists():
        written = write_android_assets(out / "student_export", assets, out / "student" / "index")
        print(f"android assets: {len(written)} files in {assets} (copy into android_demo/app/src/main/assets)")
    return {"goldens": goldens, "assets": str(assets)}


def _bench(export_dir: list[Path], out: Path, field_photos: bool) -> dict:
    import shutil

    conditions = parse_conditions(DEMO_CONDITIONS) if field_photos else ()
    result = run(export_dir, threads=(1, 2), runs=20, warmup=3, out=out / "bench", conditions=conditions)
    print(format_bench_table(result["rows"]))
    failed = [v["text"] for v in result["verdicts"] if not v["passed"]]
    print(verdict_summary(result["verdicts"]) + "".join(f"\n  {line}" for line in failed))
    shutil.copy(out / "bench" / "report.html", out / "report.html")
    return {"report": str(out / "report.html"), "parity_set": result["parity_set"], "policy_failures": failed}


def _predict(run: Path, prepared: Path, seed: int, count: int = 3) -> dict:
    test = PreparedData.load(prepared).split("test")  # museum photos (field photos are another condition)
    photos = test.sample(n=min(count, len(test)), random_state=seed)["image"].tolist()
    answers = predict_images(photos, run_dir=run, index_dir=run / "index")
    print("\n\n".join(format_prediction(a) for a in answers))
    (run / "demo_predictions.json").write_text(json.dumps(answers, indent=2, ensure_ascii=False, default=float))
    return {"photos": photos, "answers": str(run / "demo_predictions.json")}


def _web(out: Path) -> dict:
    """Builds runs/demo/web when npm can supply the browser runtime; otherwise one line on how (never fails)."""
    try:
        site = build_site(out / "export", out / "web")
    except RuntimeUnavailableError as err:
        print(f"web app not built: {err}; then run `mocar web build --export {out / 'export'} --out {out / 'web'}`")
        return {"built": False, "reason": str(err)}
    print(f"web app: {site.out} ({site.total_bytes / 1e6:.1f} MB, answers with {site.app_model}); "
          f"open it with `mocar web serve {site.out}`")
    return {"built": True, "dir": str(site.out), "files": len(site.files), "bytes": site.total_bytes}


def run_demo(cfg: DemoConfig) -> dict:
    """Generate, prepare, train, evaluate, calibrate, index, export, predict; returns a summary dict."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(out / "demo_config.yaml", asdict(cfg))
    summary: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    museum, prepared = out / "museum", out / "prepared"

    _stage("1. demo museum")
    if (museum / "export.csv").exists():
        print(f"reusing {museum}")
    else:
        print(synthesize_museum(museum, n_objects=cfg.objects, source_image_size=cfg.source_image_size, seed=cfg.seed,
                                field=cfg.field_photos))

    _stage("2. prepare")
    if (prepared / "report.json").exists():
        print(f"reusing {prepared}")
        report = json.loads((prepared / "report.json").read_text())
    else:
        result = prepare_dataset(PrepareConfig(export=str(museum / "export.csv"), images=str(museum / "images"),
                                               out=str(prepared), classes=50, min_class_size=10, seed=cfg.seed))
        print(format_summary(result))
        report = result.report
    summary["prepare"] = {k: report[k] for k in ("rows_in", "kept", "rejected", "rejected_by_reason", "splits", "num_classes")}
    # A museum rendered by an older demo (or with field_photos off) has no field photos to measure.
    field_photos = FIELD in PreparedData.load(prepared).conditions

    _stage("3. train MOCaR (tiny BiT preset)")
    run = out / "run"
    summary["train"] = _train(cfg, prepared, run)

    _stage("4. evaluate on the test split")
    summary["eval"] = _evaluate(run)

    _stage("5. calibrate (conformal sets, year intervals, OOD threshold), build the reference index"
           + ("; museum vs field photos" if field_photos else ""))
    summary["field"] = _calibrate_and_index(run, field_photos)

    _stage("6. export ONNX / TFLite / CoreML in fp32, fp16 and int8, each validated; int8 with layers kept float")
    summary["export"] = _export(run, out / "export")

    _stage(f"7. distil a phone-fast student ({cfg.student}) from the MOCaR model, evaluate, index, export")
    student = out / "student"
    summary["student"] = _distill(cfg, run, student)
    summary["student"]["eval"] = _evaluate(student)
    summary["student"]["field"] = _calibrate_and_index(student, field_photos)
    summary["student"]["export"] = _export(student, out / "student_export")

    _stage("8. benchmark every export of both models against their float models (parity, latency, size)")
    summary["bench"] = _bench([out / "export", out / "student_export"], out, field_photos)

    _stage("9. golden vectors and app assets for the Android demo")
    summary["android"] = _android(out, cfg.golden_images)

    _stage("10. identify a few test photos")
    summary["predict"] = _predict(run, prepared, cfg.seed)

    _stage("11. the web app (offline PWA) and the browser benchmark page")
    summary["web"] = _web(out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\ndemo finished; everything is under {out}/ — open {out / 'report.html'}")
    return summary
