"""`mocar train` for any run: picks the trainer a config needs, then trains with it.

A config that names a teacher run is a distillation and needs
:class:`~mocar.train.distill.DistillTrainer`; any other needs the plain
:class:`~mocar.train.loop.Trainer`. The choice lives here, above both modules, because the
distilling trainer builds on the plain one: this way resuming a distillation with
``mocar train --resume`` keeps its teacher.
"""
from __future__ import annotations

from pathlib import Path

from mocar.train import loop
from mocar.train.config import TrainConfig
from mocar.train.distill import DistillTrainer
from mocar.train.lr_find import LrFindResult


def trainer_class(cfg: TrainConfig) -> type[loop.Trainer]:
    """The distilling trainer when the config names a teacher run, the plain one otherwise."""
    return DistillTrainer if cfg.teacher else loop.Trainer


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Python API of `mocar train`: trains (or resumes) a run with the trainer it needs; returns its folder."""
    return loop.fit(cfg, resume=resume, trainer_class=trainer_class(cfg))


def find_lr(cfg: TrainConfig) -> LrFindResult:
    """Python API of `mocar train lr-find`: the lr range test alone, written into ``cfg.out``."""
    return loop.find_lr(cfg, trainer_class=trainer_class(cfg))
