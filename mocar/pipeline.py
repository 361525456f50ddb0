"""The main job: the whole pipeline on the built-in demo museum (`mocar demo`, `make demo`).

Every stage writes under one folder (default ``runs/demo``) and is skipped when its output is
already complete, so an interrupted demo resumes where it stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mocar.utils.io import write_yaml


@dataclass
class DemoConfig:
    """The demo's knobs; training values are sized for a few minutes on 2 CPU cores."""

    out: str = "runs/demo"
    objects: int = 2000
    image_size: int = 128
    seed: int = 0
    preset: str = "mocar_tiny"
    train_steps: int = 800
    batch_size: int = 32
    input_size: int = 96
    lr: float = 0.03


def _stage(name: str) -> None:
    print(f"\n== {name} ==", flush=True)


def _train(cfg: DemoConfig, prepared: Path, run: Path) -> dict:
    from mocar.train.config import TrainConfig
    from mocar.train.loop import fit, resume_config

    if (run / "last.pt").exists():
        print(f"continuing {run}")
        fit(resume_config(run), resume=True)
    else:
        fit(TrainConfig(data=str(prepared), out=str(run), preset=cfg.preset, steps=cfg.train_steps,
                        batch_size=cfg.batch_size, image_size=cfg.input_size, resize=cfg.input_size + 16,
                        lr=cfg.lr, seed=cfg.seed, channels_last=True, eval_every=cfg.train_steps // 8))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"steps": rows[-1]["step"], "best_val_loss": min(r["val_loss"] for r in rows), "run": str(run)}


def _evaluate(run: Path) -> dict:
    from mocar.train.eval_run import evaluate_run, format_eval

    metrics = evaluate_run(run, "test")
    print(format_eval({k: v for k, v in metrics.items() if k != "per_class"}))
    keys = ("top1", "top5", "macro_f1", "year_mae", "loss_combined")
    return {k: metrics[k] for k in keys if k in metrics}


def run_demo(cfg: DemoConfig) -> dict:
    """Generate the demo museum, prepare it; returns a summary dict (also written as summary.json)."""
    from mocar.data.prepare import PrepareConfig, format_summary, prepare_dataset
    from mocar.data.synth import synthesize_museum

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(out / "demo_config.yaml", asdict(cfg))
    summary: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    museum, prepared = out / "museum", out / "prepared"

    _stage("1. demo museum")
    if (museum / "export.csv").exists():
        print(f"reusing {museum}")
    else:
        print(synthesize_museum(museum, n_objects=cfg.objects, image_size=cfg.image_size, seed=cfg.seed))

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

    _stage("3. train MOCaR (tiny BiT preset)")
    run = out / "run"
    summary["train"] = _train(cfg, prepared, run)

    _stage("4. evaluate on the test split")
    summary["eval"] = _evaluate(run)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\ndemo finished; everything is under {out}/")
    return summary
