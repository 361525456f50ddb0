"""ONNX files: the mocar metadata in ``metadata_props`` (write and read) and the file's signature.

The JSON contract sits under the key ``mocar``; a few flat keys (``labels``, ``mean``, ``std``,
``input_size``, ``precision``...) repeat the essentials for humans and Netron.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mocar
from mocar.runtime.metadata import flat_metadata, metadata_entry

ONNX_METADATA_KEY = "mocar"


def embed_onnx_metadata(model: Any, metadata: dict[str, Any]) -> Any:
    """Writes ``metadata`` into an ``onnx.ModelProto``'s ``metadata_props`` (replacing earlier entries)."""
    entries = {ONNX_METADATA_KEY: json.dumps(metadata, ensure_ascii=False), **flat_metadata(metadata)}
    kept = [prop for prop in model.metadata_props if prop.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "mocar"
    model.producer_version = mocar.__version__
    model.doc_string = f"mocar {metadata['model'].get('architecture')} model; metadata_props['{ONNX_METADATA_KEY}'] holds the JSON contract"
    return model


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata dict embedded in an ONNX file.

    Raises:
        MetadataError: If the file has no ``mocar`` entry or it is not valid JSON.
    """
    import onnx  # optional dependency: mocar[onnx]

    model = onnx.load(str(path), load_external_data=False)
    props = {prop.key: prop.value for prop in model.metadata_props}
    return metadata_entry(props, ONNX_METADATA_KEY, path, "metadata_props")


