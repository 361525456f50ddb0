"""mocar's networks: BiT backbones (timm), the baseline, MaxAvg-Cat and MOCaR, and their tooling.

Entry points: :func:`create_model`, :func:`create_model_from_config`,
:func:`create_model_from_preset` (see :data:`PRESETS`), :func:`save_model`/:func:`load_model`,
:func:`prepare_for_export` + :class:`ExportWrapper` for exporters, :func:`model_info`.
Every network's forward returns :class:`ModelOutput` ``(logits, year, embedding)``; ``year`` is
the normalised year (MOCaR only).
"""

from mocar.model.backbones import BACKBONES, BackboneSpec, create_backbone
from mocar.model.blocks import block_channels, forward_blocks
from mocar.model.config import (
    ACTIVATIONS,
    ARCHITECTURES,
    ModelConfig,
    denormalize_year,
    normalize_year,
    output_names,
)
from mocar.model.errors import (
    ModelConfigError,
    ModelError,
    ModelFileError,
    PretrainedWeightsError,
    UnknownNameError,
)
from mocar.model.export_prep import ExportWrapper, fold_weight_standardization, prepare_for_export
from mocar.model.factory import (
    PRESETS,
    ModelPreset,
    create_model,
    create_model_from_config,
    create_model_from_preset,
    list_presets,
    preset_config,
)
from mocar.model.heads import maxavg_cat_literal, maxavg_cat_pool, upsample_and_concat
from mocar.model.info import format_model_info, model_info
from mocar.model.networks import BaselineNet, MaxAvgCatNet, MocarNet, ModelOutput
from mocar.model.pretrained import bit_npz_key_map, load_pretrained_backbone
from mocar.model.serialization import load_model, save_model

__all__ = [
    "ACTIVATIONS", "ARCHITECTURES", "BACKBONES", "PRESETS",
    "BackboneSpec", "BaselineNet", "ExportWrapper", "MaxAvgCatNet", "MocarNet", "ModelConfig",
    "ModelConfigError", "ModelError", "ModelFileError", "ModelOutput", "ModelPreset",
    "PretrainedWeightsError", "UnknownNameError",
    "bit_npz_key_map", "block_channels", "create_backbone", "create_model", "create_model_from_config",
    "create_model_from_preset", "denormalize_year", "fold_weight_standardization", "format_model_info",
    "forward_blocks", "list_presets", "load_model", "load_pretrained_backbone", "maxavg_cat_literal",
    "maxavg_cat_pool", "model_info", "normalize_year", "output_names", "prepare_for_export",
    "preset_config", "save_model", "upsample_and_concat",
]
