"""The typed int8 request an export carries: which int8 flavour(s) to build per runtime.

Replaces string-keyed exporter options: names are checked once, here, before any work, against the
flavours the recipes offer (:data:`OFFERED`), so a typo fails with the valid names instead of
deep inside a worker process.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from mocar.errors import InputError
from mocar.quantize import onnx_int8, tflite_int8

OFFERED: dict[str, tuple[str, ...]] = {
    "onnx": tuple(onnx_int8.INT8_FLAVOURS),
    "tflite": tuple(tflite_int8.INT8_FLAVOURS),
}
DEFAULTS: dict[str, tuple[str, ...]] = {
    "onnx": tuple(onnx_int8.DEFAULT_INT8_FLAVOURS),
    "tflite": tuple(tflite_int8.DEFAULT_INT8_FLAVOURS),
}


def parse_flavours(runtime: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a,b"`` or ``["a", "b"]`` -> checked tuple; None -> the runtime's defaults.

    Raises:
        InputError: On an unknown runtime, an empty list or a flavour the runtime does not offer.
    """
    if runtime not in OFFERED:
        raise InputError(f"no int8 flavours for {runtime!r}; runtimes with int8 recipes: {', '.join(OFFERED)}")
    if value is None:
        return DEFAULTS[runtime]
    names = tuple(n.strip() for n in value.split(",") if n.strip()) if isinstance(value, str) else tuple(value)
    if not names:
        raise InputError(f"no {runtime} int8 flavour named; name one or more of {', '.join(OFFERED[runtime])}")
    unknown = [n for n in names if n not in OFFERED[runtime]]
    if unknown:
        raise InputError(f"{runtime} int8 flavour(s) {unknown} not offered; valid: {', '.join(OFFERED[runtime])}")
    return names


@dataclass(frozen=True)
class Int8Request:
    """The int8 files an export builds: one per named flavour and runtime (CoreML has one recipe)."""

    onnx: tuple[str, ...] = DEFAULTS["onnx"]
    tflite: tuple[str, ...] = DEFAULTS["tflite"]

    def __post_init__(self) -> None:
        object.__setattr__(self, "onnx", parse_flavours("onnx", self.onnx))
        object.__setattr__(self, "tflite", parse_flavours("tflite", self.tflite))

    @classmethod
    def everything(cls) -> Int8Request:
        """Every offered flavour of every runtime (what int8 auto-selection tries)."""
        return cls(**OFFERED)

    def flavours(self, runtime: str) -> tuple[str, ...]:
        """The requested flavours of one runtime (empty for a runtime without named recipes)."""
        return getattr(self, runtime, ())

    def to_dict(self) -> dict[str, Any]:
        return {"onnx": list(self.onnx), "tflite": list(self.tflite)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "int8 request") -> Int8Request:
        """Inverse of :meth:`to_dict`.

        Raises:
            InputError: Naming ``where`` and the missing key, or an unknown flavour.
        """
        keys = [f.name for f in fields(cls)]
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected an object with keys {', '.join(keys)}, got {type(data).__name__}")
        missing = [key for key in keys if key not in data]
        if missing:
            raise InputError(f"{where}: missing key(s) {', '.join(missing)} (expected a list of int8 flavours for "
                             f"each of {', '.join(keys)})")
        return cls(**{key: tuple(data[key]) for key in keys})


def request_from_flags(onnx: str | None, tflite: str | None,
                       unset: dict[str, tuple[str, ...]] = DEFAULTS) -> Int8Request:
    """The request of ``--onnx-int8 LIST`` / ``--tflite-int8 LIST``; a runtime whose flag is unset gets ``unset[runtime]``.

    Raises:
        InputError: Naming the flag, on an empty list (``--onnx-int8 ''``: not the same as leaving the flag out)
            or an unknown flavour (before any export starts).
    """
    return Int8Request(onnx=_flag_flavours("onnx", onnx, unset), tflite=_flag_flavours("tflite", tflite, unset))


def _flag_flavours(runtime: str, value: str | None, unset: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    if value is None:
        return unset[runtime]
    try:
        return parse_flavours(runtime, value)
    except InputError as err:
        raise InputError(f"--{runtime}-int8 {value!r}: {err}") from None
