"""`mocar index build`: embed every reference object of a run's data and write the index folder.

The references are one split of the prepared data (``train`` by default: the objects whose metadata
the investigator can rely on). The index also stores its out-of-distribution threshold, calibrated
on another split (``val``) that is *not* in the index, so the false-alarm rate is honest.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from mocar.field import ood
from mocar.field.index import DEFAULT_INDEX_NAME, DEFAULT_RERANK_CANDIDATES, ReferenceIndex, make_thumbnail
from mocar.field.runs import open_field_run

DEFAULT_THUMB_PX = 64


def build_index(run_dir: str | Path, data_dir: str | Path | None = None, split: str = "train",
                out: str | Path | None = None, dims: int | None = None, dtype: str = "float16",
                thumb_px: int = DEFAULT_THUMB_PX, checkpoint: str = "best", calib_split: str | None = "val",
                ood_k: int = ood.DEFAULT_KNN_K, batch_size: int = 64, progress: bool = False,
                rerank: str | None = None, rerank_candidates: int = DEFAULT_RERANK_CANDIDATES) -> Path:
    """Build the reference index of a trained run.

    Args:
        run_dir: The run folder.
        data_dir: Prepared data folder; default: the one the run was trained on.
        split: Which split's objects become references.
        out: Index folder; default ``RUN_DIR/index``.
        dims: PCA dimensions (None: keep the model's embedding size).
        dtype: ``float16`` or ``int8`` (or ``float32``) storage.
        thumb_px: Longer side of the JPEG thumbnails; 0 stores none.
        checkpoint: ``best``, ``last`` or a checkpoint file.
        calib_split: Split (not in the index) that calibrates the OOD threshold; None skips it.
        ood_k: k of the ``knn`` OOD score.
        batch_size: Inference batch size.
        progress: Show a progress bar for the thumbnails.
        rerank: Also store the full embeddings in this dtype to re-rank the compact search's
            candidates (``mocar.field.search`` step 6); None: no re-rank.
        rerank_candidates: How many candidates the re-rank re-scores.

    Returns:
        The index folder.
    """
    field_run = open_field_run(run_dir, data_dir, checkpoint)
    frame, outputs = field_run.split_outputs(split, batch_size)
    thumbnails = None
    if thumb_px > 0:
        images = tqdm(frame["image"], desc="thumbnails", disable=not progress)
        thumbnails = [make_thumbnail(path, thumb_px) for path in images]
    references = {"split": split, "data": str(field_run.data.root), "count": len(frame)}
    index = ReferenceIndex.from_embeddings(outputs.embeddings, frame, field_run.model_description(), dims, dtype,
                                           thumbnails, extra={"references": references}, rerank=rerank,
                                           rerank_candidates=rerank_candidates)
    if thumbnails is not None:
        index.meta["thumbnails"] = {"px": thumb_px, "format": "JPEG",
                                    "packing": "objects.parquet thumb_offset/thumb_size"}
    if calib_split is not None:
        _, calib = field_run.split_outputs(calib_split, batch_size)
        _, sims = index.search(calib.embeddings, k=ood_k)
        index.meta["ood"] = ood.ood_calibration("knn", ood.knn_score(sims, ood_k), calib_split, k=ood_k)
    return index.save(Path(out) if out is not None else Path(run_dir) / DEFAULT_INDEX_NAME)
