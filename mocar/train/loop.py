"""`mocar train`: the paper's fine-tuning recipe as a resumable, distributed training loop.

One ``Trainer`` owns a run folder. Every optimisation step is a pure function of (config, step):
batches come from the step-indexed sampler, MixUp and dropout are seeded by the step, so
``--resume`` reproduces an uninterrupted run exactly (same machine, same thread count). Validation
runs every ``eval_every`` steps; ``best.pt`` is written when the validation loss improves (the
paper's rule), ``last.pt`` at every validation for resuming. Only rank 0 writes.

:func:`fit` and :func:`find_lr` take the trainer class to run; :mod:`mocar.train.trainers` picks
it from the config (a config naming a teacher needs :class:`~mocar.train.distill.DistillTrainer`).

Caveat: with gradient accumulation the product losses (Lc*Lr) are averaged over micro-batches,
which is not the product of the batch means; use a micro-batch equal to the batch to be exact.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from mocar.data.dataset import MuseumDataset, PreparedData
from mocar.data.field_augment import field_augmentation
from mocar.data.transforms import DataConfig
from mocar.errors import CheckpointError, ConfigError
from mocar.model import PRESETS, ModelConfig, create_model_from_config, preset_config
from mocar.train.checkpoint import load_checkpoint, save_checkpoint
from mocar.train.config import TrainConfig
from mocar.train.distributed import DistContext, barrier, gather_objects, init_distributed, process_group
from mocar.train.evaluate import autocast, merge_shards, predict_dataset
from mocar.train.losses import LossConfig, MocarLoss
from mocar.train.lr_find import LrFindResult, lr_range_test, plot_lr_find
from mocar.train.metrics import evaluate_predictions
from mocar.train.mixup import mixup_batch
from mocar.train.plots import plot_training_curves
from mocar.train.sampler import StepBatchSampler
from mocar.train.schedule import ResolvedSchedule, ScheduleConfig, make_optimizer, set_lr
from mocar.utils.io import atomic_write_text, read_yaml, write_yaml

MAX_DEFAULT_MICRO_BATCH = 64


def resolve_bf16(precision: str, device: torch.device) -> bool:
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return False  # measured: see benchmarks/results; fp32 stays the CPU default for exact parity


def _step_seed(seed: int, step: int, rank: int, micro: int = 0) -> int:
    return (seed * 1_000_003 + step * 7919 + rank * 104_729 + micro * 31) % (2**63)


def default_micro_batch(per_rank_batch: int) -> int:
    """Largest divisor of the per-process batch that is at most 64."""
    return max(d for d in range(1, min(per_rank_batch, MAX_DEFAULT_MICRO_BATCH) + 1) if per_rank_batch % d == 0)


class Trainer:
    """Builds the model, data and optimiser of a run and trains it step by step."""

    # Whether this class trains from ``cfg.teacher``; a plain trainer refuses such a config rather than
    # silently training (or resuming) a student without its teacher.
    uses_teacher: ClassVar[bool] = False

    def __init__(self, cfg: TrainConfig, ctx: DistContext | None = None) -> None:
        if cfg.teacher and not self.uses_teacher:
            raise ConfigError(f"this run distils from the teacher {cfg.teacher}: train it with "
                              "mocar.train.trainers.train (mocar train / mocar distill), not the plain Trainer")
        self.cfg, self.ctx = cfg, ctx or init_distributed(cfg.device)
        self.out = Path(cfg.out)
        self.data = PreparedData.load(cfg.data)
        arch = cfg.arch or self._preset().arch
        self.target = "collection" if arch == "mocar" else "epoch"
        self.class_names = self.data.class_names(self.target)
        self.train_frame, self.val_frame = self.data.split("train"), self.data.split("val")
        self.schedule = self._resolve_schedule()
        self.model_cfg = self._model_config(arch)
        self.data_cfg = DataConfig(input_size=self.schedule.input_size, resize=self.schedule.resize_size,
                                   mean=self.model_cfg.mean, std=self.model_cfg.std)
        torch.manual_seed(cfg.seed)
        self.model = create_model_from_config(self.model_cfg, cfg.pretrained).to(self.ctx.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = MocarLoss(LossConfig(combination=cfg.loss)).to(self.ctx.device)
        self.optimizer = make_optimizer(list(self.model.parameters()) + list(self.loss_fn.parameters()), self.schedule)
        self.bf16 = resolve_bf16(cfg.precision, self.ctx.device)
        self.step, self.best_val_loss = 0, math.inf

    # ----------------------------------------------------------------- setup
    def _preset(self):
        if self.cfg.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.cfg.preset!r}; valid: {sorted(PRESETS)}")
        return PRESETS[self.cfg.preset]

    def use_base_lr(self, lr: float) -> None:
        """Re-plans the schedule and optimiser for a new base lr (after the lr range test)."""
        self.cfg.lr = lr
        self.schedule = self._resolve_schedule()
        self.optimizer = make_optimizer(list(self.model.parameters()) + list(self.loss_fn.parameters()),
                                        self.schedule)

    def _resolve_schedule(self) -> ResolvedSchedule:
        cfg, world = self.cfg, self.ctx.world_size
        lr = cfg.lr if isinstance(cfg.lr, float) else None
        batch = cfg.batch_size or 512
        if batch % world:
            raise ConfigError(f"batch_size {batch} must be divisible by the {world} processes")
        micro = cfg.micro_batch or default_micro_batch(batch // world)
        typical = (int(self.train_frame["height"].median()), int(self.train_frame["width"].median()))
        sched = ScheduleConfig(total_steps=cfg.steps, warmup_steps=cfg.warmup, base_lr=lr, batch_size=batch,
                               mixup_alpha=cfg.mixup_alpha, resize_size=cfg.resize, input_size=cfg.input_size)
        return sched.resolve(len(self.train_frame), typical, micro_batch_size=micro * world)

    def _model_config(self, arch: str) -> ModelConfig:
        overrides = {k: getattr(self.cfg, k) for k in ("arch", "backbone", "hidden", "dropout") if getattr(self.cfg, k) is not None}
        stats = self.data.classes["year_stats"]
        return preset_config(self.cfg.preset, len(self.class_names), year_mean=stats["mean"],
                             year_scale=max(stats["std"], 1.0), input_size=self.schedule.input_size, **overrides)

    def datasets(self) -> tuple[MuseumDataset, MuseumDataset]:
        """Train and val data sets, built (and their images decoded) once per trainer."""
        if getattr(self, "_datasets", None) is None:
            self._datasets = self._build_datasets()
        return self._datasets

    def _build_datasets(self) -> tuple[MuseumDataset, MuseumDataset]:
        common = dict(cfg=self.data_cfg, target=self.target, year_mean=self.model_cfg.year_mean,
                      year_scale=self.model_cfg.year_scale, preload=self.cfg.preload,
                      progress=self.cfg.progress and self.ctx.is_main)
        augment = field_augmentation(self.cfg.field_augment, self.cfg.field_augment_p, self.data_cfg.input_size)
        train = MuseumDataset(self.train_frame, train=True, seed=self.cfg.seed, field_augment=augment, **common)
        return train, MuseumDataset(self.val_frame, train=False, **common)

    # ----------------------------------------------------------------- state
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "loss_fn": self.loss_fn.state_dict(), "step": self.step, "best_val_loss": self.best_val_loss,
            "config": self.cfg.to_dict(), "model_config": self.model_cfg.to_dict(),
            "data_config": self.data_cfg.to_dict(), "schedule": self.schedule.to_dict(),
            "class_names": self.class_names, "target": self.target,
        }

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path, map_location=self.ctx.device)
        if state.get("model_config") != self.model_cfg.to_dict():
            raise CheckpointError(f"{path} was written for another model configuration; start a new run folder")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loss_fn.load_state_dict(state["loss_fn"])
        self.step, self.best_val_loss = int(state["step"]), float(state["best_val_loss"])

    def write_run_files(self) -> None:
        """config.yaml (fully resolved), classes.json and data_config.json."""
        if not self.ctx.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        write_yaml(self.out / "config.yaml", {
            "train": self.cfg.to_dict(), "model": self.model_cfg.to_dict(), "data": self.data_cfg.to_dict(),
            "schedule": self.schedule.to_dict(), "world_size": self.ctx.world_size, "bf16": self.bf16,
        })
        atomic_write_text(self.out / "classes.json", json.dumps(self.data.classes, indent=2, ensure_ascii=False))
        atomic_write_text(self.out / "data_config.json", json.dumps(self.data_cfg.to_dict(), indent=2))

    # ----------------------------------------------------------------- training
    def _wrapped(self) -> torch.nn.Module:
        if not self.ctx.enabled:
            return self.model
        ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    def _loader(self, train_set: MuseumDataset, end_step: int, sharded: bool = True) -> DataLoader:
        """Micro-batches of steps [self.step, end_step): this rank's shard, or the whole batch."""
        rank, world = (self.ctx.rank, self.ctx.world_size) if sharded else (0, 1)
        sampler = StepBatchSampler(len(train_set), self.schedule.batch_size,
                                   self.schedule.micro_batch_size // self.ctx.world_size, self.step, end_step,
                                   seed=self.cfg.seed, rank=rank, world_size=world)
        return DataLoader(train_set, batch_sampler=sampler, num_workers=self.cfg.workers,
                          persistent_workers=False, pin_memory=self.ctx.device.type == "cuda")

    def _micro_step(self, net, batch, micro_index: int) -> dict[str, float]:
        images, labels, years, _ = (t.to(self.ctx.device, non_blocking=True) for t in batch)
        generator = torch.Generator().manual_seed(_step_seed(self.cfg.seed, self.step, self.ctx.rank, micro_index))
        images, soft_labels, years, _ = mixup_batch(images, labels, years, len(self.class_names),
                                                    self.schedule.mixup_alpha, generator)
        if self.cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(self.ctx.device, self.bf16):
            out = net(images)
        out = type(out)(*(t.float() if t is not None else None for t in out))
        losses = self.compute_loss(out, images, soft_labels, years)
        (losses["loss"] / self.schedule.accumulation_steps).backward()
        return {k: v.item() for k, v in losses.items() if v is not None}

    def compute_loss(self, out, images: torch.Tensor, soft_labels: torch.Tensor, years: torch.Tensor) -> dict:
        """The training loss of one micro-batch (``mocar distill`` adds its teacher terms here)."""
        return self.loss_fn(out, soft_labels, years)

    def _sync_loss_params(self) -> None:
        """Uncertainty-weighting parameters live outside the DDP module: average their grads by hand."""
        if not self.ctx.enabled:
            return
        for p in self.loss_fn.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.ctx.world_size

    def train_step(self, net, micro_batches: list, lr: float | None = None) -> dict[str, float]:
        """One optimiser update over the step's micro-batches (``lr`` overrides the schedule)."""
        set_lr(self.optimizer, self.schedule.lr_at(self.step) if lr is None else lr)
        self.optimizer.zero_grad(set_to_none=True)
        torch.manual_seed(_step_seed(self.cfg.seed, self.step, self.ctx.rank))  # dropout
        totals: dict[str, float] = {}
        for k, batch in enumerate(micro_batches):
            last = k == len(micro_batches) - 1
            sync = contextlib.nullcontext() if (last or not self.ctx.enabled) else net.no_sync()
            with sync:
                for name, value in self._micro_step(net, batch, k).items():
                    totals[name] = totals.get(name, 0.0) + value / len(micro_batches)
        self._sync_loss_params()
        self.optimizer.step()
        self.step += 1
        return totals

    def fit(self, resume: bool = False) -> Path:
        """Train until the schedule ends (or ``stop_after``); returns the run folder."""
        if resume:
            self.restore(self.out / "last.pt")
        self.write_run_files()
        if self.step >= self.schedule.total_steps:
            self._log(f"run {self.out} already finished ({self.step} steps)")
            return self.out
        train_set, val_set = self.datasets()
        end = min(self.schedule.total_steps, self.cfg.stop_after or self.schedule.total_steps)
        eval_every = self.cfg.eval_every or max(1, self.schedule.total_steps // 10)
        net, history = self._wrapped(), self._read_history(truncate_after=self.step)
        net.train()
        bar = tqdm(total=end - self.step, desc="training", unit="step",
                   disable=not (self.cfg.progress and self.ctx.is_main))
        window, started = [], time.perf_counter()
        try:
            for micro_batches in self._grouped(self._loader(train_set, end), self.schedule.accumulation_steps):
                tick = time.perf_counter()
                window.append(self.train_step(net, micro_batches))
                speed = self.schedule.batch_size / max(time.perf_counter() - tick, 1e-9)
                bar.set_postfix(loss=f"{window[-1]['loss']:.3f}", lr=f"{self.schedule.lr_at(self.step - 1):.2e}",
                                img_s=f"{speed:.0f}")
                bar.update()
                if self.step % eval_every == 0 or self.step == self.schedule.total_steps:
                    history.append(self._validate(val_set, window, time.perf_counter() - started))
                    window = []
                    self._write_history(history)
        except KeyboardInterrupt:
            self._save("last.pt")  # params are consistent between optimiser steps: resumable
            raise
        finally:
            bar.close()
        if window:  # stopped between validations (stop_after): keep a resumable point
            self._save("last.pt")
        barrier(self.ctx)
        return self.out

    @staticmethod
    def _grouped(loader: DataLoader, size: int):
        group: list = []
        for micro in loader:
            group.append(micro)
            if len(group) == size:
                yield group
                group = []

    def find_lr(self) -> LrFindResult:
        """Smith's lr range test on the training stream; the model is restored afterwards.

        Every rank runs the same test on the same (unsharded) batches, so all ranks agree on the lr.
        """
        saved = copy.deepcopy((self.model.state_dict(), self.optimizer.state_dict(), self.loss_fn.state_dict()))
        train_set, _ = self.datasets()
        settings = dict(self.cfg.lr_find)
        group = self.schedule.batch_size // (self.schedule.micro_batch_size // self.ctx.world_size)
        batches = self._grouped(self._loader(train_set, int(settings["num_steps"]), sharded=False), group)
        self.model.train()
        result = lr_range_test(lambda lr: self.train_step(self.model, next(batches), lr=lr)["loss"], **settings)
        self.model.load_state_dict(saved[0])
        self.optimizer.load_state_dict(saved[1])
        self.loss_fn.load_state_dict(saved[2])
        self.step = 0
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "lr_find.json", json.dumps(result.to_dict(), indent=2))
            plot_lr_find(result, self.out / "lr_find.png")
        self._log(f"lr range test: suggested base lr {result.suggested_lr:.3g} ({result.stop_reason})")
        return result

    # ----------------------------------------------------------------- validation
    def _validate(self, val_set: MuseumDataset, window: list[dict], elapsed: float) -> dict:
        shard = predict_dataset(self.model, val_set, self.loss_fn, self.cfg.eval_batch_size, self.ctx.device,
                                self.bf16, shard=(self.ctx.rank, self.ctx.world_size),
                                channels_last=self.cfg.channels_last)
        preds = merge_shards(gather_objects(shard, self.ctx))
        year_true = self.val_frame["year"].to_numpy()[preds.indices] if preds.year_pred is not None else None
        metrics = evaluate_predictions(preds.logits, preds.targets, len(self.class_names), self.class_names,
                                       year_pred=preds.year_pred, year_true=year_true)
        row = {"step": self.step, "epoch": round(self.step * self.schedule.batch_size / len(self.train_frame), 3),
               "lr": self.schedule.lr_at(self.step - 1), "elapsed_s": round(elapsed, 2)}
        for name in window[0] if window else []:
            row[f"train_{name}"] = float(np.mean([w[name] for w in window]))
        row.update({"val_loss": preds.loss, "val_loss_cls": preds.loss_cls, "val_top1": metrics["top1"],
                    "val_top5": metrics["top5"], "val_macro_f1": metrics["macro_f1"]})
        if preds.loss_reg is not None:
            row.update({"val_loss_reg": preds.loss_reg, "val_year_mae": metrics["year_mae"]})
        row["best"] = preds.loss < self.best_val_loss
        if row["best"]:
            self.best_val_loss = preds.loss
            self._save("best.pt")
        self._save("last.pt")
        self._log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        return row

    def _save(self, name: str) -> None:
        if self.ctx.is_main:
            state = self.state()
            if name == "best.pt":
                state.pop("optimizer")  # best.pt is for inference/export; last.pt resumes
            save_checkpoint(self.out / name, state)

    def _read_history(self, truncate_after: int) -> list[dict]:
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [r for r in rows if r["step"] <= truncate_after]

    def _write_history(self, rows: list[dict]) -> None:
        if not self.ctx.is_main:
            return
        atomic_write_text(self.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        plot_training_curves(rows, self.out / "curves.png")

    def _log(self, message: str) -> None:
        if self.ctx.is_main:
            tqdm.write(message)


def fit(cfg: TrainConfig, resume: bool = False, trainer_class: type[Trainer] = Trainer) -> Path:
    """Trains a run (resumed from its ``last.pt`` when asked); returns the run folder.

    Opens the process group when launched by torchrun and tears it down when the run ends or fails.
    :func:`mocar.train.trainers.train` picks ``trainer_class`` from the config.
    """
    _check_run_folder(cfg, resume)
    with process_group(cfg.device) as ctx:
        trainer = trainer_class(cfg, ctx)
        if cfg.lr == "auto" and not resume:
            trainer.use_base_lr(float(trainer.find_lr().suggested_lr))
        return trainer.fit(resume=resume)


def _check_run_folder(cfg: TrainConfig, resume: bool) -> None:
    if not cfg.data or not cfg.out:
        raise ConfigError("training needs both a prepared data folder (data) and a run folder (out)")
    out = Path(cfg.out)
    if not resume and (out / "last.pt").exists():
        raise ConfigError(f"{out} already holds a run; continue it with --resume {out} or choose a new --out")


def find_lr(cfg: TrainConfig, trainer_class: type[Trainer] = Trainer) -> LrFindResult:
    """The lr range test alone, written into ``cfg.out`` (see :meth:`Trainer.find_lr`)."""
    with process_group(cfg.device) as ctx:
        return trainer_class(cfg, ctx).find_lr()


def resume_config(run_dir: str | Path, **overrides) -> TrainConfig:
    """The saved config of a run, with a few overrides (e.g. stop_after, progress)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: no config.yaml; is this a mocar run folder?")
    data = read_yaml(path)["train"]
    data["stop_after"] = None  # a pause point belongs to one session, not to the run
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(data)
