"""int8 auto-selection: export every int8 candidate, benchmark each, keep the fastest that passes.

Which int8 recipe is fastest depends on the network and the runtime, and is often surprising
(docs/toolchain_findings.md: on GroupNorm networks ONNX S8S8 and TFLite full-integer run *slower*
than fp32, ONNX U8S8 Conv/Gemm-only and TFLite dynamic-range faster), so it is measured, not guessed:

1. :func:`select_int8` exports the fp32 file and every candidate flavour of each runtime with
   :func:`mocar.export.run.export_run` (:data:`mocar.quantize.request.OFFERED`);
2. :func:`select_int8_exports` benchmarks that folder (or any export folder holding several int8
   files, ``mocar bench --select``) on its *selection* images (train images outside calibration,
   :mod:`mocar.data.image_roles`) with :func:`mocar.bench.suite.run`, so the report's parity set
   and the test split stay unseen by the choice;
3. :func:`mocar.quantize.select.select_from_rows` (pure) keeps, per runtime, the fastest int8 row
   that meets the parity policy, or none, saying why;
4. optionally (``prune=True``, what ``mocar export --int8 auto`` does)
   :func:`mocar.quantize.select.prune_unselected` deletes the losing int8 files and records the
   choice in ``manifest.json``.

Caveat: latency is measured on this machine; a phone may rank candidates differently (import its
rows with ``mocar bench --import`` and call :func:`~mocar.quantize.select.select_from_rows` on them).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from mocar.bench.int8_search import RUNTIMES, search_export, shipped_name
from mocar.bench.suite import run
from mocar.errors import InputError
from mocar.export.run import export_run
from mocar.quantize.request import OFFERED, Int8Request, parse_flavours
from mocar.quantize.select import Selection, prune_unselected, select_from_rows, write_selection
from mocar.runtime.policy import load_policy


def select_int8_exports(exports_dir: str | Path, data_dir: str | Path | None = None, policy: str | Path | None = None,
                        threads: tuple[int, ...] = (2,), runs: int = 30, warmup: int = 3,
                        out: str | Path | None = None, min_speedup: float | None = None,
                        progress: bool = True, split: str | None = None) -> dict[str, Selection]:
    """Benchmarks an export folder holding several int8 files and selects per runtime (``mocar bench --select``).

    The choice is made on the folder's *selection* images (its validation parity set,
    :mod:`mocar.data.image_roles`), never on the images of the final report; the accuracy figures
    come from the same images unless ``split`` names a labelled split. The policy's ``min_images``
    does not apply here: the choice ranks candidates on the images there are, and the gate with
    ``min_images`` is ``mocar bench --check`` on the report's parity set. Writes the full bench report
    and ``int8_selection.json``/``.md`` into ``out`` (default ``EXPORTS/int8_selection``).
    """
    out = Path(out or Path(exports_dir) / "int8_selection")
    result = run(exports_dir, data_dir, split, threads, runs, warmup, policy=policy, out=out, progress=progress,
                 selection=True)
    selections = select_from_rows(result["rows"], load_policy(policy), max(threads), min_speedup, min_images=0)
    write_selection(selections, out, {"exports": str(exports_dir), "split": result["split"],
                                      "images": result["parity_set"], "threads": max(threads), "runs": runs,
                                      "policy": str(policy or "default"), "min_speedup": min_speedup})
    return selections


def refuse_auto_conflicts(formats_given: bool, precisions_given: bool, checkpoint: str, strict: bool) -> None:
    """``mocar export --int8 auto`` decides formats, precisions and the verdict itself.

    Raises:
        InputError: Naming the flags that would be ignored.
    """
    if formats_given or precisions_given:
        raise InputError("--int8 auto exports ONNX and TFLite in fp32 and int8 by itself; "
                         "leave out --formats/--precisions (CoreML offers one int8 variant only)")
    if checkpoint != "best" or strict:
        raise InputError("--int8 auto exports the run's best checkpoint and judges by the parity policy; "
                         "leave out --checkpoint/--strict (use --policy)")


def select_int8(run_dir: str | Path, out_dir: str | Path, data_dir: str | Path | None = None,
                candidates: Mapping[str, Sequence[str]] | None = None, policy: str | Path | None = None,
                threads: tuple[int, ...] = (2,), runs: int = 30, calib_images: int = 300,
                input_size: int | None = None, min_speedup: float | None = None, prune: bool = False,
                progress: bool = True, search: bool = True,
                selection_images: int | None = None) -> dict[str, Selection]:
    """Exports every int8 candidate of a trained run, benchmarks them, keeps the fastest passing per runtime.

    Args:
        run_dir: Trained run folder.
        out_dir: Export folder to write (fp32 + all candidates, ``manifest.json``, ``int8_selection/``).
        data_dir: Prepared data folder, if it moved since training.
        candidates: ``{format: [flavour, ...]}`` (default :data:`~mocar.quantize.request.OFFERED`: all of them).
        policy: Parity policy YAML (default: the packaged one).
        threads: Thread counts to time; the largest decides.
        runs: Timed batch-1 runs per file.
        calib_images: Calibration images for the calibrated flavours.
        input_size: Input side (default: the run's).
        min_speedup: Optionally reject candidates slower than ``min_speedup`` x fp32.
        prune: Delete the int8 files not chosen (:func:`prune_unselected`), leaving fp32 + the winners.
        search: Where no recipe meets the policy, run the float-fallback search
            (:func:`search_where_none_passed`).
        selection_images: Size of the selection set (:func:`mocar.export.run.export_run`).
        progress: Print progress.

    Returns:
        ``{format: Selection}``; also written to ``out_dir/int8_selection/int8_selection.json``.

    Raises:
        InputError: On an unknown format or flavour.
    """
    candidates = {fmt: parse_flavours(fmt, flavours) for fmt, flavours in (candidates or OFFERED).items()}
    export_run(run_dir, out_dir, formats=list(candidates), precisions=["fp32", "int8"], input_size=input_size,
               calib_images=calib_images, progress=progress, data=None if data_dir is None else str(data_dir),
               int8=Int8Request(**{**OFFERED, **candidates}), selection_images=selection_images)
    selections = select_int8_exports(out_dir, data_dir, policy, threads, runs,
                                     out=Path(out_dir) / "int8_selection", min_speedup=min_speedup, progress=progress)
    if prune:
        prune_unselected(out_dir, selections)
    if search:
        search_where_none_passed(out_dir, selections, policy, min_speedup, data_dir)
    return selections


def search_where_none_passed(out_dir: str | Path, selections: dict[str, Selection], policy: str | Path | None,
                             min_speedup: float | None, data_dir: str | Path | None = None) -> None:
    """For each runtime where no int8 recipe met the policy, the float-fallback search
    (:mod:`mocar.bench.int8_search`); its file, if any, becomes the runtime's choice."""
    missing = tuple(fmt for fmt, selection in selections.items() if selection.chosen is None and fmt in RUNTIMES)
    if not missing:
        return
    results = search_export(out_dir, missing, policy, min_speedup=min_speedup, data_dir=data_dir)
    manifest_path = Path(out_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for fmt, result in results.items():
        selection = selections[fmt]
        selection.chosen = shipped_name(fmt, result.flavour) if result.chosen else None
        selection.reason += f"; float-fallback search: {result.reason}"
        manifest.setdefault("int8_selection", {}).setdefault(fmt, {}).update(
            {"chosen": selection.chosen, "reason": selection.reason})
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
