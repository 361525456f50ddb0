"""The training loop on a tiny prepared museum: learning, checkpoints, resume, lr finder, eval."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from mocar.errors import CheckpointError, ConfigError
from mocar.train.checkpoint import load_checkpoint, save_checkpoint
from mocar.train.config import TrainConfig
from mocar.train.evaluate import SplitPredictions
from mocar.train.loop import Trainer, fit, resume_config


def _cfg(prepared, out, **kw):
    base = dict(data=str(prepared), out=str(out), preset="mocar_tiny", steps=6, warmup=1, batch_size=8, micro_batch=4,
                input_size=32, resize=40, workers=0, eval_every=3, lr=0.02, progress=False, precision="fp32",
                eval_batch_size=32)
    base.update(kw)
    return TrainConfig(**base)


def test_a_few_steps_reduce_the_loss_on_one_batch(tiny_prepared, tmp_path):
    trainer = Trainer(_cfg(tiny_prepared, tmp_path / "run", mixup_alpha=0.0, steps=40, warmup=1, lr=0.05))
    train_set, _ = trainer.datasets()
    batch = [torch.utils.data.default_collate([train_set[(i, 0)] for i in range(8)])]
    trainer.model.train()
    losses = [trainer.train_step(trainer.model, batch)["loss"] for _ in range(12)]
    assert losses[-1] < 0.7 * losses[0], losses


def test_checkpoint_written_only_when_val_loss_improves(tiny_prepared, tmp_path, monkeypatch):
    trainer = Trainer(_cfg(tiny_prepared, tmp_path / "run"))
    _, val_set = trainer.datasets()
    n, c = len(val_set), len(trainer.class_names)
    sequence = iter([1.0, 0.5, 0.7, 0.4])

    def fake_merge(_shards):
        return SplitPredictions(np.arange(n), np.zeros((n, c), np.float32), np.zeros(n, int), np.zeros(n),
                                np.zeros(n, np.float32), np.zeros((n, 4), np.float32), next(sequence), 0.1, 0.1)

    monkeypatch.setattr("mocar.train.loop.merge_shards", fake_merge)
    best_steps = []
    for step in (1, 2, 3, 4):
        trainer.step = step
        row = trainer._validate(val_set, [], 0.0)
        best_steps.append(row["best"])
        assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == step
    assert best_steps == [True, True, False, True]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["step"] == 4 and best["best_val_loss"] == pytest.approx(0.4) and "optimizer" not in best


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "step": 1})

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1, "the previous checkpoint must survive a failed write"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no temporary file may be left behind"
    (tmp_path / "broken.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_checkpoint(tmp_path / "broken.pt")


def test_resume_ends_with_identical_weights(tiny_prepared, tmp_path):
    fit(_cfg(tiny_prepared, tmp_path / "straight"))
    fit(_cfg(tiny_prepared, tmp_path / "split", stop_after=4))
    assert load_checkpoint(tmp_path / "split" / "last.pt")["step"] == 4
    fit(resume_config(tmp_path / "split"), resume=True)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    rows_a = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_b] == [3, 6] and rows_a[-1]["val_loss"] == rows_b[-1]["val_loss"]


def test_refuses_to_overwrite_a_run(tiny_prepared, tmp_path):
    fit(_cfg(tiny_prepared, tmp_path / "run", steps=3))
    with pytest.raises(ConfigError, match="--resume"):
        fit(_cfg(tiny_prepared, tmp_path / "run", steps=3))


def test_run_folder_contents_and_saved_config(tiny_prepared, tmp_path):
    run = fit(_cfg(tiny_prepared, tmp_path / "run", steps=3, loss="product"))
    for name in ("config.yaml", "best.pt", "last.pt", "metrics.jsonl", "curves.png", "classes.json", "data_config.json"):
        assert (run / name).is_file(), name
    cfg = resume_config(run)
    assert cfg.loss == "product" and cfg.steps == 3
    state = load_checkpoint(run / "best.pt")
    assert state["model_config"]["arch"] == "mocar" and state["data_config"]["input_size"] == 32


def test_lr_find_restores_the_model(tiny_prepared, tmp_path):
    trainer = Trainer(_cfg(tiny_prepared, tmp_path / "lr", lr_find={"lr_min": 1e-4, "lr_max": 1.0, "num_steps": 8}))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.find_lr()
    assert 1e-5 < result.suggested_lr < 1.0 and len(result.lrs) >= 2
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert (tmp_path / "lr" / "lr_find.png").is_file() and trainer.step == 0


def test_eval_writes_metrics_consistent_with_predictions(tiny_prepared, tmp_path):
    from mocar.train.eval_run import evaluate_run
    from mocar.train.metrics import read_predictions

    run = fit(_cfg(tiny_prepared, tmp_path / "run", steps=3, preset="maxavgcat_tiny"))
    metrics = evaluate_run(run, "test")
    preds = read_predictions(run / "predictions_test.parquet")
    assert metrics["n"] == len(preds) == len(pd.read_parquet(tiny_prepared / "manifest.parquet").query("split == 'test'"))
    assert metrics["top1"] == pytest.approx(float((preds["pred"] == preds["true"]).mean()))
    saved = json.loads((run / "eval_test.json").read_text())
    assert saved["top1"] == metrics["top1"] and saved["arch"] == "maxavgcat"
    assert (run / "confusion_test.png").is_file()


def test_missing_or_broken_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_yaml(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match="stepz"):
        TrainConfig.from_yaml(tmp_path / "typo.yaml")
