"""Distillation: the loss on hand-computed examples, the frozen teacher, and `mocar distill` end to end."""
import math

import pytest
import torch
from torch import nn

from mocar.errors import ConfigError
from mocar.model import ModelConfig, create_model_from_preset
from mocar.model.networks import ModelOutput
from mocar.train.checkpoint import load_checkpoint
from mocar.train.config import TrainConfig
from mocar.train.distill import (
    DistillTrainer,
    DistillWeights,
    FrozenTeacher,
    distill,
    distill_config,
    distillation_loss,
    embedding_loss,
    soft_target_loss,
)
from mocar.train.loop import Trainer, fit
from mocar.train.losses import LossConfig, MocarLoss
from mocar.train.trainers import trainer_class
from mocar.utils.io import read_yaml


def _out(logits, year=None, embedding=None):
    logits = torch.tensor(logits, dtype=torch.float32)
    year = None if year is None else torch.tensor(year, dtype=torch.float32)
    embedding = torch.zeros(len(logits), 2) if embedding is None else torch.tensor(embedding, dtype=torch.float32)
    return ModelOutput(logits, year, embedding)


def test_soft_target_loss_matches_the_hand_computed_kl():
    # teacher / T = [ln 3, 0] -> probs [0.75, 0.25]; the student is uniform.
    t = 2.0
    teacher = torch.tensor([[2 * math.log(3.0), 0.0]])
    expected = t**2 * (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5))
    assert soft_target_loss(torch.zeros(1, 2), teacher, t).item() == pytest.approx(expected, rel=1e-6)
    assert soft_target_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-6)


def test_distillation_loss_weighs_every_term_as_documented():
    weights = DistillWeights(temperature=2.0, alpha=0.5, year_weight=0.25, embed_weight=0.5)
    student = _out([[0.0, 0.0]], year=[0.0], embedding=[[1.0, 0.0]])
    teacher = _out([[2 * math.log(3.0), 0.0]], year=[2.0], embedding=[[0.0, 1.0]])
    losses = distillation_loss(student, teacher, torch.tensor([0]), torch.tensor([1.0]), weights,
                               MocarLoss(LossConfig("sum")))
    kd = 4.0 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    log_cosh = lambda x: math.log(math.cosh(x))  # noqa: E731
    cls = 0.5 * math.log(2.0) + 0.5 * kd
    reg = 0.75 * log_cosh(1.0) + 0.25 * log_cosh(2.0)
    assert losses["loss_hard"].item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert losses["loss_kd"].item() == pytest.approx(kd, rel=1e-5)
    assert losses["loss_cls"].item() == pytest.approx(cls, rel=1e-5)
    assert losses["loss_reg"].item() == pytest.approx(reg, rel=1e-5)
    assert losses["loss_embed"].item() == pytest.approx(1.0, rel=1e-6)  # orthogonal embeddings
    assert losses["loss"].item() == pytest.approx(cls + reg + 0.5 * 1.0, rel=1e-5)
    product = distillation_loss(student, teacher, torch.tensor([0]), torch.tensor([1.0]), weights,
                                MocarLoss(LossConfig("product")))
    assert product["loss"].item() == pytest.approx(cls * reg + 0.5, rel=1e-5)


def test_alpha_zero_and_no_year_head_reduce_to_plain_cross_entropy():
    weights = DistillWeights(alpha=0.0)
    student, teacher = _out([[1.0, 0.0, -1.0]]), _out([[0.0, 5.0, 0.0]])
    losses = distillation_loss(student, teacher, torch.tensor([2]), None, weights, MocarLoss())
    expected = nn.functional.cross_entropy(student.logits, torch.tensor([2])).item()
    assert losses["loss"].item() == pytest.approx(expected, rel=1e-6)
    assert losses["loss_reg"] is None and losses["loss_embed"] is None


def test_embedding_matching_refuses_different_widths_and_bad_weights():
    with pytest.raises(ConfigError, match="equal widths"):
        embedding_loss(torch.ones(2, 4), torch.ones(2, 8))
    with pytest.raises(ConfigError, match="kd_alpha"):
        DistillWeights(alpha=1.5)
    with pytest.raises(ConfigError, match="kd_temperature"):
        DistillWeights(temperature=0.0)


class _EchoTeacher(nn.Module):
    """Returns the mean pixel as the year and the batch size it saw as logits."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.drop = nn.Dropout(0.5)
        self.seen = None

    def forward(self, images):
        self.seen = images
        year = images.mean(dim=(1, 2, 3))
        return ModelOutput(torch.zeros(len(images), 2), year, torch.zeros(len(images), 3))


def test_frozen_teacher_maps_preprocessing_and_years_into_the_students_space():
    teacher_cfg = ModelConfig(arch="mocar", backbone="bit_tiny", num_classes=2, hidden=8, year_mean=100.0,
                              year_scale=10.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    student_cfg = teacher_cfg.replace(year_mean=0.0, year_scale=50.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    echo = _EchoTeacher(teacher_cfg)
    teacher = FrozenTeacher(echo, student_cfg, student_size=8, teacher_size=4)
    teacher.train()
    assert not echo.training  # never leaves eval mode
    student_images = torch.zeros(2, 3, 8, 8)  # pixel value 0.5 in the student's [-1, 1] space
    out = teacher(student_images)
    assert echo.seen.shape == (2, 3, 4, 4)
    assert torch.allclose(echo.seen, torch.full_like(echo.seen, 0.5))  # re-normalised to the teacher's [0, 1]
    # teacher year_norm 0.5 -> calendar 105 -> student year_norm 105 / 50
    assert torch.allclose(out.year, torch.full((2,), 105.0 / 50.0))


def _fake_teacher(folder):
    """A teacher folder as distill_config reads it; its empty best.pt is never loaded there."""
    folder.mkdir()
    (folder / "best.pt").write_bytes(b"")
    (folder / "config.yaml").write_text("train: {data: prepared, loss: product}\nmodel: {arch: mocar, hidden: 8}\n"
                                        "schedule: {input_size: 32, resize_size: 40}\n")
    return folder


def test_distill_config_merges_teacher_then_yaml_file_then_flags(tmp_path):
    teacher = _fake_teacher(tmp_path / "teacher")
    options = tmp_path / "student.yaml"
    # image_size is input_size's old name: a YAML file written for an older mocar still reads
    options.write_text("steps: 9\nlr: 0.3\nhidden: 16\nkd_alpha: 0.5\nimage_size: null\n")
    cfg = distill_config(teacher, "student_tiny", tmp_path / "s", options, lr=0.01, kd_alpha=None, steps=None)
    assert (cfg.data, cfg.arch, cfg.loss, cfg.input_size, cfg.resize) == ("prepared", "mocar", "product", 32, 40)
    assert (cfg.hidden, cfg.steps, cfg.kd_alpha) == (16, 9, 0.5)  # the file over the teacher; None flags ignored
    assert cfg.lr == 0.01  # a flag over the file
    assert (cfg.preset, cfg.out, cfg.teacher) == ("student_tiny", str(tmp_path / "s"), str(teacher))
    assert distill_config(teacher, "student_tiny", tmp_path / "s", steps=3).hidden == 8
    options.write_text("stepz: 9\n")
    with pytest.raises(ConfigError, match=r"student.yaml: unknown training option\(s\) \['stepz'\]"):
        distill_config(teacher, "student_tiny", tmp_path / "s", options)
    with pytest.raises(ConfigError, match="kd_year_weight"):
        distill_config(teacher, "student_tiny", tmp_path / "s", kd_year_weight=-1.0)


def test_a_config_naming_a_teacher_gets_the_distilling_trainer():
    assert trainer_class(TrainConfig()) is Trainer
    assert trainer_class(TrainConfig(teacher="runs/teacher")) is DistillTrainer
    with pytest.raises(ConfigError, match="distils from the teacher runs/teacher"):
        Trainer(TrainConfig(data="d", out="o", teacher="runs/teacher"))


def _teacher(prepared, root):
    return fit(TrainConfig(data=str(prepared), out=str(root / "teacher"), preset="mocar_tiny", steps=6, warmup=1,
                           batch_size=8, micro_batch=8, input_size=32, resize=40, workers=0, eval_every=3,
                           lr=0.02, progress=False, precision="fp32", eval_batch_size=32))


@pytest.fixture(scope="module")
def teacher_run(tiny_prepared, tmp_path_factory):
    return _teacher(tiny_prepared, tmp_path_factory.mktemp("distill"))


def _distill(teacher_run, out, **kw):
    settings = dict(steps=6, warmup=1, batch_size=8, micro_batch=8, workers=0, eval_every=3, lr=0.02,
                    progress=False, precision="fp32", eval_batch_size=32, kd_embed_weight=0.5)
    settings.update(kw)
    return distill(teacher_run, "student_tiny", out, **settings)


@pytest.mark.slow
def test_distill_takes_the_teachers_contract_and_resumes_exactly(teacher_run, tmp_path):
    whole = _distill(teacher_run, tmp_path / "whole")
    config = read_yaml(whole / "config.yaml")
    teacher_config = read_yaml(teacher_run / "config.yaml")
    assert config["train"]["teacher"] == str(teacher_run)
    assert config["model"]["backbone"] == "resnet_tiny"
    for key in ("arch", "hidden", "input_size", "num_classes", "year_mean"):
        assert config["model"][key] == teacher_config["model"][key], key
    assert (whole / "best.pt").is_file()

    _distill(teacher_run, tmp_path / "split", stop_after=4)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["step"] == 4
    distill(None, "student_tiny", tmp_path / "split", resume=True)
    a = load_checkpoint(whole / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "last.pt")["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed distillation differs from the uninterrupted run"


@pytest.mark.slow
def test_the_student_learns_the_teachers_answers(teacher_run, tmp_path):
    """With only soft targets the KL to the teacher falls on a fixed batch."""
    from mocar.train.distill import DistillTrainer

    cfg = TrainConfig.from_dict({**read_yaml(teacher_run / "config.yaml")["train"], "out": str(tmp_path / "s"),
                                 "preset": "student_tiny", "teacher": str(teacher_run), "kd_alpha": 1.0,
                                 "mixup_alpha": 0.0, "lr": 0.05, "stop_after": None})
    trainer = DistillTrainer(cfg)
    train_set, _ = trainer.datasets()
    batch = [torch.utils.data.default_collate([train_set[(i, 0)] for i in range(8)])]
    trainer.model.train()
    kd = [trainer.train_step(trainer.model, batch, lr=0.05)["loss_kd"] for _ in range(15)]
    assert kd[-1] < 0.5 * kd[0], kd


def test_field_augmentation_is_the_students_own_choice(teacher_run, tmp_path):
    """Off unless asked for, also under a field-augmented teacher; on, the student trains with it."""
    teacher = _fake_teacher(tmp_path / "teacher")
    config = teacher / "config.yaml"
    config.write_text(config.read_text().replace("loss: product}", "loss: product, field_augment: phone}"))
    assert distill_config(teacher, "student_tiny", tmp_path / "s").field_augment == "none"
    run = _distill(teacher_run, tmp_path / "s", steps=2, eval_every=2, field_augment="phone", field_augment_p=1.0)
    saved = read_yaml(run / "config.yaml")["train"]
    assert (saved["field_augment"], saved["field_augment_p"], saved["teacher"]) == ("phone", 1.0, str(teacher_run))


def test_a_teacher_with_other_labels_is_refused(teacher_run, tmp_path):
    with pytest.raises(ConfigError, match="predicts collection"):
        _distill(teacher_run, tmp_path / "s", arch="maxavgcat")
    with pytest.raises(ConfigError, match="no best.pt"):
        distill(tmp_path, "student_tiny", tmp_path / "s2")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "best.pt").write_bytes(b"")
    (broken / "config.yaml").write_text("train: {data: x}\n")
    with pytest.raises(ConfigError, match=r"broken/config.yaml: missing or incomplete"):
        distill(broken, "student_tiny", tmp_path / "s3")


def test_student_backbones_build_and_load_full_timm_weights(tmp_path):
    import timm

    full = timm.create_model("mobilenetv2_050", pretrained=False)
    torch.save(full.state_dict(), tmp_path / "mnv2.pt")
    model = create_model_from_preset("student_mobilenetv2_050", 4, pretrained=tmp_path / "mnv2.pt")
    assert torch.equal(model.backbone.conv_stem.weight, full.conv_stem.weight)
    out = model.eval()(torch.randn(2, 3, 64, 64))
    assert out.logits.shape == (2, 4) and out.year.shape == (2,) and out.embedding.shape == (2, 256)
    from mocar.model.errors import PretrainedWeightsError

    (tmp_path / "bit.npz").write_bytes(b"")
    with pytest.raises(PretrainedWeightsError, match="BiT weights"):
        create_model_from_preset("student_tiny", 4, pretrained=tmp_path / "bit.npz")


@pytest.mark.parametrize("preset", ["student_tiny", "student_mobilenetv2_050", "student_efficientnet_lite0",
                                    "student_mobilenetv3_large"])
def test_export_preparation_folds_every_batchnorm_without_changing_outputs(preset):
    from mocar.model import prepare_for_export

    torch.manual_seed(0)
    model = create_model_from_preset(preset, 5, input_size=64)
    for module in model.modules():  # trained-looking statistics, so a wrong fold shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.05)
    model.eval()
    folded = prepare_for_export(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "the caller's model must stay untouched"
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for ours, theirs in zip(folded(images), model(images)):
            assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * theirs.abs().max().item())


@pytest.mark.slow
def test_a_distilled_student_exports_to_every_format(teacher_run, tmp_path):
    from mocar.runtime.metadata import read_metadata
    from mocar.export.run import export_run

    student = _distill(teacher_run, tmp_path / "student", steps=4)
    manifest = export_run(student, tmp_path / "export", precisions=["fp32", "int8"], calib_images=16,
                          progress=False)
    files = {f["file"]: f for f in manifest["files"]}
    assert {f["format"] for f in files.values()} == {"onnx", "tflite", "coreml"}
    assert not [name for name, f in files.items() if f["status"] == "failed"], files
    assert all(f["status"] == "ok" for f in files.values() if f["precision"] == "fp32")
    onnx = read_metadata(tmp_path / "export" / "model_fp32.onnx")
    assert onnx["model"]["backbone"] == "resnet_tiny" and onnx["model"]["preset"] == "student_tiny"
