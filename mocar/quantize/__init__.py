"""Floor 4, beside export and field: everything int8.

* :mod:`~mocar.quantize.request`: the typed :class:`Int8Request` an export carries (flavours per runtime,
  checked against what the recipes offer);
* one module per back end: :mod:`~mocar.quantize.onnx_int8` (onnxruntime static QDQ recipes),
  :mod:`~mocar.quantize.tflite_int8` (the TFLite flavours; the head-in-float flavour mocar builds
  itself), :mod:`~mocar.quantize.coreml_int8` (weight-only W8A16);
* :mod:`~mocar.quantize.select`: the pure int8 choice — per runtime, the fastest int8 file whose bench
  row meets the parity policy (the measuring is done by :mod:`mocar.bench.int8_select`).

Imports only from the runtime floor and below; :mod:`mocar.export` imports from here, never the
reverse.
"""
from mocar.quantize.request import OFFERED, Int8Request, parse_flavours

__all__ = ["OFFERED", "Int8Request", "parse_flavours"]
