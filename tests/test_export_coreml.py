"""CoreML export on a tiny MOCaR network: files, spec, metadata, simulated parity, int8 read-back.

coremltools can segfault in a process that imported TensorFlow (or only torch) before it, and
other test files may import TensorFlow, so everything that needs coremltools (conversion, the
milproto read-back of int8 weights, coremltools' own spec parser) runs in one child process
(``_CHILD``) that writes raw results; the assertions run here. CoreML files cannot run on Linux:
parity numbers come from :class:`CoreMLRunner`'s simulation and are checked as such.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mocar.runtime.runners.coreml_runner import CoreMLRunner
from mocar.errors import ConfigError, InputError
from mocar.runtime.run_metadata import metadata_from_model_config
from mocar.runtime.coreml_file import CoreMLRuntimeError, ensure_safe_import_order, import_coremltools, read_coreml_metadata
from mocar.runtime.errors import MetadataError
from mocar.export.validate import check_metadata
from mocar.runtime.coreml_spec import read_coreml_description
from mocar.runtime.coreml_weights import QuantizedWeight, int8_weight_recipe, parameter_name
from mocar.export.to_coreml import CoreMLOptions, image_scale_bias
from mocar.model import ExportWrapper, create_model_from_preset, load_model, prepare_for_export, save_model

REPO = Path(__file__).resolve().parents[1]
IMG = 32
LABELS = {"names": ["Antikensammlung", "Münzkabinett", "Vorderasiatisches Museum"], "target": "collection"}
# Exports the tiny model twice (tensor input, iOS16, all precisions; image input, iOS18, int8 with a
# low threshold) and dumps what only coremltools can read.
_CHILD = r'''
import json, sys
from pathlib import Path
import numpy as np
import torch
from mocar.export.job import ExportJob
from mocar.export.to_coreml import export_coreml
from mocar.runtime.coreml_file import import_coremltools
from mocar.runtime.coreml_weights import read_quantized_weights
from mocar.runtime.runners.coreml_runner import CoreMLRunner

root, model_file = Path(sys.argv[1]), Path(sys.argv[2])
metadata = json.loads(Path(sys.argv[3]).read_text())
ct = import_coremltools()
jobs = {
    "main": ExportJob(model_file, root / "export", 32, ("fp32", "fp16", "int8"), metadata),
    "image18": ExportJob(model_file, root / "export18", 32, ("int8",), metadata,
                         options={"coreml_target": "iOS18", "coreml_input": "image", "coreml_weight_threshold": 256,
                                  "file_stem": "img"}),
}
images = np.random.default_rng(0).standard_normal((256, 3, 32, 32)).astype(np.float32)
np.save(root / "images.npy", images)
report, arrays = {}, {}
for key, job in jobs.items():
    for record in export_coreml(job):
        tag = f"{key}_{record.precision}"
        spec = ct.utils.load_spec(str(record.path))
        feature = lambda f: {"name": f.name, "description": f.shortDescription, "type": f.type.WhichOneof("Type")}
        report[tag] = {"record": record.to_dict(), "spec_version": spec.specificationVersion,
                       "short_description": spec.description.metadata.shortDescription,
                       "user_defined": dict(spec.description.metadata.userDefined),
                       "inputs": [feature(f) for f in spec.description.input],
                       "outputs": [feature(f) for f in spec.description.output]}
        runner = CoreMLRunner(record.path)
        report[tag]["runner"] = runner.describe()
        for name, value in runner.run(images).items():
            arrays[f"{tag}/out/{name}"] = value
        weights = read_quantized_weights(record.path)
        report[tag]["quantized"] = {name: w.op_type for name, w in weights.items()}
        for name, w in weights.items():
            arrays[f"{tag}/q/{name}/data"] = w.data
            arrays[f"{tag}/q/{name}/scale"] = w.scale
            arrays[f"{tag}/q/{name}/dequantized"] = w.dequantize()
(root / "report.json").write_text(json.dumps(report))
np.savez(root / "arrays.npz", **arrays)
'''


def tiny_model(seed: int = 0) -> torch.nn.Module:
    """The tiny MOCaR net with non-zero heads and non-trivial norm parameters."""
    torch.manual_seed(seed)
    model = create_model_from_preset("mocar_tiny", num_classes=3, input_size=IMG, year_mean=-500.0, year_scale=800.0)
    with torch.no_grad():
        for layer in (model.classifier, model.regressor):
            layer.weight.normal_(0.0, 0.1)
            layer.bias.normal_(0.0, 0.1)
        for module in model.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.normal_(1.0, 0.1)
                module.bias.normal_(0.0, 0.1)
    return model.eval()


def job_metadata(model: torch.nn.Module) -> dict:
    """What the export stage hands an exporter, for a bare model file plus labels."""
    return {**metadata_from_model_config(model.config), "labels": LABELS}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Runs the child once; returns (root, report, arrays, model file)."""
    root = tmp_path_factory.mktemp("coreml")
    model = tiny_model()
    model_file = save_model(model, root / "model.pt")
    (root / "job_metadata.json").write_text(json.dumps(job_metadata(model)))
    script = root / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(root), str(model_file), str(root / "job_metadata.json")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"child failed ({done.returncode}):\n{done.stderr[-4000:]}"
    report = json.loads((root / "report.json").read_text())
    with np.load(root / "arrays.npz") as data:
        arrays = dict(data)
    return root, report, arrays, model_file


def reference_outputs(model_file: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    wrapped = ExportWrapper(prepare_for_export(load_model(model_file))).eval()
    with torch.no_grad():
        outputs = wrapped(torch.from_numpy(images))
    return {name: out.numpy() for name, out in zip(wrapped.output_names, outputs)}


def folded_state(model_file: Path) -> dict[str, torch.Tensor]:
    return prepare_for_export(load_model(model_file)).state_dict()


@pytest.mark.slow
def test_each_precision_writes_a_valid_package(exported):
    root, report, _, _ = exported
    for precision, flavour in (("fp32", "float"), ("fp16", "float16"), ("int8", "w8a16")):
        entry = report[f"main_{precision}"]
        record = entry["record"]
        path = Path(record["path"])
        assert path == root / "export" / f"mocar_{precision}.mlpackage"
        assert (path / "Manifest.json").is_file() and (path / "Data" / "com.apple.CoreML" / "weights").is_dir()
        assert (record["precision"], record["flavour"], record["format"]) == (precision, flavour, "coreml")
        assert record["input_shape"] == [1, 3, IMG, IMG] and record["layout"] == "NCHW"
        assert record["output_names"] == ["logits", "year", "embedding"]
        assert entry["spec_version"] == 7  # iOS16
        assert record["seconds"] > 0
    assert report["image18_int8"]["spec_version"] == 9  # iOS18


@pytest.mark.slow
def test_spec_inputs_and_outputs(exported):
    _, report, _, _ = exported
    for precision in ("fp32", "fp16", "int8"):
        described = read_coreml_description(Path(report[f"main_{precision}"]["record"]["path"]))
        assert [(f.name, f.kind, f.shape, f.dtype) for f in described.inputs] == [
            ("image", "multiarray", [1, 3, IMG, IMG], "float32")]
        assert [(f.name, f.shape, f.dtype) for f in described.outputs] == [
            ("logits", [1, 3], "float32"), ("year", [1], "float32"), ("embedding", [1, 256], "float32")]
    image_input = read_coreml_description(Path(report["image18_int8"]["record"]["path"])).inputs[0]
    assert (image_input.name, image_input.kind, image_input.shape, image_input.dtype) == (
        "image", "image", [IMG, IMG], "rgb")


@pytest.mark.slow
def test_own_spec_reader_agrees_with_coremltools(exported):
    _, report, _, _ = exported
    for tag, entry in report.items():
        described = read_coreml_description(Path(entry["record"]["path"]))
        assert described.specification_version == entry["spec_version"], tag
        assert described.short_description == entry["short_description"], tag
        assert described.user_defined == entry["user_defined"], tag
        assert [(f.name, f.description) for f in described.inputs] == [
            (f["name"], f["description"]) for f in entry["inputs"]], tag
        assert [(f.name, f.description) for f in described.outputs] == [
            (f["name"], f["description"]) for f in entry["outputs"]], tag


@pytest.mark.slow
def test_metadata_round_trips(exported):
    _, report, _, model_file = exported
    for precision, flavour in (("fp32", "float"), ("fp16", "float16"), ("int8", "w8a16")):
        path = Path(report[f"main_{precision}"]["record"]["path"])
        metadata, expected = read_coreml_metadata(path), job_metadata(load_model(model_file))
        unchanged = set(expected) - {"precision", "format"}
        assert {k: metadata[k] for k in unchanged} == {k: expected[k] for k in unchanged}
        assert metadata["format"] == "coreml" and metadata["labels"]["names"][1] == "Münzkabinett"
        assert check_metadata(metadata, expected) == []
        assert (metadata["precision"], metadata["quantization"]["flavour"]) == (precision, flavour)
        assert metadata["coreml"]["minimum_deployment_target"] == "iOS16"
        assert metadata["coreml"]["output_names"] == ["logits", "year", "embedding"]
        outputs = {f.name: f.description for f in read_coreml_description(path).outputs}
        assert "year * 800.0 + -500.0" in outputs["year"]
    assert read_coreml_metadata(Path(report["image18_int8"]["record"]["path"]))["coreml"]["input_kind"] == "image"


@pytest.mark.slow
def test_runner_labels_linux_results_simulated(exported):
    _, report, _, _ = exported
    for entry in report.values():
        assert entry["runner"]["simulated"] is True
        assert entry["runner"]["execution"].startswith("simulated: PyTorch CPU")


@pytest.mark.slow
def test_simulated_fp32_and_fp16_parity(exported):
    root, _, arrays, model_file = exported
    reference = reference_outputs(model_file, np.load(root / "images.npy"))
    for name, expected in reference.items():
        fp32, fp16 = arrays[f"main_fp32/out/{name}"], arrays[f"main_fp16/out/{name}"]
        assert fp32.shape == expected.shape
        np.testing.assert_allclose(fp32, expected, rtol=1e-5, atol=1e-5)
        scale = float(np.abs(expected).max())
        fp16_error = float(np.abs(fp16 - expected).max())
        assert fp16_error <= 2e-2 * scale, (name, fp16_error, scale)
        assert fp16_error > 1e-5 * scale, f"{name}: fp16 simulation is suspiciously exact (not run in fp16?)"


@pytest.mark.slow
def test_simulated_int8_agrees_and_uses_int8_weights(exported):
    root, _, arrays, model_file = exported
    reference = reference_outputs(model_file, np.load(root / "images.npy"))
    logits = arrays["main_int8/out/logits"]
    agreement = float((logits.argmax(1) == reference["logits"].argmax(1)).mean())
    assert agreement >= 0.9, agreement
    embedding, expected = arrays["main_int8/out/embedding"], reference["embedding"]
    cosine = (embedding * expected).sum(1) / (np.linalg.norm(embedding, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() >= 0.99, cosine.min()
    # int8 weights must change the result beyond what fp16 compute alone does.
    assert np.abs(logits - arrays["main_fp16/out/logits"]).max() > 3 * np.abs(
        arrays["main_fp16/out/logits"] - reference["logits"]).max()


def _read_back(arrays: dict, tag: str) -> dict[str, dict[str, np.ndarray]]:
    found: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith(f"{tag}/q/"):
            _, _, name, part = key.split("/")
            found.setdefault(name, {})[part] = value
    return found


@pytest.mark.slow
@pytest.mark.parametrize("tag", ["main_int8", "image18_int8"])
def test_int8_weights_read_back_equal_recipe(exported, tag):
    _, report, arrays, model_file = exported
    state = folded_state(model_file)
    read_back = _read_back(arrays, tag)
    assert read_back, "no quantised weights were read back"
    for mil_name, parts in read_back.items():
        weight = {k.replace(".", "_"): v for k, v in state.items()}[parameter_name(mil_name)]
        data, scale = int8_weight_recipe(weight)
        assert parts["data"].dtype == np.int8, mil_name
        np.testing.assert_array_equal(parts["data"], data.numpy(), err_msg=mil_name)
        np.testing.assert_array_equal(parts["scale"].reshape(-1), scale.numpy(), err_msg=mil_name)
        step = scale.numpy().astype(np.float64).reshape(-1, *([1] * (weight.dim() - 1)))
        exact = parts["data"].astype(np.float64) * step
        # Half a step, plus half an fp16 ulp of the quotient w/scale (<= 2**-5 for |q| < 128).
        assert np.all(np.abs(exact - weight.half().double().numpy()) <= step * (0.5 + 2 ** -5) + 1e-12), mil_name
        np.testing.assert_array_equal(parts["dequantized"], (exact.astype(np.float32)).astype(np.float16))
    expected_ops = {"main_int8": "constexpr_affine_dequantize", "image18_int8": "constexpr_blockwise_shift_scale"}
    assert set(report[tag]["quantized"].values()) == {expected_ops[tag]}


@pytest.mark.slow
@pytest.mark.parametrize("tag,threshold", [("main_int8", 2048), ("image18_int8", 256)])
def test_int8_quantises_exactly_large_conv_and_linear_weights(exported, tag, threshold):
    _, _, arrays, model_file = exported
    folded = prepare_for_export(load_model(model_file))
    expected = {f"{name}.weight".replace(".", "_") for name, module in folded.named_modules()
                if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.weight.numel() > threshold}
    assert {parameter_name(name) for name in _read_back(arrays, tag)} == expected
    # The head's GroupNorm (960 values) exceeds 256 but is no conv/linear weight: it stays float.
    assert "neck_norm_weight" not in expected and folded.neck.norm.weight.numel() > 256


@pytest.mark.slow
def test_runner_checks_its_reference_model(exported, tmp_path):
    _, report, _, model_file = exported
    package = Path(report["main_fp32"]["record"]["path"])
    moved = tmp_path / "elsewhere" / package.name
    shutil.copytree(package, moved)
    with pytest.raises(InputError, match="does not exist"):
        CoreMLRunner(moved)
    runner = CoreMLRunner(moved, reference_model=model_file)
    assert runner.simulated and runner.precision == "fp32"
    with pytest.raises(InputError, match="NCHW"):
        runner.run(np.zeros((1, 3, IMG + 1, IMG), np.float32))
    other = save_model(tiny_model(seed=1), tmp_path / "other.pt")
    with pytest.raises(InputError, match="sha256"):
        CoreMLRunner(moved, reference_model=other)


def test_options_are_validated():
    assert CoreMLOptions.from_job_options({}) == CoreMLOptions("iOS16", "tensor", 2048, "mocar")
    for bad in ({"coreml_target": "iOS15"}, {"coreml_input": "pixels"}, {"coreml_weight_threshold": -1}):
        with pytest.raises(ConfigError, match="valid|>= 0"):
            CoreMLOptions.from_job_options(bad)


def test_image_scale_bias_normalises_pixels():
    params = image_scale_bias((0.485, 0.456, 0.406), (0.25, 0.25, 0.25))
    pixels = np.array([0.0, 128.0, 255.0])
    for channel, mean in enumerate((0.485, 0.456, 0.406)):
        np.testing.assert_allclose(params["scale"] * pixels + params["bias"][channel], (pixels / 255 - mean) / 0.25)
    with pytest.raises(ConfigError, match="same std"):
        image_scale_bias((0.5, 0.5, 0.5), (0.229, 0.224, 0.225))


def test_parameter_names_map_from_mil_names():
    assert parameter_name("p_model_backbone_stem_conv_weight_to_fp16_quantized") == "backbone_stem_conv_weight"
    assert parameter_name("model_neck_fc_weight_quantized") == "neck_fc_weight"


def test_recipe_is_symmetric_per_channel_int8():
    weight = torch.randn(6, 4, 3, 3) * torch.linspace(0.01, 2.0, 6).reshape(-1, 1, 1, 1)
    data, scale = int8_weight_recipe(weight)
    assert data.dtype == torch.int8 and scale.dtype == torch.float16 and scale.shape == (6,)
    assert torch.equal(data.reshape(6, -1).abs().amax(1), torch.full((6,), 127, dtype=torch.int8))
    error = (data.double() * scale.double().reshape(-1, 1, 1, 1) - weight.half().double()).abs()
    assert torch.all(error <= scale.double().reshape(-1, 1, 1, 1) * (0.5 + 2 ** -5))


def test_dequantize_per_axis_and_blockwise():
    data = np.array([[1, -2, 3, -4], [5, 6, -7, 8]], np.int8)
    per_axis = QuantizedWeight("w", "constexpr_affine_dequantize", data, np.array([0.5, 2.0], np.float16),
                               np.zeros(2, np.int8), 0)
    np.testing.assert_array_equal(per_axis.dequantize(), data * np.array([[0.5], [2.0]], np.float16))
    blockwise = QuantizedWeight("w", "constexpr_blockwise_shift_scale", data,
                                np.array([[1.0, 0.25], [4.0, 0.5]], np.float16), None, None)
    expected = data * np.array([[1.0, 1.0, 0.25, 0.25], [4.0, 4.0, 0.5, 0.5]], np.float16)
    np.testing.assert_array_equal(blockwise.dequantize(), expected)
    assert blockwise.dequantize().dtype == np.float16


def test_spec_reader_rejects_a_folder_without_manifest(tmp_path):
    with pytest.raises(MetadataError, match="Manifest.json"):
        read_coreml_metadata(tmp_path)


def test_coremltools_import_refuses_after_tensorflow(monkeypatch):
    # Simulated state only (no real TensorFlow import): the guard must refuse before importing.
    monkeypatch.delitem(sys.modules, "coremltools", raising=False)
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    for guarded in (import_coremltools, ensure_safe_import_order):
        with pytest.raises(CoreMLRuntimeError, match="fresh process"):
            guarded()


def test_tiny_fp16_channels_pass_the_read_back_check_but_transformed_weights_do_not():
    from mocar.runtime.coreml_weights import _check_close

    torch.manual_seed(0)
    weight = torch.randn(4, 8, 3, 3) * torch.tensor([1e-6, 3e-6, 0.05, 1.0]).reshape(-1, 1, 1, 1)
    data, scale = int8_weight_recipe(weight)
    stored = QuantizedWeight("w", "constexpr_affine_dequantize", data.numpy(), scale.numpy(), None, 0)
    _check_close("w", stored, weight.numpy())  # subnormal fp16 scales: rounding, not a transformation
    with pytest.raises(InputError, match="half a step"):
        _check_close("w", stored, (weight * 1.05).numpy())
