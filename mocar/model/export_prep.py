"""Making a trained network export-friendly without touching the caller's model.

:func:`prepare_for_export` deep-copies the model, switches the copy to eval mode, replaces every
timm ``StdConv2d``/``StdConv2dSame`` by a plain convolution holding the standardised weight
(computed with the very call timm's forward makes, so outputs stay identical) and replaces
dropout/drop-path by ``nn.Identity``, and folds every BatchNorm of a student backbone into the
convolution before it (:func:`fold_batch_norms`). Without folding, exporters emit a training-mode
BatchNormalization and reductions per convolution (53 BN + 164 ReduceMean for R50x1).

:class:`ExportWrapper` turns :class:`~mocar.model.networks.ModelOutput` into a plain tuple of
the non-``None`` outputs in :func:`~mocar.model.config.output_names` order.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d, Conv2dSame, DropPath, StdConv2d, StdConv2dSame
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mocar.model.config import output_names

_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, DropPath)


@torch.no_grad()
def standardized_weight(conv: StdConv2d | StdConv2dSame) -> torch.Tensor:
    """The weight a timm StdConv2d actually convolves with (same call as its ``forward``)."""
    return F.batch_norm(
        conv.weight.reshape(1, conv.out_channels, -1), None, None, training=True, momentum=0.0, eps=conv.eps
    ).reshape_as(conv.weight)


def fold_weight_standardization(conv: StdConv2d | StdConv2dSame) -> nn.Conv2d:
    """Returns a plain convolution equivalent to a weight-standardised one.

    ``StdConv2dSame`` with dynamic 'SAME' padding becomes timm's ``Conv2dSame`` (a ``nn.Conv2d``
    subclass that pads the same way); every other case a ``nn.Conv2d`` with the same padding.
    """
    dynamic_same = isinstance(conv, StdConv2dSame) and conv.same_pad
    conv_type = Conv2dSame if dynamic_same else nn.Conv2d
    folded = conv_type(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
        padding=0 if dynamic_same else conv.padding, dilation=conv.dilation, groups=conv.groups,
        bias=conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(standardized_weight(conv))
        if conv.bias is not None:
            folded.bias.copy_(conv.bias)
    return folded


def prepare_for_export(model: nn.Module) -> nn.Module:
    """Returns an eval-mode, folded copy of a network; ``model`` itself is not modified.

    Args:
        model: Any module (typically a mocar network).

    Returns:
        A new module computing the same outputs in eval mode with plain convolutions (weight
        standardisation and BatchNorm folded in) and no dropout modules.
    """
    exported = copy.deepcopy(model).eval()
    _replace_modules(exported)
    fold_batch_norms(exported)
    return exported


def _after_norm(norm: nn.BatchNorm2d) -> nn.Module:
    """What is left of a BatchNorm once folded: timm's BatchNormAct2d keeps its dropout and activation."""
    if isinstance(norm, BatchNormAct2d):
        return nn.Sequential(norm.drop, norm.act)
    return nn.Identity()


def fold_batch_norms(module: nn.Module) -> int:
    """Folds every eval-mode BatchNorm into the convolution just before it, in place.

    The pairing rule is timm's module layout: a ``Conv2d`` registered immediately before a
    ``BatchNorm2d`` (or ``BatchNormAct2d``) of as many channels feeds it (``conv1``/``bn1``,
    ``conv_pw``/``bn1``, ``Sequential(conv, bn)``). Exporters fuse such pairs themselves, but
    under names of their own; folding here keeps the torch parameter names in the exported file
    (the CoreML int8 simulation maps weights back by name) and makes the graph independent of
    each exporter's optimiser. Callers check the outputs (see the export validation and tests).

    Returns:
        The number of folded pairs.
    """
    pairs = []
    for parent in module.modules():
        children = list(parent.named_children())
        for (conv_name, conv), (norm_name, norm) in zip(children, children[1:]):
            if (isinstance(conv, nn.Conv2d) and type(conv) in (nn.Conv2d, Conv2dSame)
                    and isinstance(norm, nn.BatchNorm2d) and norm.num_features == conv.out_channels
                    and norm.track_running_stats):
                pairs.append((parent, conv_name, conv, norm_name, norm))
    for parent, conv_name, conv, norm_name, norm in pairs:
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
        setattr(parent, norm_name, _after_norm(norm))
    return len(pairs)


def _replace_modules(parent: nn.Module) -> None:
    for name, child in parent.named_children():
        if isinstance(child, (StdConv2d, StdConv2dSame)):
            setattr(parent, name, fold_weight_standardization(child))
        elif isinstance(child, _DROPOUT_TYPES):
            setattr(parent, name, nn.Identity())
        else:
            _replace_modules(child)


class ExportWrapper(nn.Module):
    """Returns the model's outputs as a plain tuple in the fixed exported order."""

    def __init__(self, model: nn.Module):
        """Wraps a mocar network.

        Args:
            model: A network with ``.config`` whose forward returns ``ModelOutput``.
        """
        super().__init__()
        self.model = model
        self.output_names = output_names(model.config)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Runs the model; returns e.g. ``(logits, year, embedding)``."""
        outputs = self.model(images)
        return tuple(getattr(outputs, name) for name in self.output_names)
