"""Runs and model files written before the model input side was called ``input_size`` everywhere still load."""
import pytest

from mocar.data.transforms import DataConfig
from mocar.errors import ConfigError
from mocar.model import ModelConfig, create_model_from_preset
from mocar.model.fingerprint import model_fingerprint, state_fingerprint
from mocar.train.config import TrainConfig
from mocar.utils.legacy import current_keys


def test_old_key_names_load_as_input_size():
    assert DataConfig.from_dict({"image_size": 64, "resize": 72}).input_size == 64
    saved = {("img_size" if key == "input_size" else key): value for key, value in
             ModelConfig(arch="mocar", backbone="bit_tiny", num_classes=3, hidden=64, input_size=96).to_dict().items()}
    assert ModelConfig.from_dict(saved).input_size == 96
    assert TrainConfig.from_dict({"image_size": 32, "resize": 40}).input_size == 32
    assert current_keys({"crop_size": 224, "resize_size": 256}) == {"input_size": 224, "resize_size": 256}


def test_two_names_that_disagree_are_refused():
    with pytest.raises(ConfigError, match="'image_size' \\(64\\) and another name of 'input_size' \\(32\\)"):
        current_keys({"input_size": 32, "image_size": 64}, "config.yaml")
    assert current_keys({"input_size": 32, "image_size": 32}) == {"input_size": 32}


def test_fingerprint_of_the_same_weights_survives_the_rename():
    model = create_model_from_preset("mocar_tiny", num_classes=3, input_size=32)
    old_config = {("img_size" if key == "input_size" else key): value for key, value in model.config.to_dict().items()}
    assert model_fingerprint(model) == state_fingerprint(model.state_dict(), old_config)
