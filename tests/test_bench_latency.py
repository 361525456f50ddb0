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
