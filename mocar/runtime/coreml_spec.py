"""Reads the description of a CoreML ``.mlpackage`` (metadata, inputs, outputs) without coremltools.

Why not ``coremltools.models.MLModel(path, skip_model_load=True)``: importing coremltools takes
~6 s here, imports TensorFlow, and segfaults when TensorFlow or a bare ``torch`` was imported first
(docs/toolchain_findings.md). Validation, manifests and runners must read metadata in any process, so this
module decodes the few fields it needs straight from the protobuf wire format of the package's
spec file (``Data/com.apple.CoreML/model.mlmodel``, located through ``Manifest.json``).
Only the standard library is used.

Field numbers come from coremltools' ``Model.proto`` / ``FeatureTypes.proto`` (CoreML spec):
``Model.description = 2``; ``ModelDescription.input = 1, output = 10, metadata = 100``;
``Metadata.shortDescription = 1, versionString = 2, author = 3, license = 4, userDefined = 100``;
``FeatureDescription.name = 1, shortDescription = 2, type = 3``; ``FeatureType.imageType = 4,
multiArrayType = 5``; ``ArrayFeatureType.shape = 1, dataType = 2``; ``ImageFeatureType.width = 1,
height = 2, colorSpace = 3``. The test suite checks this reader against coremltools' own parser.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mocar.errors import InputError

ARRAY_DATA_TYPES = {65568: "float32", 65600: "float64", 131104: "int32", 131080: "int8", 65552: "float16"}
COLOR_SPACES = {10: "grayscale", 20: "rgb", 30: "bgr", 40: "grayscale_float16"}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


@dataclass
class FeatureSpec:
    """One input or output of a CoreML model.

    Attributes:
        name: Feature name (e.g. ``image``, ``logits``).
        description: Its short description.
        kind: ``multiarray`` or ``image`` (``other`` for types mocar never writes).
        shape: Array shape, or ``[height, width]`` for images.
        dtype: Array data type (``float32``...) or the image colour space (``rgb``...).
    """

    name: str
    description: str = ""
    kind: str = "other"
    shape: list[int] = field(default_factory=list)
    dtype: str = ""


@dataclass
class CoreMLDescription:
    """The description part of a CoreML model spec."""

    specification_version: int = 0
    short_description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    user_defined: dict[str, str] = field(default_factory=dict)
    inputs: list[FeatureSpec] = field(default_factory=list)
    outputs: list[FeatureSpec] = field(default_factory=list)


def spec_file(package: Path) -> Path:
    """The spec (``model.mlmodel``) inside an ``.mlpackage``, as its ``Manifest.json`` names it.

    Raises:
        InputError: If ``package`` is not an ``.mlpackage`` folder with a readable manifest.
    """
    package = Path(package)
    manifest = package / "Manifest.json"
    if not manifest.is_file():
        raise InputError(f"{package}: not a CoreML .mlpackage (no Manifest.json inside)")
    try:
        data = json.loads(manifest.read_text())
        root = data["itemInfoEntries"][data["rootModelIdentifier"]]["path"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"{manifest}: unreadable manifest ({err!r}); "
                         "expected itemInfoEntries and rootModelIdentifier") from err
    path = package / "Data" / root
    if not path.is_file():
        raise InputError(f"{package}: the manifest names {root!r} but Data/{root} does not exist")
    return path


def read_coreml_description(package: Path) -> CoreMLDescription:
    """Decodes specification version, metadata and input/output descriptions of a package."""
    path = spec_file(package)
    try:
        return _parse_model(path.read_bytes())
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a valid CoreML model spec ({err!r})") from err


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yields ``(field number, wire type, value)``; values of wire type 2 are raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _BYTES:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == _FIXED64:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == _FIXED32:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise InputError(f"unsupported protobuf wire type {wire} (field {number})")
        yield number, wire, value


def _parse_model(data: bytes) -> CoreMLDescription:
    described = CoreMLDescription()
    for number, _, value in _fields(data):
        if number == 1:
            described.specification_version = value
        elif number == 2:
            _parse_model_description(value, described)
    return described


def _parse_model_description(data: bytes, described: CoreMLDescription) -> None:
    for number, _, value in _fields(data):
        if number == 1:
            described.inputs.append(_parse_feature(value))
        elif number == 10:
            described.outputs.append(_parse_feature(value))
        elif number == 100:
            _parse_metadata(value, described)


def _parse_metadata(data: bytes, described: CoreMLDescription) -> None:
    text_fields = {1: "short_description", 2: "version", 3: "author", 4: "license"}
    for number, _, value in _fields(data):
        if number in text_fields:
            setattr(described, text_fields[number], value.decode("utf-8"))
        elif number == 100:  # map<string, string> entry: key = 1, value = 2
            entry = {n: v.decode("utf-8") for n, _, v in _fields(value)}
            described.user_defined[entry.get(1, "")] = entry.get(2, "")


def _parse_feature(data: bytes) -> FeatureSpec:
    feature = FeatureSpec(name="")
    for number, _, value in _fields(data):
        if number == 1:
            feature.name = value.decode("utf-8")
        elif number == 2:
            feature.description = value.decode("utf-8")
        elif number == 3:
            _parse_feature_type(value, feature)
    return feature


def _parse_feature_type(data: bytes, feature: FeatureSpec) -> None:
    for number, _, value in _fields(data):
        if number == 5:
            feature.kind = "multiarray"
            for sub, wire, item in _fields(value):
                if sub == 1:
                    feature.shape.extend(_repeated_varints(item) if wire == _BYTES else [item])
                elif sub == 2:
                    feature.dtype = ARRAY_DATA_TYPES.get(item, str(item))
        elif number == 4:
            feature.kind = "image"
            image = {sub: item for sub, _, item in _fields(value) if sub in (1, 2, 3)}
            feature.shape = [image.get(2, 0), image.get(1, 0)]
            feature.dtype = COLOR_SPACES.get(image.get(3, 0), str(image.get(3, 0)))


def _repeated_varints(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        values.append(value)
    return values
