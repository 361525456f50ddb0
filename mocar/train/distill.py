"""`mocar distill`: train a phone-fast student from a trained teacher run (knowledge distillation).

The student is an ordinary mocar network (usually a BatchNorm mobile backbone, see
:mod:`mocar.model.backbones`) trained by the same :class:`~mocar.train.loop.Trainer` (schedule,
MixUp, checkpoints, exact resume, DDP); only the loss changes. Per micro-batch the frozen teacher
sees the same (mixed) images, and the loss is (``T`` temperature, ``a`` = ``kd_alpha``,
``b`` = ``kd_year_weight``, ``g`` = ``kd_embed_weight``)::

    Lc = (1 - a) * CE(student, labels) + a * T^2 * KL(softmax(teacher / T) || softmax(student / T))
    Lr = (1 - b) * logcosh(year_s - year) + b * logcosh(year_s - year_teacher)      (MOCaR only)
    L  = combine(Lc, Lr)  (the run's sum/product/both/uncertainty rule)  +  g * (1 - cos(emb_s, emb_t))

``T^2`` keeps the soft-target gradients on the scale of the hard ones (Hinton et al., 2015). The
teacher's year is mapped through calendar years into the student's normalisation, and the
teacher's input is re-normalised/resized when the two preprocessing contracts differ, so a student
may use another input size or mean/std than its teacher.

Caveats: the embedding term needs equal embedding widths (``mocar distill`` gives the student the
teacher's width by default); the student's reference index must be rebuilt either way (an index is
bound to one model). Validation (and so ``best.pt``) uses the plain hard-label loss, the quantity
the paper's checkpoint rule watches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mocar.errors import ConfigError
from mocar.model import ModelConfig
from mocar.model.networks import ModelOutput
from mocar.train.config import TrainConfig, check_distill_weights, read_config_file
from mocar.train.distributed import DistContext
from mocar.train.evaluate import autocast
from mocar.train.loop import Trainer, fit, resume_config
from mocar.train.losses import MocarLoss, classification_loss, combine_losses, regression_loss
from mocar.train.run_files import load_trained_run
from mocar.utils.io import read_yaml
from mocar.utils.legacy import current_keys


@dataclass(frozen=True)
class DistillWeights:
    """The distillation terms' weights (see the module docstring)."""

    temperature: float = 4.0
    alpha: float = 0.9
    year_weight: float = 0.5
    embed_weight: float = 0.0

    def __post_init__(self) -> None:
        check_distill_weights(self.temperature, self.alpha, self.year_weight, self.embed_weight)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> DistillWeights:
        return cls(cfg.kd_temperature, cfg.kd_alpha, cfg.kd_year_weight, cfg.kd_embed_weight)


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))``, averaged over the batch."""
    teacher_probs = F.softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1), teacher_probs, reduction="batchmean")
    return kl * temperature**2


def embedding_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean ``1 - cosine(student, teacher)``: retrieval compares embeddings by cosine only."""
    if student.shape != teacher.shape:
        raise ConfigError(f"embedding matching needs equal widths: student {tuple(student.shape[1:])}, "
                          f"teacher {tuple(teacher.shape[1:])}; give the student the teacher's --hidden")
    return (1.0 - F.cosine_similarity(student, teacher, dim=-1)).mean()


def distillation_loss(student: ModelOutput, teacher: ModelOutput, class_targets: Tensor,
                      year_targets: Tensor | None, weights: DistillWeights, base: MocarLoss) -> dict[str, Any]:
    """The student's loss for one batch.

    Args:
        student: Student outputs (``year`` normalised in the student's space).
        teacher: Teacher outputs with ``year`` already mapped into the student's space.
        class_targets: Hard ids ``(N,)`` or (mixed) soft labels ``(N, C)``.
        year_targets: Normalised true years ``(N,)``, or None for classification-only students.
        weights: Term weights and temperature.
        base: The run's loss, whose combination rule (and uncertainty weights) joins Lc and Lr.

    Returns:
        ``loss`` (total), ``loss_cls``/``loss_reg`` (the combined task terms), ``loss_hard``,
        ``loss_kd``, ``loss_year_kd`` and ``loss_embed`` (None where a term does not apply).
    """
    hard = classification_loss(student.logits, class_targets)
    soft = soft_target_loss(student.logits, teacher.logits, weights.temperature)
    loss_cls = (1.0 - weights.alpha) * hard + weights.alpha * soft
    out: dict[str, Any] = {"loss_hard": hard, "loss_kd": soft, "loss_reg": None, "loss_year_kd": None}
    total = loss_cls
    if student.year is not None:
        if year_targets is None or teacher.year is None:
            raise ConfigError("a year-regressing student needs year targets and a year-regressing teacher")
        kind = base.config.regression
        year_true = regression_loss(student.year, year_targets.to(student.year.dtype), kind)
        year_kd = regression_loss(student.year, teacher.year.to(student.year.dtype), kind)
        loss_reg = (1.0 - weights.year_weight) * year_true + weights.year_weight * year_kd
        total = combine_losses(loss_cls, loss_reg, base.config.combination, base.uncertainty)
        out.update(loss_reg=loss_reg, loss_year_kd=year_kd)
    embed = embedding_loss(student.embedding, teacher.embedding) if weights.embed_weight > 0 else None
    if embed is not None:
        total = total + weights.embed_weight * embed
    out.update(loss=total, loss_cls=loss_cls, loss_embed=embed)
    return out


class FrozenTeacher(nn.Module):
    """A trained run's model behind the student's preprocessing and year normalisation.

    ``forward(images)`` takes a batch prepared for the *student* and returns the teacher's
    :class:`ModelOutput` with ``year`` in the student's normalised space.
    """

    def __init__(self, model: nn.Module, student_cfg: ModelConfig, student_size: int, teacher_size: int):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        teacher_cfg: ModelConfig = model.config
        self.student_cfg, self.teacher_cfg, self.teacher_size = student_cfg, teacher_cfg, teacher_size
        self.resize = teacher_size != student_size
        self.renormalize = (teacher_cfg.mean, teacher_cfg.std) != (student_cfg.mean, student_cfg.std)
        for name, cfg in (("student", student_cfg), ("teacher", teacher_cfg)):
            self.register_buffer(f"{name}_mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer(f"{name}_std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> FrozenTeacher:
        return super().train(False)  # BatchNorm/dropout of the teacher never leave eval mode

    @torch.no_grad()
    def forward(self, images: Tensor) -> ModelOutput:
        if self.renormalize:
            pixels = images * self.student_std + self.student_mean
            images = (pixels - self.teacher_mean) / self.teacher_std
        if self.resize:
            images = F.interpolate(images, size=(self.teacher_size, self.teacher_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        out = self.model(images)
        year = out.year
        if year is not None and self.student_cfg.has_year_head:
            calendar = year * self.teacher_cfg.year_scale + self.teacher_cfg.year_mean
            year = (calendar - self.student_cfg.year_mean) / self.student_cfg.year_scale
        return ModelOutput(out.logits.float(), None if year is None else year.float(), out.embedding.float())


def check_compatible(teacher: Any, class_names: list[str], target: str, teacher_dir: str | Path) -> None:
    """The student must predict the same labels (same order) as its teacher."""
    if target != teacher.target or list(class_names) != list(teacher.class_names):
        raise ConfigError(
            f"teacher {teacher_dir} predicts {teacher.target} over {len(teacher.class_names)} labels; the student "
            f"would predict {target} over {len(class_names)}: distil on the teacher's prepared data with the "
            "teacher's architecture (mocar distill does both by default)")


class DistillTrainer(Trainer):
    """:class:`Trainer` whose loss adds the frozen teacher's terms (see the module docstring)."""

    uses_teacher: ClassVar[bool] = True

    def __init__(self, cfg: TrainConfig, ctx: DistContext | None = None) -> None:
        if not cfg.teacher:
            raise ConfigError("distillation needs a teacher run folder (teacher)")
        super().__init__(cfg, ctx)
        run = load_trained_run(cfg.teacher, "best", device=str(self.ctx.device))
        check_compatible(run, self.class_names, self.target, cfg.teacher)
        self.weights = DistillWeights.from_config(cfg)
        if self.weights.embed_weight > 0 and run.model.embedding_size != self.model.embedding_size:
            raise ConfigError(f"kd_embed_weight > 0 needs equal embedding widths: teacher {run.model.embedding_size}, "
                              f"student {self.model.embedding_size}; give the student hidden={run.model.embedding_size}")
        self.teacher = FrozenTeacher(run.model, self.model_cfg, self.schedule.input_size,
                                     run.data_config.input_size).to(self.ctx.device)
        if cfg.channels_last:
            self.teacher = self.teacher.to(memory_format=torch.channels_last)

    def compute_loss(self, out, images: Tensor, soft_labels: Tensor, years: Tensor) -> dict:
        with autocast(self.ctx.device, self.bf16):
            teacher_out = self.teacher(images)
        return distillation_loss(out, teacher_out, soft_labels, years if out.year is not None else None,
                                 self.weights, self.loss_fn)


def distill_config(teacher_dir: str | Path, student: str, out: str | Path, config_file: str | Path | None = None,
                   **overrides: Any) -> TrainConfig:
    """The training config of a student: teacher run < ``config_file`` < ``overrides``.

    From the teacher come its data, architecture, embedding width, input size and loss rule (not its
    ``field_augment``: the student's augmentation is its own choice, off by default); a YAML
    file of training options (``mocar distill --config``) overrides them, and ``overrides`` override
    both. ``None`` values in the file and in ``overrides`` are ignored. The ``kd_*`` ranges are
    checked here, before any teacher weights are loaded.

    Raises:
        ConfigError: If the teacher folder is not a finished mocar run, or the file or an option is
            invalid.
    """
    fields = _teacher_fields(Path(teacher_dir))
    fields.update(out=str(out), preset=student)
    for layer in (read_config_file(config_file) if config_file is not None else {}, overrides):
        fields.update({k: v for k, v in layer.items() if v is not None})
    return TrainConfig.from_dict(fields)


def _teacher_fields(teacher: Path) -> dict[str, Any]:
    """The options a student inherits from its teacher run's saved ``config.yaml``."""
    if not (teacher / "best.pt").is_file():
        raise ConfigError(f"{teacher}: no best.pt; the teacher must be a trained mocar run folder")
    if not (teacher / "config.yaml").is_file():
        raise ConfigError(f"{teacher / 'config.yaml'} not found; the teacher must be a run folder written by mocar train")
    saved = read_yaml(teacher / "config.yaml")
    try:
        train, model, schedule = saved["train"], saved["model"], saved["schedule"]
        return dict(data=train["data"], arch=model["arch"], hidden=model["hidden"], loss=train["loss"],
                    input_size=current_keys(schedule)["input_size"], resize=schedule["resize_size"], teacher=str(teacher))
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{teacher / 'config.yaml'}: missing or incomplete ({err!r} not found); the teacher "
                          "must be a run folder written by mocar train") from None


def distill(teacher_dir: str | Path | None, student: str, out: str | Path, resume: bool = False,
            config_file: str | Path | None = None, **overrides: Any) -> Path:
    """Python API of `mocar distill`: train ``student`` (a preset) from a teacher run; returns the run folder.

    ``resume`` continues the run in ``out`` from its saved config (``teacher_dir``, ``student`` and
    ``config_file`` are then ignored; ``overrides`` may set e.g. ``stop_after`` or ``progress``).
    See :func:`distill_config` for how the options are merged.
    """
    if resume:
        return fit(resume_config(out, **overrides), resume=True, trainer_class=DistillTrainer)
    return fit(distill_config(teacher_dir, student, out, config_file, **overrides), trainer_class=DistillTrainer)
