"""Names that changed in saved files, so runs and model files written by older mocar versions still load.

The model's input side used to be called ``image_size`` (training and data configs), ``img_size``
(model config, model files) and ``crop_size`` (the schedule); it is ``input_size`` everywhere now.
Every loader of a saved config dict passes it through :func:`current_keys` first.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocar.errors import ConfigError

RENAMED_KEYS = {"image_size": "input_size", "img_size": "input_size", "crop_size": "input_size"}


def current_keys(data: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """A copy of ``data`` with old key names replaced by the current ones.

    Raises:
        ConfigError: If an old and a new name (or two old ones) both give the same field different values.
    """
    result: dict[str, Any] = {}
    for key, value in data.items():
        new = RENAMED_KEYS.get(key, key)
        if new in result and result[new] != value:
            raise ConfigError(f"{where}: {key!r} ({value!r}) and another name of {new!r} ({result[new]!r}) disagree")
        result[new] = value
    return result
