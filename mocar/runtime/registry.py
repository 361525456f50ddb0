"""The one table of model-file formats: what a format's files look like and which code handles them.

Every place that must know about formats — exporting, reading metadata, opening a runner, measuring a
runtime's memory, installing the right extra — looks the format up here. A new format is one
:class:`Format` entry plus the modules it names (see ``docs/architecture.md``).

The handlers are named as ``"module:attribute"`` strings and imported on first use through
:func:`load`: the runtimes (onnxruntime, LiteRT, coremltools, TensorFlow) are optional extras, and
importing TensorFlow or coremltools into a process that already holds torch in the wrong order can
crash it (docs/toolchain_findings.md). :func:`load` turns a missing package into a
:class:`~mocar.runtime.errors.MissingRuntimeError` that names the extra to install.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocar.runtime.errors import MissingRuntimeError, UnknownFormatError

PRECISIONS = ("fp32", "fp16", "int8")
LAYOUTS = ("NCHW", "NHWC")


@dataclass(frozen=True)
class Format:
    """One model-file format.

    Attributes:
        name: Registry key (``onnx``, ``tflite``, ``coreml``, ``torch``).
        suffixes: File suffixes of this format (lower case, with the dot).
        layout: Input layout of its files (TFLite via onnx2tf is channels-last).
        runner: ``module:Class`` of its :class:`~mocar.runtime.runners.base.Runner`.
        metadata_reader: ``module:function(path) -> dict`` reading the embedded metadata.
        exporter: ``module:function(ExportJob) -> list[ExportedFile]``, or None where mocar does not
            export to it (the PyTorch reference file).
        extra: The ``pip install 'mocar[EXTRA]'`` extra that brings its packages (None: core).
        packages: Distributions whose versions describe how its files were made (metadata provenance).
        runtime_modules: Modules its runner imports, imported before a memory baseline is taken.
    """

    name: str
    suffixes: tuple[str, ...]
    layout: str
    runner: str
    metadata_reader: str
    exporter: str | None
    extra: str | None
    packages: tuple[str, ...]
    runtime_modules: tuple[str, ...]


FORMATS: dict[str, Format] = {fmt.name: fmt for fmt in (
    Format("torch", (".pt", ".safetensors"), "NCHW", "mocar.runtime.runners.torch_runner:TorchRunner",
           "mocar.runtime.run_metadata:read_model_file_metadata", None, None, ("torch", "timm"), ("torch",)),
    Format("onnx", (".onnx",), "NCHW", "mocar.runtime.runners.onnx_runner:OnnxRunner",
           "mocar.runtime.onnx_file:read_onnx_metadata", "mocar.export.to_onnx:export_onnx", "onnx",
           ("torch", "timm", "onnx", "onnxscript", "onnxruntime"), ("onnxruntime",)),
    Format("tflite", (".tflite",), "NHWC", "mocar.runtime.runners.tflite_runner:TFLiteRunner",
           "mocar.runtime.tflite_file:read_tflite_metadata", "mocar.export.to_tflite:export_tflite", "tflite",
           ("torch", "timm", "onnx", "onnxscript", "onnx2tf", "tensorflow", "ai-edge-litert"),
           ("ai_edge_litert.interpreter",)),
    Format("coreml", (".mlpackage", ".mlmodel"), "NCHW", "mocar.runtime.runners.coreml_runner:CoreMLRunner",
           "mocar.runtime.coreml_file:read_coreml_metadata", "mocar.export.to_coreml:export_coreml", "coreml",
           ("torch", "timm", "coremltools"), ("coremltools",)),
)}
EXPORT_FORMATS: tuple[str, ...] = tuple(name for name, fmt in FORMATS.items() if fmt.exporter)


def get_format(name: str) -> Format:
    """The registry entry of a format name.

    Raises:
        UnknownFormatError: Naming the valid formats.
    """
    if name not in FORMATS:
        raise UnknownFormatError(f"unknown format {name!r}; valid: {', '.join(FORMATS)}")
    return FORMATS[name]


def format_of(path: str | Path) -> Format:
    """The format of a model file, from its suffix.

    Raises:
        UnknownFormatError: If no format has that suffix.
    """
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS.values():
        if suffix in fmt.suffixes:
            return fmt
    known = sorted(s for fmt in FORMATS.values() for s in fmt.suffixes)
    raise UnknownFormatError(f"{path}: no format for {suffix or 'files without a suffix'}; "
                             f"known types: {', '.join(known)}")


def import_object(spec: str) -> Any:
    """Imports ``"package.module:attribute"``.

    Raises:
        ImportError: If the module or the attribute does not exist (the message names ``spec``).
    """
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"{spec}: module {module_name} has no attribute {attribute!r}") from None


def load(fmt: Format, role: str) -> Any:
    """The handler of one role (``runner``, ``metadata_reader``, ``exporter``) of a format.

    Raises:
        MissingRuntimeError: If a package the handler needs is not installed (names the extra).
        UnknownFormatError: If the format has no handler for that role.
    """
    spec = getattr(fmt, role)
    if spec is None:
        raise UnknownFormatError(f"format {fmt.name!r} has no {role}")
    try:
        return import_object(spec)
    except ModuleNotFoundError as err:
        if (err.name or "").startswith("mocar"):
            raise
        hint = f"pip install 'mocar[{fmt.extra}]'" if fmt.extra else "reinstall mocar"
        raise MissingRuntimeError(f"{fmt.name} files need the package {err.name!r}, which is not installed: "
                                  f"{hint}") from err
