"""Read a finished (or running) run folder back: its configs and a trained model.

Later stages (eval, export, bench, predict) rebuild everything from the run's own files, never
from the code's current defaults.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from mocar.data.transforms import DataConfig
from mocar.errors import CheckpointError
from mocar.model import ModelConfig, create_model_from_config
from mocar.train.checkpoint import load_checkpoint

CHECKPOINTS = ("best", "last")


@dataclass
class TrainedRun:
    """A model restored from a run folder, with everything needed to use it correctly."""

    root: Path
    checkpoint: Path
    model: torch.nn.Module
    model_config: ModelConfig
    data_config: DataConfig
    class_names: list[str]
    target: str
    train_config: dict
    classes: dict
    step: int
    loss_state: dict


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    """``best``/``last`` or an explicit file."""
    run_dir = Path(run_dir)
    if which in CHECKPOINTS:
        path = run_dir / f"{which}.pt"
    else:
        path = Path(which)
    if not path.is_file():
        raise CheckpointError(f"{path} not found; a run folder holds {', '.join(c + '.pt' for c in CHECKPOINTS)}")
    return path


def load_trained_run(run_dir: str | Path, which: str = "best", device: str = "cpu") -> TrainedRun:
    """Rebuild the model of a run from its checkpoint alone (config + state dict), in eval mode."""
    path = checkpoint_path(run_dir, which)
    state = load_checkpoint(path, map_location=device)
    model_cfg = ModelConfig.from_dict(state["model_config"])
    model = create_model_from_config(model_cfg)
    model.load_state_dict(state["model"])
    model.eval()
    classes_file = Path(run_dir) / "classes.json"
    classes = json.loads(classes_file.read_text(encoding="utf-8")) if classes_file.exists() else {}
    return TrainedRun(
        root=Path(run_dir), checkpoint=path, model=model, model_config=model_cfg,
        data_config=DataConfig.from_dict(state["data_config"]), class_names=list(state["class_names"]),
        target=state["target"], train_config=dict(state["config"]), classes=classes, step=int(state["step"]),
        loss_state=dict(state.get("loss_fn", {})),
    )
