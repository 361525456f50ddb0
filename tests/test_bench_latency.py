"""Tests for parsing LiteRT ``benchmark_model`` stdout."""

import pytest

from mocar.bench.latency import parse_benchmark_model_output
from mocar.errors import InputError

# Format as printed by the LiteRT benchmark tool (timings line + memory line).
_EXAMPLE = """\
STARTING!
Num runs: [50]
The input model file size (MB): 23.8
Initialized session in 12.345ms.
count=50 first=6789 curr=1000 min=950 max=1200 avg=1000.2 std=40
Inference timings in us: Init: 12345, First inference: 6789, Warmup (avg): 1234.5, Inference (avg): 1000.2
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=3.5, overall=41.25
"""


def test_parses_timings_and_memory():
    parsed = parse_benchmark_model_output(_EXAMPLE)
    assert parsed["init_us"] == 12345.0
    assert parsed["first_inference_us"] == 6789.0
    assert parsed["warmup_avg_us"] == pytest.approx(1234.5)
    assert parsed["inference_avg_us"] == pytest.approx(1000.2)
    assert parsed["peak_memory_init_mb"] == pytest.approx(3.5)
    assert parsed["peak_memory_overall_mb"] == pytest.approx(41.25)


def test_missing_timings_line_raises():
    with pytest.raises(InputError, match="Inference timings"):
        parse_benchmark_model_output("Peak memory footprint (MB): init=1, overall=2\n")


def test_statistics_line_of_the_timed_runs_wins_and_no_median_is_invented():
    text = ("INFO: count=4 first=30000 curr=20000 min=20000 max=30000 avg=25000 std=4000\n"
            "INFO: count=60 first=12000 curr=990 min=950 max=1200 avg=1000.5 std=40\n"
            "INFO: Inference timings in us: Init: 1, First inference: 2, Warmup (avg): 3, Inference (avg): 1000.5\n")
    parsed = parse_benchmark_model_output(text)
    assert (parsed["runs_count"], parsed["runs_min_us"], parsed["runs_max_us"]) == (60.0, 950.0, 1200.0)
    assert parsed["runs_avg_us"] == pytest.approx(1000.5) and parsed["runs_std_us"] == 40.0
    assert "runs_median_us" not in parsed


def test_median_is_kept_when_printed_and_op_profiling_lines_are_ignored():
    text = (_EXAMPLE + "count=50 first=1 curr=2 min=900 max=1300 avg=1000 std=10 p5=920 median=990 p95=1200\n"
            "Timings (microseconds): count=3 first=7 curr=7 min=7 max=7 avg=7 std=0\n")
    parsed = parse_benchmark_model_output(text)
    assert parsed["runs_median_us"] == 990.0 and parsed["runs_count"] == 50.0 and parsed["runs_min_us"] == 900.0
