"""CoreML packages without Apple's runtime: the import-order guard, and the mocar metadata inside a package.

``import coremltools`` imports TensorFlow, and importing TensorFlow before torch's triton segfaults
this process (docs/toolchain_findings.md): :func:`import_coremltools` is the one place that imports
it, in a safe order. The readers need no coremltools at all; they parse the package's spec with
:mod:`mocar.runtime.coreml_spec`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mocar.errors import InputError, MocarError
from mocar.runtime.coreml_spec import read_coreml_description
from mocar.runtime.errors import MetadataError, MissingRuntimeError
from mocar.runtime.metadata import metadata_entry

INPUT_NAME = "image"
METADATA_KEY = "mocar"
REFERENCE_KEY = "mocar_reference"


class CoreMLRuntimeError(MocarError):
    """coremltools cannot be imported safely in this process (TensorFlow was imported first)."""


def ensure_safe_import_order() -> None:
    """Loads torchvision/timm (and with them triton) now, or refuses if that would crash.

    Loading triton after TensorFlow segfaults (exit 139; docs/toolchain_findings.md, re-checked with
    ``import tensorflow; import timm``), and coremltools imports TensorFlow. So torchvision and timm
    must come first; once TensorFlow is loaded without triton, only a fresh process helps.

    Raises:
        CoreMLRuntimeError: If this process imported TensorFlow before triton.
    """
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        raise CoreMLRuntimeError(
            "TensorFlow is already imported in this process without torchvision/timm; importing them (or "
            "coremltools) now would segfault. Run the CoreML export/runner in a fresh process, or import "
            "timm before tensorflow.")
    import timm  # noqa: F401  (loads torch, torchvision and triton)
    import torchvision  # noqa: F401


def import_coremltools():
    """Imports coremltools safely (see :func:`ensure_safe_import_order`); a bare import segfaults here.

    Raises:
        CoreMLRuntimeError: If coremltools is missing or the import order is unsafe.
    """
    if "coremltools" not in sys.modules:
        ensure_safe_import_order()
    try:
        import coremltools
    except ImportError as err:
        raise MissingRuntimeError("coremltools is not installed; install the extra: pip install 'mocar[coreml]'") from err
    return coremltools


def read_coreml_metadata(path: Path) -> dict[str, Any]:
    """The ``mocar`` metadata dict embedded in an ``.mlpackage`` (works on Linux, no coremltools).

    Raises:
        MetadataError: If ``path`` is not a package or has no valid ``mocar`` entry.
    """
    try:
        user_defined = read_coreml_description(Path(path)).user_defined
    except InputError as err:
        raise MetadataError(str(err)) from err
    return metadata_entry(user_defined, METADATA_KEY, path, "user-defined metadata")


def read_coreml_reference(path: Path) -> dict[str, Any]:
    """The ``mocar_reference`` record (source model file and sha256), or ``{}`` if absent."""
    user_defined = read_coreml_description(Path(path)).user_defined
    return json.loads(user_defined[REFERENCE_KEY]) if REFERENCE_KEY in user_defined else {}
