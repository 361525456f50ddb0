"""Reading the int8 weights of a CoreML ``.mlpackage`` back on Linux, and mapping them to PyTorch.

CoreML files cannot run on Linux, but their weights can be read: the package's MIL program is
loaded with coremltools' milproto loader and every weight-dequantisation op is collected:

* ``constexpr_affine_dequantize`` (iOS16/17 targets): ``quantized_data``, ``scale``,
  ``zero_point``, ``axis``; the weight is ``(quantized_data - zero_point) * scale`` along ``axis``.
* ``constexpr_blockwise_shift_scale`` (iOS18 target): ``data``, ``scale``, optional ``offset``,
  scale/offset repeated block-wise; the weight is ``(data - offset) * scale``.

The product is computed in float32 and rounded once to the scale's dtype (fp16 in an fp16
program), which equals CoreML's fp16 result: a product of two fp16 numbers is exact in float32.

Names follow the PyTorch parameters: ``p_model_backbone_stem_conv_weight_to_fp16_quantized``
(``torch.export`` adds ``p_``; ``model_`` is :class:`mocar.model.ExportWrapper`'s attribute; fp16
programs add ``_to_fp16``) is ``backbone.stem_conv.weight`` of the folded network, i.e. the
*standardised* weight of a folded StdConv, not the raw parameter of the trained model.
:func:`dequantized_parameters` matches names and shapes and checks that every dequantised weight
lies within half a quantisation step of the float weight it replaces, so a transformed weight (a
fused scale, a transpose) fails loudly instead of producing a wrong simulation.

:func:`int8_weight_recipe` is a pure-PyTorch recipe that reproduces coremltools' stored int8
weights bit-exactly (docs/toolchain_findings.md); the tests compare it with what is read back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mocar.errors import InputError
from mocar.runtime.coreml_file import import_coremltools
from mocar.runtime.coreml_spec import spec_file

DEQUANTIZE_OPS = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")
# Slack on top of scale/2, relative to |w|: three fp16 roundings of at most 2**-11 each (the weight
# itself, the quotient w/scale before rounding to an integer, the dequantised product).
_FP16_SLACK = 2.0 ** -9
# fp16 below 2**-14 is subnormal with a fixed spacing of 2**-24: a tiny channel's scale (e.g. a
# BatchNorm-folded conv whose gamma trained towards 0) is rounded by up to 2**-25 absolute, and the
# integer (|q| <= 127) multiplies that error. Allowed on top, in fp16 programs only.
_FP16_SUBNORMAL_STEP = 2.0 ** -24


@dataclass
class QuantizedWeight:
    """One int8 (or other integer) weight of a CoreML program.

    Attributes:
        name: The MIL variable name (e.g. ``p_model_neck_fc_weight_to_fp16_quantized``).
        op_type: The dequantisation op that holds it (see :data:`DEQUANTIZE_OPS`).
        data: The stored integers, in the weight's shape.
        scale: Scale, broadcastable to ``data`` (block-wise or per ``axis``).
        zero_point: Zero point / offset (same layout as ``scale``) or ``None``.
        axis: Channel axis of ``constexpr_affine_dequantize`` (``None`` for block-wise ops).
    """

    name: str
    op_type: str
    data: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray | None
    axis: int | None

    def per_element(self, values: np.ndarray) -> np.ndarray:
        """Broadcasts a scale-like array (per channel or per block) to ``data``'s shape."""
        values = np.asarray(values)
        if self.axis is not None and values.ndim <= 1:
            shape = [1] * self.data.ndim
            shape[self.axis] = values.size
            values = values.reshape(shape)
        if values.ndim == self.data.ndim:
            for axis, (size, blocks) in enumerate(zip(self.data.shape, values.shape)):
                if blocks not in (1, size):
                    values = np.repeat(values, size // blocks, axis=axis)
        return np.broadcast_to(values, self.data.shape)

    def dequantize(self) -> np.ndarray:
        """The weight CoreML computes, in the scale's dtype (fp16 in an fp16 program)."""
        values = self.data.astype(np.float32)
        if self.zero_point is not None:
            values = values - self.per_element(self.zero_point).astype(np.float32)
        values = values * self.per_element(self.scale).astype(np.float32)
        return values.astype(self.scale.dtype)


def read_quantized_weights(package: Path) -> dict[str, QuantizedWeight]:
    """All integer weights of a package's ``main`` function, keyed by MIL variable name.

    Needs coremltools (``mocar[coreml]``); import order is handled by
    :func:`mocar.runtime.coreml_file.import_coremltools`.
    """
    ct = import_coremltools()
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    package = Path(package)
    spec = ct.utils.load_spec(str(package))
    weights_dir = spec_file(package).parent / "weights"
    program = load_milproto(spec, spec.specificationVersion, str(weights_dir))
    found = {}
    for op in program.functions["main"].operations:
        if op.op_type in DEQUANTIZE_OPS:
            found[op.outputs[0].name] = _quantized_weight(op)
    return found


def _quantized_weight(op) -> QuantizedWeight:
    def value(name: str) -> np.ndarray | None:
        var = getattr(op, name, None)
        return None if var is None else np.asarray(var.val)

    if op.op_type == "constexpr_affine_dequantize":
        return QuantizedWeight(op.outputs[0].name, op.op_type, value("quantized_data"), value("scale"),
                               value("zero_point"), int(op.axis.val))
    return QuantizedWeight(op.outputs[0].name, op.op_type, value("data"), value("scale"), value("offset"), None)


def parameter_name(mil_name: str) -> str:
    """The sanitised PyTorch name a MIL weight name stands for (dots as underscores).

    ``p_model_backbone_stem_conv_weight_to_fp16_quantized`` -> ``backbone_stem_conv_weight``.
    """
    name = mil_name
    for prefix in ("p_", "model_"):
        name = name.removeprefix(prefix)
    for suffix in ("_quantized", "_to_fp16"):
        name = name.removesuffix(suffix)
    return name


def dequantized_parameters(weights: dict[str, QuantizedWeight], model: nn.Module) -> dict[str, torch.Tensor]:
    """Maps read-back weights to ``model``'s parameter names, dequantised and checked.

    Args:
        weights: From :func:`read_quantized_weights`.
        model: The folded network (:func:`mocar.model.prepare_for_export`) the file came from.

    Returns:
        ``{parameter name: dequantised weight}`` in the dtype CoreML uses.

    Raises:
        InputError: If a weight matches no parameter (or two), has another shape, or differs from
            the float weight by more than half a quantisation step.
    """
    by_sanitised: dict[str, str] = {}
    for name in model.state_dict():
        key = name.replace(".", "_")
        if key in by_sanitised:
            raise InputError(f"parameters {by_sanitised[key]!r} and {name!r} have the same MIL name {key!r}")
        by_sanitised[key] = name
    state = model.state_dict()
    mapped = {}
    for mil_name, weight in weights.items():
        target = by_sanitised.get(parameter_name(mil_name))
        if target is None:
            raise InputError(f"quantised CoreML weight {mil_name!r} matches no parameter of the model "
                             f"(looked for {parameter_name(mil_name)!r}); is this the model the file came from?")
        _check_close(mil_name, weight, state[target].detach().float().numpy())
        mapped[target] = torch.from_numpy(weight.dequantize().copy())
    return mapped


def _check_close(mil_name: str, weight: QuantizedWeight, reference: np.ndarray) -> None:
    if tuple(reference.shape) != tuple(weight.data.shape):
        raise InputError(f"quantised CoreML weight {mil_name!r} has shape {list(weight.data.shape)}, "
                         f"the parameter {list(reference.shape)}")
    step = np.abs(weight.per_element(weight.scale).astype(np.float32))
    error = np.abs(weight.dequantize().astype(np.float32) - reference)
    bound = step / 2 + _FP16_SLACK * np.abs(reference) + 1e-12
    if weight.scale.dtype == np.float16:
        bound = bound + (np.abs(weight.data.astype(np.float32)) + 1) * _FP16_SUBNORMAL_STEP
    if np.any(error > bound):
        worst = float((error - bound).max())
        raise InputError(f"quantised CoreML weight {mil_name!r} is more than half a step away from the "
                         f"float weight (by up to {worst:.3g}): the program transformed it; cannot map it")


def int8_weight_recipe(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8 quantisation as coremltools does it for an fp16 program.

    The weight is rounded to fp16; per output channel (axis 0) ``scale = 2 * max|w| / 254`` is
    computed in fp16, and ``round(w / scale)`` (half to even) in fp16, clipped to [-127, 127].

    Args:
        weight: A float weight, output channels first.

    Returns:
        ``(int8 data, fp16 scale of shape (out_channels,))``.
    """
    half = weight.detach().to(torch.float16)
    amax = half.abs().reshape(half.shape[0], -1).amax(dim=1)
    scale = (amax * 2) / 254
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    expanded = scale.reshape(-1, *([1] * (half.dim() - 1)))
    data = torch.round(half / expanded).clamp(-127, 127).to(torch.int8)
    return data, scale
