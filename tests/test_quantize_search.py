"""Accuracy-aware int8: the search logic (fake back end, fake latency) and the ONNX back end on a tiny file."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from mocar.errors import InputError
from mocar.quantize.search import LayerGroup, LayerSensitivity, analyze, ranking_subset, search_fallback

N_IMAGES, N_CLASSES = 200, 5
# Images each group gets wrong when it is quantised: quantising everything costs 10 % agreement,
# the groups overlap (g4 breaks images g0 breaks too), so K matters as a whole, not group by group.
BREAKS = {"g0": range(10), "g1": range(10, 15), "g2": range(15, 18), "g3": range(18, 19),
          "g4": range(2), "g5": range(19, 20)}


class FakeQuantizer:
    """Writes a JSON file naming the float groups; :func:`fake_predict` turns it into logits."""

    runtime, flavour, suffix = "fake", "test", ".json"

    def __init__(self) -> None:
        self.built: list[tuple[str, ...]] = []

    def groups(self) -> list[LayerGroup]:
        return [LayerGroup(name, (f"{name}/conv",)) for name in BREAKS]

    def build(self, float_groups, dst: Path) -> Path:
        names = tuple(g.name for g in float_groups)
        self.built.append(names)
        dst.write_text(json.dumps({"quantised": [n for n in BREAKS if n not in names]}))
        return dst

    def build_only(self, group: LayerGroup, dst: Path) -> Path:
        dst.write_text(json.dumps({"quantised": [group.name]}))
        return dst


def reference_logits() -> np.ndarray:
    logits = np.zeros((N_IMAGES, N_CLASSES), np.float32)
    logits[np.arange(N_IMAGES), np.arange(N_IMAGES) % N_CLASSES] = 1.0
    return logits


def fake_predict(path: Path, images: np.ndarray) -> np.ndarray:
    logits = reference_logits()
    for name in json.loads(path.read_text())["quantised"]:
        for row in BREAKS[name]:
            logits[row] = np.roll(logits[row], 1) * 2.0  # another class wins, by a margin
    return logits


def fake_timer(speed: dict[int, float] | None = None):
    """Latency grows with the number of float groups (fp32 = 2 ms) unless ``speed`` overrides it per K."""
    def timer(path: Path) -> tuple[float, float]:
        k = len(BREAKS) - len(json.loads(path.read_text())["quantised"])
        return (speed or {}).get(k, 1.0 + 0.1 * k), 2.0
    return timer


def run_search(tmp_path: Path, target: float, **kwargs):
    images = np.zeros((N_IMAGES, 3, 4, 4), np.float32)
    return search_fallback(FakeQuantizer(), images, reference_logits(), target, tmp_path, predict=fake_predict,
                           timer=kwargs.pop("timer", fake_timer()), **kwargs)


def test_analyze_ranks_most_harmful_first(tmp_path):
    found = analyze(FakeQuantizer(), np.zeros((N_IMAGES, 3, 4, 4), np.float32), reference_logits(), tmp_path,
                    predict=fake_predict)
    assert [s.group.name for s in found][:4] == ["g0", "g1", "g2", "g4"]
    assert found[0].agreement_alone == pytest.approx(0.95)
    assert all(a.logit_error_alone >= b.logit_error_alone for a, b in itertools.pairwise(found))


def row_predict(path: Path, images: np.ndarray) -> np.ndarray:
    """Like :func:`fake_predict`, for any subset of the images (pixel [0, 0, 0] holds the row)."""
    return fake_predict(path, images)[images[:, 0, 0, 0].astype(int)]


def test_ranking_subset_spreads_over_the_images():
    assert ranking_subset(np.zeros(10), None).tolist() == list(range(10))
    assert ranking_subset(np.zeros(10), 50).tolist() == list(range(10))
    assert ranking_subset(np.zeros(10), 3).tolist() == [0, 4, 9]  # ends and middle, not the first three
    with pytest.raises(InputError, match="rank_images"):
        ranking_subset(np.zeros(10), 0)


def test_analyze_ranks_on_the_subset_it_is_given(tmp_path):
    images = np.zeros((N_IMAGES, 3, 4, 4), np.float32)
    images[:, 0, 0, 0] = np.arange(N_IMAGES)
    found = analyze(FakeQuantizer(), images, reference_logits(), tmp_path, predict=row_predict, rank_images=20)
    # 20 rows spread over 200 are 0, 10, 21, ...: g0 (rows 0-9) breaks row 0 only, g1 (10-14) row 10 only
    assert found[0].agreement_alone == pytest.approx(0.95)
    assert sum(s.agreement_alone < 1.0 for s in found) == 3  # g0, g1 and g4 (rows 0-1) touch the subset


def test_analyze_past_its_deadline_ranks_the_rest_last_unmeasured(tmp_path):
    images = np.zeros((N_IMAGES, 3, 4, 4), np.float32)
    found = analyze(FakeQuantizer(), images, reference_logits(), tmp_path, predict=fake_predict, deadline=0.0)
    assert [s.group.name for s in found] == list(BREAKS)  # graph order
    assert not any(s.measured for s in found) and found[0].agreement_alone is None
    result = search_fallback(FakeQuantizer(), images, reference_logits(), 0.96, tmp_path, sensitivities=found,
                             predict=fake_predict, timer=fake_timer())
    assert result.chosen is not None  # the search still runs, in graph order
    assert result.to_dict()["sensitivities"][0]["logit_error_alone"] is None


@pytest.mark.parametrize("target", [0.90, 0.93, 0.96, 0.98, 0.995])
def test_never_picks_below_target_and_records_float_groups(tmp_path, target):
    result = run_search(tmp_path, target)
    assert result.chosen is not None, result.reason
    assert result.chosen.agreement.value >= target
    assert all(p.meets_target == (p.agreement.value >= target) for p in result.points)
    order = [s.group.name for s in result.sensitivities]
    assert result.chosen.float_groups == tuple(order[: len(result.chosen.float_groups)])
    assert json.loads(json.dumps(result.to_dict()))["chosen"]["float_groups"] == list(result.chosen.float_groups)
    smallest = min(len(p.float_groups) for p in result.points if p.meets_target)
    assert len(result.chosen.float_groups) == smallest  # latency grows with K here: smallest is fastest


def test_target_0_96_needs_g0_and_g1_float(tmp_path):
    result = run_search(tmp_path, 0.96)
    assert result.chosen.float_groups == ("g0", "g1")
    assert result.chosen.agreement.value == pytest.approx(0.965)  # g2, g3, g4, g5 still break 7 images


def test_picks_the_fastest_passing_point(tmp_path):
    # K=2 is the smallest passing set, but K=3 (its float/int8 boundary gone) is faster.
    result = run_search(tmp_path, 0.96, timer=fake_timer({2: 1.8, 3: 1.1}))
    assert {len(p.float_groups) for p in result.points} >= {2, 3}
    assert len(result.chosen.float_groups) == 3
    assert result.chosen.speedup == pytest.approx(2.0 / 1.1)


def test_min_speedup_rules_out_slow_points(tmp_path):
    result = run_search(tmp_path, 0.96, min_speedup=3.0)
    assert result.chosen is None
    assert "3.0x fp32" in result.reason and result.points


def test_lower_bound_criterion_keeps_more_float(tmp_path):
    point, lower = run_search(tmp_path / "a", 0.96), run_search(tmp_path / "b", 0.96, criterion="lower")
    assert lower.chosen.agreement.low >= 0.96 > point.chosen.agreement.low
    assert len(lower.chosen.float_groups) > len(point.chosen.float_groups)
    with pytest.raises(InputError):
        run_search(tmp_path / "c", 0.96, criterion="median")


def test_unreachable_target_says_best_agreement(tmp_path):
    sensitivities = [LayerSensitivity(g, 0.9, 0.0) for g in FakeQuantizer().groups()[::-1]]  # useless order
    result = run_search(tmp_path, 1.0, sensitivities=sensitivities, max_candidates=3)
    assert result.chosen is None
    assert "no candidate reached" in result.reason and "best" in result.reason


def test_always_stops_on_candidate_count_and_budget(tmp_path):
    quantizer_calls = run_search(tmp_path / "a", 0.995, max_candidates=2)
    assert len(quantizer_calls.points) == 2 and "max_candidates=2" in quantizer_calls.reason
    spent = run_search(tmp_path / "b", 0.995, budget_s=0.0)
    assert spent.points == [] and spent.chosen is None and "budget" in spent.reason


def test_same_inputs_same_choice(tmp_path):
    first, second = run_search(tmp_path / "a", 0.96), run_search(tmp_path / "b", 0.96)
    assert first.chosen.float_groups == second.chosen.float_groups
    assert [p.float_groups for p in first.points] == [p.float_groups for p in second.points]


def test_rejects_bad_target_and_shapes(tmp_path):
    with pytest.raises(InputError):
        run_search(tmp_path, 1.5)
    with pytest.raises(InputError):
        search_fallback(FakeQuantizer(), np.zeros((3, 3, 4, 4), np.float32), reference_logits(), 0.9, tmp_path,
                        predict=fake_predict, timer=fake_timer())


# --- the ONNX back end on the tiny export -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_onnx(tiny_onnx_export, tmp_path_factory):
    """The tiny fp32 file, 24 calibration and 48 evaluation images (seeded noise in the input space)."""
    from mocar.quantize.onnx_search import OnnxQuantizer
    from mocar.runtime.runners import open_runner

    fp32 = tiny_onnx_export["export"] / "model_fp32.onnx"
    runner = open_runner(fp32, threads=1)
    shape = runner.session.get_inputs()[0].shape[1:]
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(24, *shape)).astype(np.float32)
    images = rng.normal(size=(48, *shape)).astype(np.float32)
    quantizer = OnnxQuantizer(fp32, calibration, "u8s8_conv", work_dir=tmp_path_factory.mktemp("onnx_search"))
    return {"fp32": fp32, "quantizer": quantizer, "images": images, "reference": runner.run(images)["logits"]}


def test_onnx_groups_are_disjoint_blocks_of_the_quantisable_layers(tiny_onnx):
    import onnx

    groups = tiny_onnx["quantizer"].groups()
    assert groups and groups[0].name == "stem" and all(g.nodes for g in groups)
    nodes = [n for g in groups for n in g.nodes]
    assert len(nodes) == len(set(nodes)) and len({g.name for g in groups}) == len(groups)
    convs = {n.name for n in onnx.load(str(tiny_onnx["fp32"])).graph.node if n.op_type == "Conv"}
    assert convs <= set(nodes)  # every conv can fall back; the output Gemms are float anyway
    if any(n.op_type == "MaxPool" for n in onnx.load(str(tiny_onnx["fp32"])).graph.node):
        assert len(groups[0].nodes) > 1  # the stem conv falls back with the convs reading its pooling


def test_onnx_all_groups_float_agrees_with_fp32(tiny_onnx, tmp_path):
    from mocar.runtime.onnx_file import read_onnx_metadata
    from mocar.runtime.runners import open_runner

    quantizer = tiny_onnx["quantizer"]
    path = quantizer.build(quantizer.groups(), tmp_path / "all_float.onnx")
    logits = open_runner(path, threads=1).run(tiny_onnx["images"])["logits"]
    np.testing.assert_array_equal(logits.argmax(1), tiny_onnx["reference"].argmax(1))
    np.testing.assert_allclose(logits, tiny_onnx["reference"], atol=1e-4)
    quantization = read_onnx_metadata(path)["quantization"]
    assert quantization["float_groups"] == [g.name for g in quantizer.groups()]
    assert quantization["float_layers"] == [n for g in quantizer.groups() for n in g.nodes]
    assert quantizer.calibration_cache.is_file()  # calibrated once, reused by later builds


def test_onnx_analyze_and_search_run_on_the_tiny_file(tiny_onnx, tmp_path):
    quantizer, images, reference = tiny_onnx["quantizer"], tiny_onnx["images"], tiny_onnx["reference"]
    found = analyze(quantizer, images, reference, tmp_path, threads=1)
    assert {s.group.name for s in found} == {g.name for g in quantizer.groups()}
    assert all(0.0 <= s.agreement_alone <= 1.0 and s.logit_error_alone >= 0.0 for s in found)
    result = search_fallback(quantizer, images, reference, 0.5, tmp_path, sensitivities=found, latency_runs=10,
                             max_candidates=2)
    assert result.points and len(result.points) <= 2 and result.fp32_p50_ms > 0
    assert result.chosen is None or result.chosen.agreement.value >= 0.5
    assert all(p.path.is_file() for p in result.points)


def test_onnx_sqnr_in_chunks_equals_the_debugger_in_one_pass(tiny_onnx):
    """Summing energies over chunks of images gives onnxruntime's own all-images SQNR (without holding them all)."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations, compute_activation_error, create_activation_matching,
        modify_model_output_intermediate_tensors)

    from mocar.quantize.onnx_int8 import ArrayReader

    quantizer, images = tiny_onnx["quantizer"], tiny_onnx["images"][:10]
    chunked = quantizer.activation_sqnr(images, count=10, chunk=3)
    folder = quantizer.work_dir / "sqnr"
    activations = {}
    for name, path in (("float", quantizer.fp32_path), ("int8", folder / "full_int8.onnx")):
        modify_model_output_intermediate_tensors(str(path), str(folder / f"{name}_whole.onnx"))
        activations[name] = collect_activations(str(folder / f"{name}_whole.onnx"), ArrayReader(images))
    errors = compute_activation_error(create_activation_matching(activations["int8"], activations["float"]))
    outputs = quantizer._output_tensors()
    assert set(chunked) == {g.name for g in quantizer.groups()}
    for group in quantizer.groups():
        whole = min(errors[t]["xmodel_err"] for n in group.nodes for t in outputs[n] if "xmodel_err" in errors.get(t, {}))
        assert chunked[group.name] == pytest.approx(whole, abs=1e-3)
    assert quantizer.activation_sqnr(images, count=0) == {}
