"""Floor 4 (beside quantize and field): float conversion of a trained run to every format, each file validated.

:func:`mocar.export.run.export_run` (``mocar export``) saves the float reference ``model.pt``, prepares
calibration and validation images (:mod:`~mocar.export.reference`), runs each format's exporter —
named in the format registry, one module per format: :mod:`~mocar.export.to_onnx`,
:mod:`~mocar.export.to_tflite`, :mod:`~mocar.export.to_coreml` — in a worker process of its own
(:mod:`~mocar.export.worker`), validates every file against PyTorch (:mod:`~mocar.export.validate`)
and writes ``manifest.json``. int8 files are built with the recipes of :mod:`mocar.quantize`, the
one package export may use beside the runtime floor.
"""
