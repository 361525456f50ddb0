"""`mocar eval`: the paper's metrics on a split, saved predictions (the float reference) and plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mocar.data.dataset import MuseumDataset, PreparedData
from mocar.train.evaluate import predict_dataset
from mocar.train.losses import LossConfig, MocarLoss
from mocar.train.metrics import evaluate_predictions, format_metrics_table, predictions_table, write_predictions
from mocar.train.plots import plot_confusion_matrix, plot_year_scatter
from mocar.train.run_files import load_trained_run
from mocar.utils.io import atomic_write_text, json_safe


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best", data: str | None = None,
                 batch_size: int = 64, save_embeddings: bool = False, progress: bool = True) -> dict:
    """Evaluate a run on ``split``; writes eval_<split>.json, predictions_<split>.parquet and plots."""
    run = load_trained_run(run_dir, checkpoint)
    prepared = PreparedData.load(data or run.train_config["data"])
    frame = prepared.split(split)
    dataset = MuseumDataset(frame, run.data_config, target=run.target, year_mean=run.model_config.year_mean,
                            year_scale=run.model_config.year_scale, preload=False)
    loss_fn = MocarLoss(LossConfig(combination=run.train_config.get("loss", "sum")))
    loss_fn.load_state_dict(run.loss_state)  # the learned task weights of 'uncertainty'
    preds = predict_dataset(run.model, dataset, loss_fn, batch_size)
    year_true = frame["year"].to_numpy(float) if preds.year_pred is not None else None
    metrics = evaluate_predictions(preds.logits, preds.targets, len(run.class_names), run.class_names,
                                   year_pred=preds.year_pred, year_true=year_true)
    metrics.update({"split": split, "checkpoint": str(run.checkpoint), "step": run.step, "arch": run.model_config.arch,
                    "loss_combined": preds.loss, "loss_cls": preds.loss_cls, "loss_reg": preds.loss_reg})
    out = Path(run_dir)
    atomic_write_text(out / f"eval_{split}.json", json.dumps(json_safe(metrics), indent=2, ensure_ascii=False))
    table = predictions_table(frame["id"].tolist(), preds.targets, preds.logits, run.class_names,
                              year_pred=preds.year_pred, year_true=year_true,
                              embeddings=preds.embeddings if save_embeddings else None)
    write_predictions(table, out / f"predictions_{split}.parquet")
    plot_confusion_matrix(np.asarray(metrics["confusion_matrix"]), run.class_names, out / f"confusion_{split}.png")
    if preds.year_pred is not None:
        plot_year_scatter(year_true, preds.year_pred, out / f"year_scatter_{split}.png")
    return metrics


def format_eval(metrics: dict) -> str:
    return format_metrics_table(metrics)
