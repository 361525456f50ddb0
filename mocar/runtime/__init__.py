"""Floor 3: everything that opens a model file — one place that knows the formats.

* :mod:`~mocar.runtime.registry`: the one table of formats (suffixes, layout, runner, metadata
  reader, exporter, extra to install);
* :mod:`~mocar.runtime.metadata` (the contract every file carries; torch-free) and
  :mod:`~mocar.runtime.run_metadata` (that contract built from a trained run);
* :mod:`~mocar.runtime.preprocessing`: the typed :class:`Preprocessing` read from metadata, used by
  bench, field, golden vectors and the export's reference data;
* per-format file readers: :mod:`~mocar.runtime.onnx_file`, :mod:`~mocar.runtime.tflite_file`,
  :mod:`~mocar.runtime.coreml_file` / :mod:`~mocar.runtime.coreml_spec` /
  :mod:`~mocar.runtime.coreml_weights`;
* :mod:`~mocar.runtime.runners`: torch, onnxruntime, LiteRT and CoreML (or its labelled simulation)
  behind one interface;
* :mod:`~mocar.runtime.parity` (the measures) and :mod:`~mocar.runtime.policy` (the one verdict engine).

Imports only model/data/train and below; export, quantize, field and bench build on it.
"""
