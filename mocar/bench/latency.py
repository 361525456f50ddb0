"""Latency helpers for ``mocar bench``.

Currently: parsing the stdout of the official LiteRT/TFLite ``benchmark_model``
tool. Caveat: the tool's wording has changed across releases; only the
``Inference timings in us:``, ``Peak memory footprint (MB):`` and statistics
(``count=50 first=... min=... max=... avg=... std=...``) lines are parsed, and
unknown keys inside them are kept under a snake_case name.

The tool prints one statistics line per phase (warm-up, then the timed runs);
the last one describes the timed runs. It reports mean, min, max and standard
deviation, **not a median**: a median is returned only if the line carries one
(``median=``, as percentile-keeping builds print), never estimated.
"""

from __future__ import annotations

import re

from mocar.errors import InputError

_TIMINGS_PREFIX = "Inference timings in us:"
_MEMORY_PREFIX = "Peak memory footprint (MB):"
# "INFO: " is the log prefix of newer releases; op-profiling lines ("Timings (microseconds): count=...") must not match.
_STATS_LINE = re.compile(r"^\s*(?:[A-Z]+:\s*)?count=\d+")
_STATS_PAIR = re.compile(r"([a-z_0-9]+)=(-?[0-9.eE+]+)")
_KEY_VALUE = re.compile(r"([A-Za-z][A-Za-z ()]*?)\s*[:=]\s*(-?[0-9.eE+]+)")


def _snake(name: str) -> str:
    """Turn a label such as ``Warmup (avg)`` into ``warmup_avg``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _parse_pairs(body: str) -> dict[str, float]:
    """Parse ``Key: value, Key2: value`` (or ``key=value``) pairs."""
    return {_snake(key): float(value) for key, value in _KEY_VALUE.findall(body)}


def parse_benchmark_model_output(text: str) -> dict[str, float]:
    """Extract timings and memory from ``benchmark_model`` stdout.

    Args:
        text: The tool's full stdout.

    Returns:
        Keys ``init_us``, ``first_inference_us``, ``warmup_avg_us``,
        ``inference_avg_us`` (whatever the timings line holds, suffixed
        ``_us``); ``peak_memory_init_mb`` / ``peak_memory_overall_mb``
        when the memory line is present; ``runs_count``, ``runs_min_us``,
        ``runs_max_us``, ``runs_avg_us``, ``runs_std_us`` (and
        ``runs_median_us`` only if printed) from the last statistics line.
        The last matching line wins.

    Raises:
        InputError: If no ``Inference timings in us:`` line is found.
    """
    result: dict[str, float] = {}
    found_timings = False
    for line in text.splitlines():
        if _TIMINGS_PREFIX in line:
            found_timings = True
            body = line.split(_TIMINGS_PREFIX, 1)[1]
            result.update({f"{k}_us": v for k, v in _parse_pairs(body).items()})
        elif _MEMORY_PREFIX in line:
            body = line.split(_MEMORY_PREFIX, 1)[1]
            result.update({f"peak_memory_{k}_mb": v for k, v in _parse_pairs(body).items()})
        elif _STATS_LINE.match(line):
            stats = {key: float(value) for key, value in _STATS_PAIR.findall(line)}
            result.update({"runs_count": stats.pop("count")}, **{f"runs_{k}_us": v for k, v in stats.items()})
    if not found_timings:
        raise InputError(
            f"benchmark_model output has no '{_TIMINGS_PREFIX}' line; "
            f"first 200 characters were: {text[:200]!r}"
        )
    return result
