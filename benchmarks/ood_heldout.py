"""Does mocar notice an object from a collection it has never seen? (OOD scores on a held-out collection)

Generates the demo museum (once), prepares it twice — complete, and without one collection (the
export rows of that collection are removed before ``prepare``) — trains a tiny model on the known
collections only, builds the reference index from the known training objects, calibrates the OOD
thresholds on the known validation split, then scores:

* known: the test split of the known-collections preparation (in distribution),
* held-out: every image of the held-out collection (never seen in training, not in the index),
  and separately only its test-split images.

Reported per score: AUROC (scikit-learn; held-out = positive), the false-alarm rate on known test
images at the thresholds calibrated for 5 % and 1 %, and the share of held-out images flagged. The
calibration (conformal coverage) and retrieval reports of the same run are written alongside.
Every stage is skipped when its output exists, so an interrupted run continues. The scores and their
comparison are :mod:`mocar.bench.ood_scores`.

    .venv/bin/python benchmarks/ood_heldout.py [--root /tmp/mocar_ood_bench] [--holdout "Museum für Islamische Kunst"]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demo_museum import demo_prepared  # noqa: E402
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402
from mocar.bench.ood_scores import EmbeddingScores, compare_scores, scores_of  # noqa: E402
from mocar.data.dataset import PreparedData  # noqa: E402
from mocar.data.prepare import PrepareConfig, prepare_dataset  # noqa: E402
from mocar.field import build_index, calibrate_run, evaluate_retrieval, format_calibration, format_retrieval  # noqa: E402
from mocar.field.index import ReferenceIndex  # noqa: E402
from mocar.field.runs import open_field_run  # noqa: E402
from mocar.train.config import TrainConfig  # noqa: E402
from mocar.train.loop import fit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def known_prepared(root: Path, museum: Path, holdout: str, seed: int) -> Path:
    """Prepare the museum without the held-out collection (once)."""
    out = root / "known_prepared"
    if (out / "report.json").exists():
        return out
    export = pd.read_csv(museum / "export.csv", dtype=str, keep_default_na=False)
    if holdout not in set(export["collection"]):
        raise SystemExit(f"--holdout {holdout!r} is not a collection of the demo museum: {sorted(set(export['collection']))}")
    filtered = root / "known_export.csv"
    export[export["collection"] != holdout].to_csv(filtered, index=False)
    prepare_dataset(PrepareConfig(export=str(filtered), images=str(museum / "images"), out=str(out), classes=50,
                                  min_class_size=10, seed=seed), progress=False)
    return out


def train(args: argparse.Namespace, data: Path) -> Path:
    run = args.root / "run"
    if (run / "last.pt").exists() and json.loads((run / "metrics.jsonl").read_text().splitlines()[-1]).get("step") == args.steps:
        return run
    fit(TrainConfig(data=str(data), out=str(run), preset=args.preset, steps=args.steps, batch_size=args.batch_size,
                    input_size=args.image_size, resize=args.resize, lr=args.lr, channels_last=True, eval_every=50,
                    workers=args.workers, progress=False, seed=args.seed))
    return run


def write_report(args, rows, counts, calibration, retrieval, load, timings, machine) -> None:
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"# OOD: a held-out collection ({args.holdout})", "",
             f"Command: `{command_line(__file__)}`  ", f"Date: {now()}  ",
             f"Model: {args.preset}, {args.steps} steps, batch {args.batch_size}, {args.image_size} px (resize {args.resize}), "
             f"lr {args.lr}, channels_last; demo museum {args.objects} objects at {args.image_size_museum} px, seed {args.seed}.  ",
             f"Index: the known training objects, PCA {args.dims} + {args.dtype}. Thresholds: conformal quantiles of the "
             f"known **validation** split ({counts['val']} images).  ",
             f"Known test images: {counts['known_test']}; held-out images: {counts['held_out']} "
             f"(of which {counts['held_out_test']} in its test split).", "",
             "| score | AUROC (all held-out) | AUROC (held-out test split) | false alarms @5 % | detected @5 % | false alarms @1 % | detected @1 % |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['score']} | {fmt(r['auroc'])} | {fmt(r['auroc_test_only'])} | {fmt(r['false_alarm@0.05'])} | "
                     f"{fmt(r['detected@0.05'])} | {fmt(r['false_alarm@0.01'])} | {fmt(r['detected@0.01'])} |")
    lines += ["", "Scores: `knnK` = 1 − mean of the K largest cosine similarities to the index; `energy` = −logsumexp(logits); "
              "`msp` = 1 − max softmax; `knn10_centred` = knn10 after subtracting the known training mean (float64, exact); "
              "`mahalanobis` = smallest Mahalanobis distance to an epoch-class mean of the known training embeddings "
              "(shared covariance). mocar ships `knn` (the others are compared here only). "
              "False alarms = known test images above the threshold; detected = held-out images above it.",
              "", "## Calibration of the same run (conformal, test split)", "", "```", format_calibration(calibration), "```",
              "", "## Retrieval of the same run (known test split against the index)", "", "```", format_retrieval(retrieval), "```",
              "", "## Machine and load", *machine_lines(machine), f"- {load.describe()}",
              *[f"- {stage}: {seconds:.0f} s" for stage, seconds in timings.items()]]
    out = RESULTS / "ood_heldout.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "ood_heldout.json").write_text(json.dumps({"rows": rows, "counts": counts, "args": {k: str(v) for k, v in vars(args).items()},
                                                          "timings_s": timings, "load": load.describe(), "machine": machine}, indent=2))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/mocar_ood_bench"))
    parser.add_argument("--holdout", default="Museum für Islamische Kunst")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--image-size-museum", type=int, default=128)
    parser.add_argument("--preset", default="mocar_tiny")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--resize", type=int, default=112)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--dtype", default="int8")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    timings, machine = {}, describe_machine()
    with LoadMonitor() as load:
        started = time.perf_counter()
        full = demo_prepared(args.root / "full", args.objects, args.image_size_museum, args.seed, min_class_size=10)
        data = known_prepared(args.root, args.root / "full" / "museum", args.holdout, args.seed)
        timings["museum + prepare"] = time.perf_counter() - started
        started = time.perf_counter()
        run = train(args, data)
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        timings["training (elapsed_s of the run's last metrics row; the run is reused when complete)"] = last["elapsed_s"]
        timings["training stage of this invocation"] = time.perf_counter() - started
        started = time.perf_counter()
        index_dir = build_index(run, data, out=args.root / "index", dims=args.dims, dtype=args.dtype)
        index, field_run = ReferenceIndex.load(index_dir), open_field_run(run, data)
        manifest = PreparedData.load(full).manifest
        held_frame = manifest[manifest["collection"] == args.holdout].reset_index(drop=True)
        outputs = {"val": field_run.split_outputs("val")[1], "known": field_run.split_outputs("test")[1],
                   "held": field_run.frame_outputs(held_frame)}
        train_frame, train_outputs = field_run.split_outputs("train")
        alternatives = EmbeddingScores(train_outputs.embeddings, train_frame["epoch_idx"].to_numpy())
        scores = {name: scores_of(out, index, alternatives) for name, out in outputs.items()}
        held_test = {name: values[(held_frame["split"] == "test").to_numpy()] for name, values in scores["held"].items()}
        rows = compare_scores(scores["val"], scores["known"], scores["held"], held_test)
        calibration, retrieval = calibrate_run(run, data), evaluate_retrieval(run, index_dir, data_dir=data)
        timings["index + scoring + calibration"] = time.perf_counter() - started
    counts = {"val": len(outputs["val"].indices), "known_test": len(outputs["known"].indices),
              "held_out": len(held_frame), "held_out_test": int((held_frame["split"] == "test").sum())}
    write_report(args, rows, counts, calibration, retrieval, load.record, timings, machine)


if __name__ == "__main__":
    main()
