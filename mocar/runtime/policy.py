"""The one verdict engine: a parity policy applied to flat bench rows.

A policy maps precision -> metric -> {min|max: threshold}; metric names are fields of the flat bench
rows (:mod:`mocar.bench.rows`). ``mocar bench --check`` gates CI with it, int8 auto-selection
(:mod:`mocar.quantize.select`) keeps only files that pass it, and the benchmark scripts judge their
targets with it. Caveat: a metric missing from a row (e.g. no embedding output) fails the check
rather than passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from mocar.errors import ConfigError
from mocar.runtime.errors import PolicyViolation

Policy = dict[str, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class CheckResult:
    """One export x metric check."""

    export: str
    metric: str
    measured: float | None
    bound: str
    threshold: float
    simulated: bool

    @property
    def passed(self) -> bool:
        """True when the measured value is present and within the threshold."""
        if self.measured is None:
            return False
        if self.bound == "min":
            return self.measured >= self.threshold
        return self.measured <= self.threshold

    def describe(self) -> str:
        """One-line human description, e.g. for JUnit failure messages."""
        op = ">=" if self.bound == "min" else "<="
        tag = " [simulated]" if self.simulated else ""
        measured = None if self.measured is None else round(self.measured, 4)
        return f"{self.export}: {self.metric} = {measured} (required {op} {self.threshold}){tag}"


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy YAML; ``None`` loads the packaged default policy."""
    if path is None:
        text = resources.files("mocar.runtime").joinpath("default_policy.yaml").read_text()
        source = "mocar/runtime/default_policy.yaml"
    else:
        text, source = Path(path).read_text(), str(path)
    policy = yaml.safe_load(text) or {}
    for precision, metrics in policy.items():
        for metric, rule in (metrics or {}).items():
            if not isinstance(rule, dict) or set(rule) - {"min", "max"} or not rule:
                raise ConfigError(f"{source}: {precision}.{metric} must be {{min: x}} and/or {{max: y}}, got {rule!r}")
    return policy


def evaluate_policy(rows: list[dict], policy: Policy) -> list[CheckResult]:
    """Check every row against the thresholds of its ``precision``.

    Rows need ``export`` and ``precision`` keys; rows whose precision has no
    entry in the policy produce no checks.
    """
    results = []
    for row in rows:
        for metric, rule in (policy.get(row["precision"]) or {}).items():
            for bound, threshold in rule.items():
                measured = row.get(metric)
                results.append(CheckResult(
                    export=str(row["export"]), metric=metric,
                    measured=None if measured is None else float(measured),
                    bound=bound, threshold=float(threshold),
                    simulated=bool(row.get("simulated", False)),
                ))
    return results


def raise_on_violations(results: list[CheckResult]) -> None:
    """Raise ``PolicyViolation`` listing every failed check; return if all passed."""
    failures = [r.describe() for r in results if not r.passed]
    if failures:
        raise PolicyViolation(failures)
