"""The reference index: every known object's embedding, metadata and thumbnail, in one folder.

An investigator's photo is linked to reference objects with the same characteristics, whose
metadata (collection, dating) then supports a provenance hypothesis. The index folder holds:

* ``index.json``: schema, the model fingerprint (:mod:`mocar.model.fingerprint`), sizes, dtype, the
  search recipe in words, the OOD threshold calibrated at build time, file names;
* ``embeddings.npy``: the reference codes [N, d], ``float16`` or ``int8``;
* ``scales.npy`` (int8 only): float32 [d] per-dimension scales;
* ``offsets.npy`` (float16 and int8): float32 [d] per-dimension offsets;
* ``pca_components.npy`` (with ``dims``): float32 [d, D] projection;
* ``rerank.npy`` (optional, with ``rerank_scales.npy``/``rerank_offsets.npy`` as its dtype needs): the
  full-dimension normalised embeddings [N, D] that re-rank the compact search's candidates (search
  step 6). Read from storage a few rows per query (memory-mapped), so they cost disk, not memory;
* ``objects.parquet``: one row per reference, in code order: ``id, collection, dating, year_begin,
  year_end, year, epoch_label, thumb_offset, thumb_size``;
* ``thumbnails.bin`` (optional): the JPEG thumbnails packed back to back; row i's bytes are
  ``[thumb_offset, thumb_offset + thumb_size)``.

The exact search recipe is in :mod:`mocar.field.search`; :meth:`ReferenceIndex.search` follows it.
Using an index with another model raises :class:`~mocar.field.errors.ModelMismatchError`.

Memory: a loaded index holds the codes as stored (140k x 192 int8: 27 MB) and scores them block by
block (search step 4), never a float32 copy; ``rerank.npy`` and the thumbnails stay memory-mapped.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from mocar.data.images import load_rgb
from mocar.field import search as search_math
from mocar.field.errors import ModelMismatchError, ReferenceIndexError
from mocar.utils.io import atomic_write_bytes, atomic_write_text

SCHEMA = "mocar-reference-index"
SCHEMA_VERSION = 1
DEFAULT_INDEX_NAME = "index"
OBJECT_COLUMNS = ("id", "collection", "dating", "year_begin", "year_end", "year", "epoch_label")
FILES = {"meta": "index.json", "codes": "embeddings.npy", "scales": "scales.npy", "offsets": "offsets.npy",
         "components": "pca_components.npy", "rerank": "rerank.npy", "rerank_scales": "rerank_scales.npy",
         "rerank_offsets": "rerank_offsets.npy", "objects": "objects.parquet", "thumbnails": "thumbnails.bin"}
ARRAY_KEYS = ("codes", "scales", "offsets", "components", "rerank", "rerank_scales", "rerank_offsets")
MAPPED_ARRAYS = ("rerank",)  # read a few rows per query: memory-mapped instead of loaded
THUMB_QUALITY = 80
DEFAULT_RERANK_CANDIDATES = 100  # 140k synthetic refs, 192-d int8 first stage: recall@5 0.98-1.0 from 50 on


@dataclass
class ReferenceIndex:
    """Reference embeddings (compressed), their objects and thumbnails; see the module docstring.

    Attributes:
        meta: The ``index.json`` content.
        codes: Stored reference codes [N, d] (float16, int8 or float32).
        scales: Per-dimension int8 scales [d], or None.
        offsets: Per-dimension offsets [d] of float16/int8 codes, or None.
        components: PCA projection [d, D], or None.
        rerank: Full-dimension re-rank codes [N, D] (search step 6; a memory map once loaded), or None.
        rerank_scales: Their per-dimension int8 scales [D], or None.
        rerank_offsets: Their per-dimension offsets [D], or None.
        objects: One row per reference (``OBJECT_COLUMNS`` + thumbnail offsets).
        thumbnails: Packed JPEG bytes (a read-only memory map once loaded: 140k thumbnails are
            hundreds of MB and only a few are ever read), or None.
    """

    meta: dict[str, Any]
    codes: np.ndarray
    scales: np.ndarray | None
    offsets: np.ndarray | None
    components: np.ndarray | None
    objects: pd.DataFrame
    thumbnails: bytes | np.ndarray | None = None
    root: Path | None = None
    rerank: np.ndarray | None = None
    rerank_scales: np.ndarray | None = None
    rerank_offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def fingerprint(self) -> str:
        return self.meta["model"]["fingerprint"]

    @property
    def input_dims(self) -> int:
        """Width D of the embeddings this index takes."""
        return int(self.meta["embedding"]["source_dims"])

    def check_model(self, fingerprint: str) -> None:
        """Raise :class:`ModelMismatchError` unless the index was built with this model."""
        if fingerprint != self.fingerprint:
            where = f"index {self.root or '(in memory)'}/{FILES['meta']}"
            raise ModelMismatchError(where, self.fingerprint, fingerprint)

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """Queries in the index's space: normalised and, with PCA, projected (float32 [N, d])."""
        queries = np.asarray(embeddings, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.input_dims:
            raise ReferenceIndexError(f"queries have shape {queries.shape}; this index takes [N, {self.input_dims}]")
        return search_math.project(queries, self.components)

    @property
    def rerank_candidates(self) -> int:
        """How many compact-search candidates step 6 re-ranks (0 without ``rerank``)."""
        return int((self.meta["embedding"].get("rerank") or {}).get("candidates", 0))

    def search(self, embeddings: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Top-k cosine search of raw model embeddings [N, D] (search steps 1-6): (indices [N, k], similarities [N, k]).

        Exact over the stored codes; with ``rerank``, the best ``max(candidates, k)`` are re-scored
        on the full-dimension codes.
        """
        queries = self.project(embeddings)
        if self.rerank is None:
            return search_math.exact_search(queries, self.codes, k, self.scales, self.offsets)
        candidates, _ = search_math.exact_search(queries, self.codes, max(self.rerank_candidates, k),
                                                 self.scales, self.offsets)
        normalized = search_math.l2_normalize(np.asarray(embeddings, np.float32))
        return search_math.rerank(normalized, candidates, self.rerank, k, self.rerank_scales, self.rerank_offsets)

    def stored_vectors(self, rows: np.ndarray) -> np.ndarray:
        """The float32 vectors the final search step scores for ``rows`` (re-rank codes when present)."""
        if self.rerank is not None:
            return search_math.dequantize(self.rerank[rows], self.rerank_scales, self.rerank_offsets)
        return search_math.dequantize(self.codes[rows], self.scales, self.offsets)

    def thumbnail(self, row: int) -> bytes | None:
        """JPEG bytes of reference ``row``'s thumbnail, or None when the index has none."""
        if self.thumbnails is None:
            return None
        start, size = int(self.objects.at[row, "thumb_offset"]), int(self.objects.at[row, "thumb_size"])
        return bytes(self.thumbnails[start : start + size])

    def object_record(self, row: int) -> dict[str, Any]:
        """Plain-JSON metadata of reference ``row`` (NaN years become None)."""
        record = {column: self.objects.at[row, column] for column in OBJECT_COLUMNS}
        return {key: (None if isinstance(v, float) and np.isnan(v) else (v.item() if isinstance(v, np.generic) else v))
                for key, v in record.items()}

    @classmethod
    def from_embeddings(cls, embeddings: np.ndarray, objects: pd.DataFrame, model: dict[str, Any],
                        dims: int | None = None, dtype: str = "float16", thumbnails: list[bytes] | None = None,
                        extra: dict[str, Any] | None = None, components: np.ndarray | None = None,
                        rerank: str | None = None,
                        rerank_candidates: int = DEFAULT_RERANK_CANDIDATES) -> ReferenceIndex:
        """Build an index in memory from raw reference embeddings [N, D].

        Args:
            embeddings: Model embeddings of the references (not yet normalised).
            objects: One row per reference with at least ``OBJECT_COLUMNS`` (missing ones are filled with None).
            model: Model description; must hold ``fingerprint``.
            dims: PCA output dimensions, or None for no projection.
            dtype: ``float16``, ``int8`` or ``float32`` storage of the references.
            thumbnails: JPEG bytes per reference (same order), or None.
            extra: More ``index.json`` entries (e.g. ``references``).
            components: A projection [d, D] fitted before (e.g. shared by several indexes of one
                reference set); ``dims`` is then ignored.
            rerank: Also store the full-dimension embeddings in this dtype (``float16``, ``int8``,
                ``float32``) to re-rank the compact search's candidates (search step 6); None: no re-rank.
            rerank_candidates: How many candidates the compact search hands to the re-rank.
        """
        if "fingerprint" not in model:
            raise ReferenceIndexError("model description lacks 'fingerprint'")
        normalized = search_math.l2_normalize(embeddings)
        if len(normalized) != len(objects):
            raise ReferenceIndexError(f"{len(normalized)} embeddings but {len(objects)} objects; "
                                      "expected one per object")
        if components is None and dims is not None:
            components = search_math.fit_pca(normalized, dims)
        codes, scales, offsets = search_math.quantize(search_math.project(normalized, components), dtype)
        full = search_math.quantize(normalized, rerank) if rerank is not None else (None, None, None)
        if rerank is not None and rerank_candidates < 1:
            raise ReferenceIndexError(f"rerank_candidates={rerank_candidates}: need at least 1")
        table = _object_table(objects, thumbnails)
        embedding = {"source_dims": int(normalized.shape[1]), "dims": int(codes.shape[1]), "dtype": dtype,
                     "pca": components is not None, "quantization": _QUANTIZATION[dtype],
                     "rerank": None if rerank is None else {"dtype": rerank, "candidates": int(rerank_candidates),
                                                            "quantization": _QUANTIZATION[rerank]}}
        meta = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "model": dict(model), "count": len(codes),
                "embedding": embedding, "search": _SEARCH_SUMMARY, "ood": None,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **(extra or {})}
        packed = b"".join(thumbnails) if thumbnails is not None else None
        return cls(meta=meta, codes=codes, scales=scales, offsets=offsets, components=components, objects=table,
                   thumbnails=packed, rerank=full[0], rerank_scales=full[1], rerank_offsets=full[2])

    def save(self, out: str | Path) -> Path:
        """Write the index folder (each file atomically); returns ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        present = {**{key: array is not None for key, array in self._arrays().items()},
                   "objects": True, "thumbnails": self.thumbnails is not None}
        files = {key: FILES[key] if there else None for key, there in present.items()}
        for key, array in self._arrays().items():
            if array is not None:
                buffer = io.BytesIO()
                np.save(buffer, array, allow_pickle=False)
                atomic_write_bytes(out / FILES[key], buffer.getvalue())
        buffer = io.BytesIO()
        self.objects.to_parquet(buffer, index=False)
        atomic_write_bytes(out / FILES["objects"], buffer.getvalue())
        if self.thumbnails is not None:
            atomic_write_bytes(out / FILES["thumbnails"], bytes(self.thumbnails))
        self.meta["files"] = files
        atomic_write_text(out / FILES["meta"], json.dumps(self.meta, indent=2, ensure_ascii=False))
        self.root = out
        return out

    @classmethod
    def load(cls, path: str | Path) -> ReferenceIndex:
        """Read an index folder written by :meth:`save`, checking that its files agree."""
        root = Path(path)
        meta = _read_meta(root)
        files = meta.get("files") or {}
        arrays = {key: _read_array(root, files.get(key), mapped=key in MAPPED_ARRAYS) for key in ARRAY_KEYS}
        if arrays["codes"] is None:
            raise ReferenceIndexError(f"{root / FILES['meta']}: no 'files.codes' entry; the index is incomplete")
        objects = _read_objects(root, files.get("objects"))
        thumbnails = _map_thumbnails(root / files["thumbnails"]) if files.get("thumbnails") else None
        index = cls(meta=meta, objects=objects, thumbnails=thumbnails, root=root, **arrays)
        _check_consistent(index, root)
        return index

    def size_bytes(self, thumbnails: bool = False, rerank: bool = False) -> int:
        """Bytes of the search data a loaded index holds in memory (codes, scales, offsets, projection);
        with ``rerank`` / ``thumbnails``, also those memory-mapped files."""
        extra = len(self.thumbnails) if thumbnails and self.thumbnails is not None else 0
        arrays = self._arrays()
        if not rerank:
            arrays = {key: a for key, a in arrays.items() if not key.startswith("rerank")}
        return sum(a.nbytes for a in arrays.values() if a is not None) + extra

    def _arrays(self) -> dict[str, np.ndarray | None]:
        return {key: getattr(self, key) for key in ARRAY_KEYS}


_QUANTIZATION = {"float32": None, "float16": "float16 around a per-dimension offset",
                 "int8": "int8 around a per-dimension offset, one scale per dimension"}
_SEARCH_SUMMARY = ("q = e / max(||e||, 1e-12); y = pca_components @ q (when present; no centring, no re-normalisation); "
                   "reference r = offsets + float32(code) (float16) or offsets + code * scales (int8, per dimension); "
                   "similarity = sum_j r[j] * y[j] (float32); top-k by similarity, ties to the lower reference index; "
                   "with embedding.rerank: the best max(candidates, k) are re-scored the same way on rerank codes "
                   "(full dimensions, against q, around rerank_offsets / with rerank_scales) and the top-k of those kept")


def _object_table(objects: pd.DataFrame, thumbnails: list[bytes] | None) -> pd.DataFrame:
    table = pd.DataFrame({column: objects[column].to_numpy() if column in objects else None
                          for column in OBJECT_COLUMNS})
    table["id"] = table["id"].astype(str)
    sizes = np.zeros(len(table), np.int64) if thumbnails is None else np.array([len(t) for t in thumbnails], np.int64)
    if len(sizes) != len(table):
        raise ReferenceIndexError(f"{len(sizes)} thumbnails for {len(table)} objects; expected one per object")
    table["thumb_offset"] = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(sizes) else sizes
    table["thumb_size"] = sizes
    return table


def _read_meta(root: Path) -> dict[str, Any]:
    meta_file = root / FILES["meta"]
    if not meta_file.is_file():
        raise ReferenceIndexError(f"{meta_file} not found; build an index with `mocar index build --out {root}`")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReferenceIndexError(f"{meta_file}: not valid JSON ({err})") from err
    if meta.get("schema") != SCHEMA or meta.get("schema_version") != SCHEMA_VERSION:
        raise ReferenceIndexError(f"{meta_file}: schema {meta.get('schema')!r} v{meta.get('schema_version')!r}; "
                                  f"expected {SCHEMA!r} v{SCHEMA_VERSION}")
    return meta


def _read_array(root: Path, name: str | None, mapped: bool = False) -> np.ndarray | None:
    if name is None:
        return None
    path = root / name
    if not path.is_file():
        raise ReferenceIndexError(f"{path} not found but {root / FILES['meta']} lists it; the index is incomplete")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mapped else None)
    except (ValueError, OSError) as err:
        raise ReferenceIndexError(f"{path}: not a readable .npy array ({err})") from err


def _map_thumbnails(path: Path) -> np.ndarray | bytes:
    if not path.is_file():
        raise ReferenceIndexError(f"{path} not found but index.json lists it; the index is incomplete")
    return np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else b""


def _read_objects(root: Path, name: str | None) -> pd.DataFrame:
    path = root / (name or FILES["objects"])
    if not path.is_file():
        raise ReferenceIndexError(f"{path} not found; the index is incomplete")
    objects = pd.read_parquet(path)
    missing = [c for c in (*OBJECT_COLUMNS, "thumb_offset", "thumb_size") if c not in objects]
    if missing:
        raise ReferenceIndexError(f"{path}: missing columns {missing}")
    return objects


def _check_consistent(index: ReferenceIndex, root: Path) -> None:
    count, dims = index.codes.shape if index.codes.ndim == 2 else (None, None)
    embedding = index.meta.get("embedding", {})
    problems = []
    if count is None or count != index.meta.get("count") or dims != embedding.get("dims"):
        problems.append(f"{FILES['codes']} has shape {index.codes.shape}, index.json says "
                        f"[{index.meta.get('count')}, {embedding.get('dims')}]")
    if str(index.codes.dtype) != embedding.get("dtype"):
        problems.append(f"{FILES['codes']} is {index.codes.dtype}, index.json says {embedding.get('dtype')}")
    if len(index.objects) != count:
        problems.append(f"{FILES['objects']} has {len(index.objects)} rows for {count} references")
    problems += _coding_problems(index, "", embedding.get("dtype"), dims, "indexes")
    if index.components is not None and index.components.shape != (dims, embedding.get("source_dims")):
        problems.append(f"{FILES['components']} has shape {index.components.shape}, "
                        f"expected [{dims}, {embedding.get('source_dims')}]")
    problems += _rerank_problems(index, count, embedding)
    if index.components is None and dims != embedding.get("source_dims"):
        problems.append(f"no {FILES['components']} but dims {dims} != source_dims {embedding.get('source_dims')}")
    if index.thumbnails is not None and len(index.objects):
        end = int((index.objects["thumb_offset"] + index.objects["thumb_size"]).max())
        if end > len(index.thumbnails):
            problems.append(f"{FILES['thumbnails']} has {len(index.thumbnails)} bytes "
                            f"but objects.parquet points to byte {end}")
    if problems:
        raise ReferenceIndexError(f"{root}: inconsistent index: " + "; ".join(problems))


def _rerank_problems(index: ReferenceIndex, count: int | None, embedding: dict[str, Any]) -> list[str]:
    """What disagrees between ``rerank*.npy`` and ``index.json``'s ``embedding.rerank``."""
    record = embedding.get("rerank")
    if record is not None and not isinstance(record, dict):
        return [f"index.json embedding.rerank is {record!r}; expected null or an object"]
    if (index.rerank is None) != (record is None):
        return [f"{FILES['rerank']} must exist exactly when index.json's embedding.rerank is set"]
    if record is None:
        return []
    problems = []
    if index.rerank.shape != (count, embedding.get("source_dims")) or str(index.rerank.dtype) != record.get("dtype"):
        problems.append(f"{FILES['rerank']} is {index.rerank.dtype} {list(index.rerank.shape)}, index.json says "
                        f"{record.get('dtype')} [{count}, {embedding.get('source_dims')}]")
    if not isinstance(record.get("candidates"), int) or record["candidates"] < 1:
        problems.append(f"index.json embedding.rerank.candidates is {record.get('candidates')!r}; expected an integer >= 1")
    return problems + _coding_problems(index, "rerank_", record.get("dtype"), index.input_dims, "re-rank codes")


def _coding_problems(index: ReferenceIndex, prefix: str, dtype: str | None, width: int | None, what: str) -> list[str]:
    """Scales exist exactly for int8 codes and offsets for int8/float16 codes, each with ``width`` values."""
    problems = []
    for key, wanted in (("scales", ("int8",)), ("offsets", ("int8", "float16"))):
        array = getattr(index, prefix + key)
        if (array is None) == (dtype in wanted) or (array is not None and array.shape != (width,)):
            problems.append(f"{FILES[prefix + key]} must exist exactly for {'/'.join(wanted)} {what}, "
                            f"with shape [{width}]")
    return problems


def make_thumbnail(path: str | Path, px: int, quality: int = THUMB_QUALITY) -> bytes:
    """A JPEG thumbnail whose longer side is ``px`` (aspect ratio kept), from any image file."""
    image = load_rgb(path)
    image.thumbnail((px, px), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
