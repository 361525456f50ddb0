"""The one verdict engine: a parity policy applied to flat bench rows.

A policy maps precision -> metric -> {min|max: threshold}; metric names are fields of the flat bench
rows (:mod:`mocar.bench.rows`). ``mocar bench --check`` gates CI with it, int8 auto-selection
(:mod:`mocar.quantize.select`) keeps only files that pass it, and the benchmark scripts judge their
targets with it. Caveat: a metric missing from a row (e.g. no embedding output) fails the check
rather than passing silently.

Semantics (a figure measured on n images is only as good as n):

* each bound is judged on the point estimate;
* ``min_images`` (top-level key; default policy: 1,000): a check whose figure was measured on fewer
  images fails as "too few images (n)" — on 186 images one flip is 0.54 points and the 95 % interval
  spans ±2–3 points, so a 99 % bound cannot be judged. Labelled figures (top-1, Δtop-1, year MAE,
  ΔMAE) count ``labelled_images``, the others ``parity_images``; a row without the count fails too;
* a check whose 95 % interval (``<metric>_low``/``<metric>_high`` in the row) contains the bound is
  flagged "within noise": it passes or fails on its point estimate, but the data cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mocar.errors import ConfigError
from mocar.runtime.errors import PolicyViolation
from mocar.runtime.statistics import straddles

Policy = dict[str, Any]  # precision -> metric -> {min|max: threshold}, plus "min_images": int
MIN_IMAGES_KEY = "min_images"
LABELLED_METRICS = frozenset({"top1", "delta_top1", "year_mae", "delta_mae", "delta_mae_rel"})


def images_field(metric: str) -> str:
    """The row field holding the number of images a metric was measured on."""
    return "labelled_images" if metric in LABELLED_METRICS else "parity_images"


@dataclass(frozen=True)
class CheckResult:
    """One export x metric check."""

    export: str
    metric: str
    measured: float | None
    bound: str
    threshold: float
    simulated: bool
    images: int | None = None
    min_images: int = 0
    low: float | None = None
    high: float | None = None

    @property
    def within_bound(self) -> bool:
        """True when the point estimate is present and within the threshold."""
        if self.measured is None:
            return False
        if self.bound == "min":
            return self.measured >= self.threshold
        return self.measured <= self.threshold

    @property
    def too_few_images(self) -> bool:
        """True when the figure rests on fewer than ``min_images`` images (or an unknown number)."""
        return self.min_images > 0 and (self.images is None or self.images < self.min_images)

    @property
    def within_noise(self) -> bool:
        """True when the figure's 95 % interval contains the threshold."""
        return straddles(self.low, self.high, self.threshold)

    @property
    def passed(self) -> bool:
        """Within the threshold, measured on enough images."""
        return self.within_bound and not self.too_few_images

    def describe(self) -> str:
        """One-line human description, e.g. for JUnit failure messages and the report."""
        op = ">=" if self.bound == "min" else "<="
        measured = None if self.measured is None else round(self.measured, 4)
        interval = f" [{self.low:.4g}, {self.high:.4g}]" if self.low is not None and self.high is not None else ""
        n = f"n={self.images}" if self.images is not None else "n unknown"
        text = f"{self.export}: {self.metric} = {measured}{interval} ({n}; required {op} {self.threshold})"
        if self.too_few_images:
            text += f" — too few images ({self.images if self.images is not None else 'unknown'} < {self.min_images})"
        if self.within_noise:
            text += " — within noise (the interval contains the bound)"
        return text + (" [simulated]" if self.simulated else "")


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy YAML; ``None`` loads the packaged default policy."""
    if path is None:
        text = resources.files("mocar.runtime").joinpath("default_policy.yaml").read_text()
        source = "mocar/runtime/default_policy.yaml"
    else:
        text, source = Path(path).read_text(), str(path)
    policy = yaml.safe_load(text) or {}
    minimum = policy.get(MIN_IMAGES_KEY, 0)
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0:
        raise ConfigError(f"{source}: {MIN_IMAGES_KEY} must be a whole number >= 0, got {minimum!r}")
    for precision, metrics in policy.items():
        if precision == MIN_IMAGES_KEY:
            continue
        for metric, rule in (metrics or {}).items():
            if not isinstance(rule, dict) or set(rule) - {"min", "max"} or not rule:
                raise ConfigError(f"{source}: {precision}.{metric} must be {{min: x}} and/or {{max: y}}, got {rule!r}")
    return policy


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def evaluate_policy(rows: list[dict], policy: Policy, min_images: int | None = None) -> list[CheckResult]:
    """Check every row against the thresholds of its ``precision``.

    Rows need ``export`` and ``precision`` keys; rows whose precision has no entry in the policy
    produce no checks. ``min_images`` overrides the policy's (see the module docstring).
    """
    minimum = int(policy.get(MIN_IMAGES_KEY, 0) if min_images is None else min_images)
    results = []
    for row in rows:
        for metric, rule in (policy.get(row["precision"]) or {}).items():
            for bound, threshold in rule.items():
                images = row.get(images_field(metric))
                results.append(CheckResult(
                    export=str(row["export"]), metric=metric, measured=_number(row.get(metric)),
                    bound=bound, threshold=float(threshold), simulated=bool(row.get("simulated", False)),
                    images=None if images is None else int(images), min_images=minimum,
                    low=_number(row.get(f"{metric}_low")), high=_number(row.get(f"{metric}_high")),
                ))
    return results


def raise_on_violations(results: list[CheckResult]) -> None:
    """Raise ``PolicyViolation`` listing every failed check; return if all passed."""
    failures = [r.describe() for r in results if not r.passed]
    if failures:
        raise PolicyViolation(failures)
