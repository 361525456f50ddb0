"""CoreML int8: weight-only linear quantisation of an ML program (W8A16).

coremltools' ``linear_quantize_weights`` (linear symmetric, per output channel) on the weights of
``conv`` and ``linear`` ops larger than a threshold; activations stay fp16. Activation quantisation
needs ``MLModel.predict``, which only macOS has (docs/toolchain_findings.md). The stored int8
weights are read back on Linux by :mod:`mocar.runtime.coreml_weights` for the simulated runner.
"""
from __future__ import annotations

from mocar.runtime.coreml_file import import_coremltools

QUANTIZED_OP_TYPES = ("conv", "linear")
# Below this many elements a weight stays fp16: the head's GroupNorm scale/shift and the biases
# (coremltools' own default would quantise those too).
DEFAULT_WEIGHT_THRESHOLD = 2048


def quantize_weights_int8(mlmodel, weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD):
    """int8 weights (linear symmetric, per output channel) for conv/linear weights above the threshold."""
    import_coremltools()
    import coremltools.optimize.coreml as cto

    op_config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                            weight_threshold=weight_threshold)
    config = cto.OptimizationConfig(op_type_configs={op: op_config for op in QUANTIZED_OP_TYPES})
    return cto.linear_quantize_weights(mlmodel, config)
