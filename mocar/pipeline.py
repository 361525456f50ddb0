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
    out: str = "runs/demo"
    objects: int = 2000
    image_size: int = 128
    seed: int = 0


def _stage(name: str) -> None:
    print(f"\n== {name} ==", flush=True)


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
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\ndemo finished; everything is under {out}/")
    return summary
