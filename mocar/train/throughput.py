"""Training throughput of mocar's training step, side by side with timm's plain training step.

What one *step* is: one optimiser update at a fixed micro-batch (= batch, no accumulation):
forward, loss, backward, SGD(momentum 0.9) step.

* mocar: :meth:`mocar.train.loop.Trainer.train_step` of a real ``Trainer`` (preset, data, loss,
  optimiser, precision and memory format all from a ``TrainConfig``), i.e. exactly what
  ``mocar train`` runs per step, minus data loading (measured apart by :func:`loader_throughput`).
* timm: the same backbone with timm's default classifier head + cross-entropy +
  ``torch.optim.SGD(momentum=0.9)`` (:func:`timm_step`).

Both run on the same batch of real images, resolution, thread count and precision variant
(:data:`VARIANTS`); :func:`time_round_robin` times them one step each per round so background load
hits them alike, and :func:`summarise` reports medians and the mocar/timm throughput ratio.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, default_collate

from mocar.data.dataset import MuseumDataset, PreparedData
from mocar.data.transforms import DataConfig
from mocar.model.backbones import BACKBONES
from mocar.train.config import TrainConfig
from mocar.train.loop import Trainer

#: Variant name -> (channels_last, bf16 autocast).
VARIANTS: dict[str, tuple[bool, bool]] = {
    "fp32": (False, False),
    "fp32 channels-last": (True, False),
    "bf16 channels-last": (True, True),
}


def _timm_tiny(num_classes: int) -> torch.nn.Module:
    model = BACKBONES["bit_tiny"].build()  # timm's ResNetV2 class with mocar's tiny layout
    model.reset_classifier(num_classes)  # timm's default head: GAP + 1x1-conv classifier
    return model


def _timm_r50(num_classes: int) -> torch.nn.Module:
    return timm.create_model("resnetv2_50x1_bit", pretrained=False, num_classes=num_classes)


@dataclass(frozen=True)
class Case:
    """One model at one resolution and batch, with its default warm-up steps and timed rounds."""

    name: str
    preset: str
    timm_label: str
    build_timm: Callable[[int], torch.nn.Module]
    image_size: int
    resize: int
    batch: int
    warmup: int
    rounds: int


CASES = (
    Case("tiny", "mocar_tiny", "ResNetV2 bit_tiny + timm head", _timm_tiny, 128, 144, 32, 2, 15),
    Case("r50", "mocar_r50x1", "resnetv2_50x1_bit", _timm_r50, 224, 256, 8, 1, 4),
)


@dataclass
class StepRow:
    """One measured (case, implementation, variant, threads)."""

    case: str
    model: str
    impl: str
    variant: str
    threads: int
    image_size: int
    batch: int
    steps: int
    median_ms: float
    p90_ms: float
    images_per_s: float
    mocar_over_timm: float | None = None  # throughput ratio, mocar rows only


@dataclass
class LoaderRow:
    """Data-loading throughput of MuseumDataset at one setting."""

    image_size: int
    resize: int
    preload: bool
    workers: int
    preload_s: float
    images: int
    images_per_s: float


def make_trainer(prepared: Path, case: Case, variant: str, out: Path) -> Trainer:
    """A mocar Trainer for ``case`` in ``variant`` (its lr schedule is irrelevant to speed)."""
    channels_last, bf16 = VARIANTS[variant]
    cfg = TrainConfig(data=str(prepared), out=str(out), preset=case.preset, steps=1000, batch_size=case.batch,
                      micro_batch=case.batch, lr=0.01, input_size=case.image_size, resize=case.resize,
                      channels_last=channels_last, precision="bf16" if bf16 else "fp32", workers=0,
                      progress=False, seed=0)
    trainer = Trainer(cfg)
    trainer.model.train()
    return trainer


def fixed_batch(trainer: Trainer, size: int) -> list[torch.Tensor]:
    """The first ``size`` training items (augmented, normalised) collated into one micro-batch."""
    train_set, _ = trainer.datasets()
    if len(train_set) < size:
        raise ValueError(f"the training split has {len(train_set)} images, fewer than the batch {size}")
    return default_collate([train_set[i] for i in range(size)])


def timm_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
              labels: torch.Tensor, channels_last: bool, bf16: bool) -> float:
    """timm's plain training step: forward, cross-entropy, backward, SGD step; returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        logits = model(images)
    loss = F.cross_entropy(logits.float(), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def build_steps(prepared: Path, case: Case, work: Path) -> dict[tuple[str, str], Callable[[], float]]:
    """One zero-argument step per (impl, variant); all share the same real-image batch."""
    steps: dict[tuple[str, str], Callable[[], float]] = {}
    batch = None
    for variant, (channels_last, bf16) in VARIANTS.items():
        trainer = make_trainer(prepared, case, variant, work / f"{case.name}-{variant}")
        batch = batch if batch is not None else fixed_batch(trainer, case.batch)
        steps[("mocar", variant)] = lambda t=trainer, b=batch: t.train_step(t.model, [b])["loss"]
        torch.manual_seed(0)
        model = case.build_timm(len(trainer.class_names)).train()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        steps[("timm", variant)] = (lambda m=model, o=optimizer, b=batch, cl=channels_last, bf=bf16:
                                    timm_step(m, o, b[0], b[1], cl, bf))
    return steps


def with_threads(steps: dict[tuple[str, str], Callable], threads: Sequence[int]) -> dict[tuple[str, str, int], Callable]:
    """Each step once per thread count (the same model: its weights do not affect the speed)."""

    def pinned(step: Callable, count: int) -> Callable:
        def run() -> float:
            torch.set_num_threads(count)
            return step()
        return run

    return {(*key, count): pinned(step, count) for count in threads for key, step in steps.items()}


def time_round_robin(steps: dict, warmup: int, rounds: int) -> dict[tuple, list[float]]:
    """Seconds per step for each entry, one step of each per round after ``warmup`` untimed steps."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    timings: dict = {key: [] for key in steps}
    for _ in range(rounds):
        for key, step in steps.items():
            start = time.perf_counter()
            step()
            timings[key].append(time.perf_counter() - start)
    return timings


def summarise(case: Case, timings: dict[tuple[str, str, int], list[float]]) -> list[StepRow]:
    """Median/p90 step time, images/s and the mocar/timm throughput ratio per (variant, threads)."""
    rows = []
    for (impl, variant, threads), seconds in timings.items():
        median = statistics.median(seconds)
        p90 = sorted(seconds)[min(len(seconds) - 1, int(0.9 * len(seconds)))]
        model = case.preset if impl == "mocar" else case.timm_label
        rows.append(StepRow(case.name, model, impl, variant, threads, case.image_size, case.batch, len(seconds),
                            round(median * 1e3, 1), round(p90 * 1e3, 1), round(case.batch / median, 1)))
    by_key = {(r.impl, r.variant, r.threads): r for r in rows}
    for row in rows:
        if row.impl == "mocar":
            timm_row = by_key[("timm", row.variant, row.threads)]
            row.mocar_over_timm = round(row.images_per_s / timm_row.images_per_s, 2)
    return sorted(rows, key=lambda r: (-r.threads, list(VARIANTS).index(r.variant), r.impl))


def loader_throughput(prepared: Path, case: Case, preload: bool, workers: int, max_images: int) -> LoaderRow:
    """Images/s of the training data path (decode or cache -> crop/flip -> normalise -> collate)."""
    data = PreparedData.load(prepared)
    frame = data.split("train")
    cfg = DataConfig(input_size=case.image_size, resize=case.resize)
    start = time.perf_counter()
    dataset = MuseumDataset(frame, cfg, target="collection", train=True, preload=preload)
    preload_s = time.perf_counter() - start if preload else 0.0
    loader = DataLoader(dataset, batch_size=case.batch, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    batches = iter(loader)
    next(batches)  # worker start-up happens once per training run, not per batch: not timed
    images, start = 0, time.perf_counter()
    while images < max_images:
        for batch in batches:
            images += len(batch[0])
            if images >= max_images:
                break
        batches = iter(loader)
    seconds = time.perf_counter() - start
    return LoaderRow(case.image_size, case.resize, preload, workers, round(preload_s, 2), images,
                     round(images / seconds, 1))


def render_markdown(step_rows: Sequence[StepRow], loader_rows: Sequence[LoaderRow], loads: dict[str, str],
                    header: dict[str, str], machine: dict[str, str]) -> str:
    """The result file: how it was measured, the machine and load, the two tables."""
    lines = [
        "# Training throughput: mocar's training step vs timm's (CPU)", "",
        f"- Command: `{header['command']}`",
        f"- Date: {header['date']} (total {header['seconds']} s); data: {header['data']}",
        *[f"- {key}: {value}" for key, value in machine.items()],
        "- A step = one optimiser update at a fixed micro-batch: forward, loss, backward, SGD(momentum 0.9)."
        " mocar = `Trainer.train_step` (MOCaR: MaxAvg-Cat head + collection classifier + year regressor,"
        " sum loss); timm = same backbone with timm's default classifier head + cross-entropy + SGD."
        " Same batch of demo-museum images, same resolution, same threads. Random init.",
        "- Variants of a case are warmed up, then timed round-robin (one step each per round);"
        " median and p90 over the rounds. `mocar/timm` = mocar img/s ÷ timm img/s (< 1: mocar slower).",
        "- The machine is shared with other jobs; the load during each case is below each table."
        " Absolute numbers under load are pessimistic; ratios within a case are fairer (round-robin).",
        "", "## Training step", "",
        "| case | model | impl | variant | threads | px | batch | steps | median ms | p90 ms | img/s | mocar/timm |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in step_rows:
        ratio = "" if r.mocar_over_timm is None else f"{r.mocar_over_timm:.2f}"
        lines.append(f"| {r.case} | {r.model} | {r.impl} | {r.variant} | {r.threads} | {r.image_size} | {r.batch} | "
                     f"{r.steps} | {r.median_ms} | {r.p90_ms} | {r.images_per_s} | {ratio} |")
    lines += ["", *[f"- Load, case {name}: {text}" for name, text in loads.items() if name != "loader"]]
    lines += [
        "", "## Data loading (MuseumDataset, training transform)", "",
        "Images/s through a `DataLoader` (batch as in the case, shuffled): decode (or read the preloaded"
        " cache), random crop + flip, normalise, collate; timed from the first batch on (worker start-up excluded)."
        " `preload s` = one-off decode of the whole"
        " training split into memory (the default for small data sets). 1 torch thread in the main process"
        " (workers use 1 each).", "",
        "| crop px | resize px | preload | workers | preload s | images | img/s |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r.image_size} | {r.resize} | {'yes' if r.preload else 'no'} | {r.workers} | {r.preload_s} | "
              f"{r.images} | {r.images_per_s} |" for r in loader_rows]
    if "loader" in loads:
        lines += ["", f"- Load during the loader measurements: {loads['loader']}"]
    return "\n".join(lines) + "\n"
