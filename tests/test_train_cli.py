"""`mocar train` / `mocar distill` flags: generated from TrainConfig, None when left out, same names as ever."""
import dataclasses

import pytest

from mocar.cli import _train_config, build_parser
from mocar.errors import ConfigError
from mocar.train.config import DISTILL_FLAG_HELP, FLAG_CHOICES, TRAIN_FLAG_HELP, TrainConfig

# The flags `mocar train` has always had (besides --config and --resume); renaming one breaks scripts.
TRAIN_FLAGS = [
    "--data", "--out", "--preset", "--arch", "--backbone", "--hidden", "--dropout", "--pretrained", "--loss",
    "--steps", "--warmup", "--batch-size", "--micro-batch", "--lr", "--mixup-alpha", "--input-size", "--resize",
    "--eval-every", "--seed", "--workers", "--precision", "--channels-last", "--stop-after", "--no-progress",
]
KD_FLAGS = ["--kd-temperature", "--kd-alpha", "--kd-year-weight", "--kd-embed-weight"]


def _options(parser) -> dict[str, object]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def _subparser(*names):
    parser = build_parser()
    for name in names:
        parser = next(a for a in parser._actions if a.dest.endswith("command")).choices[name]
    return parser


@pytest.mark.parametrize("command", [("train",), ("train", "lr-find"), ("distill",)])
def test_every_training_flag_keeps_its_name_and_defaults_to_not_given(command):
    options = _options(_subparser(*command))
    expected = TRAIN_FLAGS + (KD_FLAGS if command == ("distill",) else [])
    assert set(expected) | {"--config", "-h", "--help"} <= set(options)
    assert all(options[flag].default is None for flag in expected)
    assert (set(KD_FLAGS) <= set(options)) == (command == ("distill",))


def test_flags_take_the_fields_types_and_choices():
    options = _options(_subparser("train"))
    assert options["--hidden"].type is int and options["--dropout"].type is float
    assert options["--lr"].type is None  # "auto" or a number: TrainConfig converts it
    assert tuple(options["--arch"].choices) == FLAG_CHOICES["arch"]
    assert tuple(options["--loss"].choices) == FLAG_CHOICES["loss"]
    assert tuple(options["--precision"].choices) == FLAG_CHOICES["precision"]
    assert _options(_subparser("distill"))["--kd-alpha"].type is float


def test_the_choice_lists_match_the_model_and_the_losses():
    from mocar.data.field_augment import FIELD_AUGMENTS
    from mocar.model import ARCHITECTURES
    from mocar.train.config import PRECISIONS
    from mocar.train.losses import COMBINATION_MODES

    assert FLAG_CHOICES == {"arch": ARCHITECTURES, "loss": COMBINATION_MODES, "precision": PRECISIONS,
                            "field_augment": FIELD_AUGMENTS}


def test_help_tables_name_real_fields():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(TRAIN_FLAG_HELP) <= fields and set(DISTILL_FLAG_HELP) <= fields


def test_flags_override_the_yaml_file_and_absent_flags_keep_it(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("steps: 7\nlr: 0.1\nchannels_last: true\nprogress: true\n")
    parser = build_parser()
    args = parser.parse_args(["train", "--config", str(config), "--data", "d", "--out", "o", "--lr", "auto",
                              "--no-progress", "--arch", "mocar"])
    cfg = _train_config(args)
    assert (cfg.steps, cfg.lr, cfg.channels_last, cfg.progress, cfg.arch) == (7, "auto", True, False, "mocar")
    cfg = _train_config(parser.parse_args(["train", "--data", "d", "--out", "o", "--lr", "0.5", "--channels-last"]))
    assert (cfg.lr, cfg.channels_last, cfg.progress, cfg.steps) == (0.5, True, True, None)


def test_a_bad_choice_or_kd_weight_is_refused_before_training(tmp_path, capsys):
    from mocar.cli import main

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--arch", "resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="kd_alpha"):
        TrainConfig(kd_alpha=1.5)
    teacher = tmp_path / "teacher"  # an unloadable best.pt: reaching it would be a different error
    teacher.mkdir()
    (teacher / "best.pt").write_bytes(b"")
    (teacher / "config.yaml").write_text("train: {data: d, loss: sum}\nmodel: {arch: mocar, hidden: 8}\n"
                                         "schedule: {input_size: 32, resize_size: 40}\n")
    assert main(["distill", "--teacher", str(teacher), "--out", str(tmp_path / "s"), "--kd-alpha", "2"]) == 2
    assert capsys.readouterr().err == "mocar: error: kd_alpha must be in [0, 1], got 2.0\n"
