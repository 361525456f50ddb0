"""Validation of an exported file against the float PyTorch model, on the whole validation split.

Two kinds of checks, chosen by the file's precision:

* **float** (fp32, fp16): every element of every output must satisfy
  ``|c - r| <= atol * scale + rtol * |r|`` where ``scale`` is the output's largest reference
  magnitude (so ``atol`` is relative to what the output holds: logits, a normalised year and an
  embedding live on different scales). Top-1 must agree wherever the reference's top-2 margin is
  larger than the numeric error the tolerance allows ("unexplained flips" must be 0); raw
  agreement is reported as well.
* **int8**: task-level limits (:class:`Int8Limits`): top-1 agreement, accuracy delta, year-MAE
  delta in calendar years, embedding cosine (1st percentile); PSNR and max errors per output are
  reported but not gated.

Every check runs and every failure is collected before anything is decided; the functions return
``(figures, failures)`` and never raise on a numeric miss.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mocar.runtime import parity, statistics


@dataclass(frozen=True)
class FloatTolerance:
    """Element-wise tolerance of a float export (``atol`` is scaled by the output's magnitude)."""

    rtol: float
    atol: float


@dataclass(frozen=True)
class Int8Limits:
    """Task-level limits of an int8 export.

    Attributes:
        min_agreement: Minimum top-1 agreement with the float model.
        max_accuracy_drop: Largest allowed accuracy loss (fraction, e.g. 0.03 = 3 points).
        max_year_mae_increase: Largest allowed year-MAE increase as a fraction of the model's
            ``year_scale`` (the training years' standard deviation): 0.05 of 1000 years = 50 years.
        min_embedding_cosine_p01: Minimum 1st percentile of the embedding cosine similarity.
    """

    min_agreement: float = 0.95
    max_accuracy_drop: float = 0.03
    max_year_mae_increase: float = 0.05
    min_embedding_cosine_p01: float = 0.95


@dataclass(frozen=True)
class ValidationLimits:
    """All tolerances of a validation run (defaults follow timm's tests for fp32)."""

    fp32: FloatTolerance = FloatTolerance(rtol=1e-3, atol=1e-4)
    fp16: FloatTolerance = FloatTolerance(rtol=1e-2, atol=2e-2)
    int8: Int8Limits = field(default_factory=Int8Limits)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationLimits:
        return cls(fp32=FloatTolerance(**data["fp32"]), fp16=FloatTolerance(**data["fp16"]), int8=Int8Limits(**data["int8"]))


@dataclass
class ValidationContext:
    """Ground truth and year normalisation of the validation split (for task-level figures)."""

    targets: np.ndarray
    true_years: np.ndarray | None
    year_mean: float = 0.0
    year_scale: float = 1.0

    def years(self, year_norm: np.ndarray) -> np.ndarray:
        """Calendar years from the normalised ``year`` output."""
        return np.asarray(year_norm, np.float64).reshape(-1) * self.year_scale + self.year_mean


def check_outputs_present(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> list[str]:
    """Failures for missing outputs or outputs whose shape differs from the reference's."""
    failures = []
    for name, ref in reference.items():
        if name not in candidate:
            failures.append(f"output {name!r} missing (file gives {sorted(candidate)})")
        elif np.shape(candidate[name]) != np.shape(ref) and np.size(candidate[name]) != np.size(ref):
            failures.append(f"output {name!r} has shape {list(np.shape(candidate[name]))}, expected {list(np.shape(ref))}")
    return failures


def _aligned(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The candidate's outputs reshaped like the reference's (e.g. year [N, 1] -> [N])."""
    return {name: np.asarray(candidate[name], np.float32).reshape(np.shape(ref)) for name, ref in reference.items()}


def task_figures(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], context: ValidationContext) -> dict[str, Any]:
    """Top-1, accuracy, year and embedding figures of a candidate against the reference."""
    agreement = statistics.agreement(parity.top1(reference["logits"]), parity.top1(candidate["logits"]))
    figures: dict[str, Any] = {
        "top1_agreement": agreement.value, "top1_agreement_interval": [agreement.low, agreement.high],
        "images": agreement.n,
        "accuracy_reference": parity.accuracy(reference["logits"], context.targets),
        "accuracy": parity.accuracy(candidate["logits"], context.targets),
        "accuracy_delta": parity.accuracy_delta(reference["logits"], candidate["logits"], context.targets),
    }
    if "year" in reference and context.true_years is not None:
        ref_years, years = context.years(reference["year"]), context.years(candidate["year"])
        figures.update({
            "year_mae_reference": parity.mean_abs_year_error(ref_years, context.true_years),
            "year_mae": parity.mean_abs_year_error(years, context.true_years),
            "year_mae_delta": parity.year_mae_delta(ref_years, years, context.true_years),
            "year_shift_mae": parity.mean_abs_error(ref_years, years),
        })
    if "embedding" in reference:
        figures["embedding_cosine"] = parity.cosine_stats(reference["embedding"], candidate["embedding"])
    return figures


def unexplained_flips(reference_logits: np.ndarray, logits: np.ndarray, tolerance: FloatTolerance) -> int:
    """Top-1 disagreements where the reference margin exceeds twice the allowed numeric error."""
    scale = parity.output_scale(reference_logits)
    allowed = tolerance.atol * scale + tolerance.rtol * np.max(np.abs(reference_logits), axis=1)
    flipped = parity.top1(reference_logits) != parity.top1(logits)
    return int(np.sum(flipped & (parity.top1_margin(reference_logits) > 2 * allowed)))


def float_parity(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: FloatTolerance,
                 context: ValidationContext) -> tuple[dict[str, Any], list[str]]:
    """Element-wise tolerance per output plus the top-1 check of a float export."""
    figures: dict[str, Any] = {"tolerance": asdict(tolerance), "outputs": {}}
    failures = []
    for name, ref in reference.items():
        scale = parity.output_scale(ref)
        stats = parity.output_error_stats(ref, candidate[name])
        stats["scale"] = scale
        stats["excess"] = parity.tolerance_excess(ref, candidate[name], tolerance.rtol, tolerance.atol * scale)
        figures["outputs"][name] = stats
        if stats["excess"] > 0:
            failures.append(f"{name}: max abs error {stats['max_abs']:.3g} exceeds atol {tolerance.atol:g} x scale "
                            f"{scale:.3g} + rtol {tolerance.rtol:g} x |ref| (by {stats['excess']:.3g})")
    figures.update(task_figures(reference, candidate, context))
    figures["unexplained_flips"] = unexplained_flips(reference["logits"], candidate["logits"], tolerance)
    if figures["unexplained_flips"]:
        failures.append(f"logits: top-1 differs on {figures['unexplained_flips']} images whose reference margin "
                        f"exceeds the tolerance (agreement {figures['top1_agreement']:.2%})")
    return figures, failures


def int8_parity(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], limits: Int8Limits,
                context: ValidationContext) -> tuple[dict[str, Any], list[str]]:
    """Task-level figures and limits of an int8 export (PSNR/max error reported, not gated)."""
    figures: dict[str, Any] = {"limits": asdict(limits),
                               "outputs": {name: parity.output_error_stats(ref, candidate[name]) for name, ref in reference.items()}}
    figures.update(task_figures(reference, candidate, context))
    failures = []
    if figures["top1_agreement"] < limits.min_agreement:
        failures.append(f"top-1 agreement {figures['top1_agreement']:.2%} < {limits.min_agreement:.0%}")
    if figures["accuracy_delta"] < -limits.max_accuracy_drop:
        failures.append(f"accuracy drops by {-figures['accuracy_delta']:.2%} (> {limits.max_accuracy_drop:.0%})")
    if "year_mae_delta" in figures:
        allowed = limits.max_year_mae_increase * context.year_scale
        if figures["year_mae_delta"] > allowed:
            failures.append(f"year MAE grows by {figures['year_mae_delta']:.1f} years (> {allowed:.1f})")
    if "embedding_cosine" in figures and figures["embedding_cosine"]["p01"] < limits.min_embedding_cosine_p01:
        failures.append(f"embedding cosine 1st percentile {figures['embedding_cosine']['p01']:.4f} "
                        f"< {limits.min_embedding_cosine_p01}")
    return figures, failures


def validate_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], precision: str,
                     context: ValidationContext, limits: ValidationLimits | None = None) -> tuple[dict[str, Any], list[str]]:
    """Compares one file's outputs with the float reference at the checks of its precision.

    Args:
        reference: Float PyTorch outputs by name, images on axis 0.
        candidate: The file's outputs by name, same images in the same order.
        precision: ``fp32``, ``fp16`` or ``int8``.
        context: Ground truth of the images.
        limits: Tolerances (default :class:`ValidationLimits`).

    Returns:
        ``(figures, failures)``; an empty failure list means the file passed.
    """
    limits = limits or ValidationLimits()
    failures = check_outputs_present(reference, candidate)
    if failures:
        return {}, failures
    candidate = _aligned(reference, candidate)
    if precision == "int8":
        return int8_parity(reference, candidate, limits.int8, context)
    if precision in ("fp32", "fp16"):
        return float_parity(reference, candidate, getattr(limits, precision), context)
    return {}, [f"unknown precision {precision!r}; valid: fp32, fp16, int8"]


def _get(data: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    return data


METADATA_FIELDS = ("input.mean", "input.std", "input.resize.size", "input.resize.interpolation", "labels.names",
                   "labels.target", "year.mean", "year.scale")


def check_metadata(embedded: dict[str, Any], expected: dict[str, Any], fields: tuple[str, ...] = METADATA_FIELDS) -> list[str]:
    """Failures where a file's embedded metadata lacks or changes a field the app needs."""
    failures = []
    for name in fields:
        want, got = _get(expected, name), _get(embedded, name)
        if want is not None and got != want:
            failures.append(f"metadata {name}: file has {got!r}, expected {want!r}")
    return failures
