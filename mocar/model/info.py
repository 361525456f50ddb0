"""Model facts without allocating weights: parameters, MACs and every intermediate shape.

The network is built on PyTorch's ``meta`` device, so even R152x2 at 480 px costs well under a
second and no memory. MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (MACs =
FLOPs / 2) for one image; it counts convolutions and matrix products only, not normalisation,
activations or pooling (a few percent at most for these networks).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from mocar.model.blocks import forward_blocks
from mocar.model.config import ModelConfig, output_names
from mocar.model.factory import create_model_from_config, preset_config
from mocar.model.heads import maxavg_cat_pool, upsample_and_concat


def model_info(preset_or_cfg: str | ModelConfig, input_size: int = 480, num_classes: int = 50) -> dict[str, Any]:
    """Describes a network at one input size.

    Args:
        preset_or_cfg: A preset name or a full config (which keeps its own ``num_classes``).
        input_size: Square input side in pixels.
        num_classes: Classes used to complete a preset.

    Returns:
        A JSON-compatible dict: ``name``, ``config``, ``input_size``, ``params`` (total/trainable),
        ``macs``, ``blocks`` (four NCHW shapes), ``concat`` (literal MaxAvg-Cat map or ``None``),
        ``pooled``, ``embedding`` and ``outputs`` (name -> shape, in exported order).
    """
    cfg = preset_config(preset_or_cfg, num_classes) if isinstance(preset_or_cfg, str) else preset_or_cfg
    with torch.device("meta"):
        model = create_model_from_config(cfg).eval()
        images = torch.empty(1, 3, input_size, input_size)
    counter = FlopCounterMode(display=False)
    with counter:
        outputs = model(images)
    blocks = forward_blocks(model.backbone, images)
    pyramid = cfg.arch != "baseline"
    pooled = maxavg_cat_pool(blocks) if pyramid else outputs.embedding
    return {
        "name": cfg.preset or f"{cfg.arch}/{cfg.backbone}",
        "config": cfg.to_dict(),
        "input_size": input_size,
        "params": {
            "total": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        },
        "macs": counter.get_total_flops() // 2,
        "blocks": [list(block.shape) for block in blocks],
        "concat": list(upsample_and_concat(blocks).shape) if pyramid else None,
        "pooled": list(pooled.shape),
        "embedding": list(outputs.embedding.shape),
        "outputs": {name: list(getattr(outputs, name).shape) for name in output_names(cfg)},
    }


def format_model_info(info: dict[str, Any]) -> str:
    """Renders :func:`model_info`'s dict for people (one fact per line)."""
    cfg = info["config"]
    lines = [
        f"model      {info['name']}  (arch {cfg['arch']}, backbone {cfg['backbone']}, "
        f"{cfg['num_classes']} classes, input {info['input_size']} px)",
        f"params     {info['params']['total']:,} total, {info['params']['trainable']:,} trainable",
        f"MACs       {_si(info['macs'])} per image (conv + matmul)",
    ]
    lines += [f"block{i + 1}     {_shape(shape)}" for i, shape in enumerate(info["blocks"])]
    if info["concat"] is not None:
        lines.append(f"concat     {_shape(info['concat'])}  (literal MaxAvg-Cat map, not computed)")
    lines.append(f"pooled     {_shape(info['pooled'])}")
    lines.append(f"embedding  {_shape(info['embedding'])}")
    lines += [f"output     {name}: {_shape(shape)}" for name, shape in info["outputs"].items()]
    if cfg["arch"] == "mocar":
        lines.append(f"year       normalised: (year - {cfg['year_mean']:g}) / {cfg['year_scale']:g}")
    return "\n".join(lines)


def _shape(shape: list[int]) -> str:
    return " x ".join(str(dim) for dim in shape)


def _si(count: int) -> str:
    """1234567 -> '1.23 M'; keeps three significant digits from tiny to R152x2 sizes."""
    for factor, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return str(count)
