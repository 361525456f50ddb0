"""The `mocar` command line: thin argument parsing over library functions that are also the API.

Heavy imports (torch, timm) happen inside the handlers so ``mocar --help`` and the data commands
start fast.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

from mocar.errors import InputError, MocarError
from mocar.train.config import DISTILL_FLAG_HELP, FLAG_CHOICES, TRAIN_FLAG_HELP, TrainConfig


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="build the demo museum and prepare a museum export for training")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    synth = data_sub.add_parser("synth", help="generate the built-in demo museum (images + export CSV)")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    synth.add_argument("--objects", type=int, default=2000, help="number of objects (default 2000)")
    synth.add_argument("--source-image-size", type=int, default=128,
                       help="side of the generated photos in pixels (default 128; the model's input side is "
                            "`mocar train --input-size`)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--no-broken", action="store_true", help="do not add deliberately broken rows/images")
    synth.add_argument("--field", action="store_true",
                       help="also photograph every valid object as a phone photo in the field (images/field/, "
                            "export rows with condition=field; museum images unchanged)")
    synth.add_argument("--field-per-object", type=int, default=1, help="field photos per object (default 1)")
    synth.set_defaults(handler=_cmd_data_synth)

    prep = data_sub.add_parser("prepare", help="validate an export, label epochs (Jenks) and split 80/10/10")
    prep.add_argument("--export", required=True, type=Path, help="CSV/TSV export (delimiter and encoding detected)")
    prep.add_argument("--images", required=True, type=Path, help="folder the image paths are relative to")
    prep.add_argument("--out", required=True, type=Path, help="output folder for manifest and reports")
    prep.add_argument("--columns", help="id=COL,image=COL,collection=COL,dating=COL (or begin=COL,end=COL)")
    prep.add_argument("--classes", type=int, default=50, help="total epoch classes (default 50, as the paper)")
    prep.add_argument("--min-class-size", type=int, default=20, help="smallest allowed epoch class (default 20)")
    prep.add_argument("--split", default="80/10/10", help="train/val/test proportions (default 80/10/10)")
    prep.add_argument("--seed", type=int, default=0, help="seed of the hash-based split")
    prep.add_argument("--min-image-size", type=int, default=32, help="reject images whose shorter side is smaller")
    prep.add_argument("--min-year", type=int, default=-12000, help="earliest plausible year (negative = BC)")
    prep.add_argument("--max-year", type=int, default=2100, help="latest plausible year")
    prep.add_argument("--cache-size", type=int, default=0,
                      help="resize images larger than this (longer side, px) into OUT/cache once (0 = off)")
    prep.add_argument("--workers", type=int, default=2, help="processes decoding images")
    prep.set_defaults(handler=_cmd_data_prepare)


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from mocar.data.synth import synthesize_museum

    summary = synthesize_museum(args.out, n_objects=args.objects, source_image_size=args.source_image_size,
                                seed=args.seed, broken=not args.no_broken, field=args.field,
                                field_per_object=args.field_per_object)
    print(summary)
    return 0


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    from mocar.data.prepare import PrepareConfig, format_summary, prepare_dataset

    cfg = PrepareConfig(
        export=str(args.export), images=str(args.images), out=str(args.out), columns=args.columns,
        classes=args.classes, min_class_size=args.min_class_size, split=args.split, seed=args.seed,
        min_image_size=args.min_image_size, min_year=args.min_year, max_year=args.max_year,
        cache_size=args.cache_size, workers=args.workers,
    )
    print(format_summary(prepare_dataset(cfg)))
    return 0


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file of training options (flags override it)")
    _add_config_flags(parser, TRAIN_FLAG_HELP)


def _add_config_flags(parser: argparse.ArgumentParser, help_by_field: dict[str, str]) -> None:
    """One flag per named TrainConfig field: ``--kebab-case`` of the name and the field's type.

    Every flag defaults to None (not given), so a value from ``--config`` or the teacher stands.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    types = typing.get_type_hints(TrainConfig)
    for name, help_text in help_by_field.items():
        flag = "--" + name.replace("_", "-")
        if types[name] is bool and defaults[name] is True:
            parser.add_argument("--no-" + flag[2:], dest=name, action="store_false", default=None, help=help_text)
        elif types[name] is bool:
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag, type=_flag_type(types[name]), choices=FLAG_CHOICES.get(name), help=help_text)


def _flag_type(annotation: object) -> Callable[[str], object] | None:
    """The argparse type of a field: ``int`` for ``int | None``; None (the raw string) for a field of
    several types, like ``lr`` (a number or 'auto'), which TrainConfig converts itself."""
    kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)] or [annotation]
    return kinds[0] if len(kinds) == 1 else None


def _train_config(args: argparse.Namespace) -> TrainConfig:
    flags = {name: getattr(args, name) for name in TRAIN_FLAG_HELP}
    if args.config:
        return TrainConfig.from_yaml(args.config, **flags)
    return TrainConfig.from_dict({k: v for k, v in flags.items() if v is not None})


def _add_train_commands(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model (BiT-HyperRule, MixUp, checkpoints, resume, DDP)",
                           description="Train a model. Run under `torchrun --nproc-per-node N` for several GPUs.")
    _add_training_options(train)
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last.pt")
    train.set_defaults(handler=_cmd_train)
    train_sub = train.add_subparsers(dest="train_command", metavar="COMMAND")
    lr_find = train_sub.add_parser("lr-find", help="learning-rate range test (Smith); writes lr_find.png/json")
    _add_training_options(lr_find)
    lr_find.set_defaults(handler=_cmd_lr_find)

    ev = sub.add_parser("eval", help="top-1/top-5/macro F1 (and year MAE) of a run on a split")
    ev.add_argument("--run", required=True, type=Path, help="run folder")
    ev.add_argument("--split", default="test", choices=["train", "val", "test"])
    ev.add_argument("--checkpoint", default="best", help="best, last or a checkpoint file")
    ev.add_argument("--data", help="prepared data folder (default: the one the run was trained on)")
    ev.add_argument("--embeddings", action="store_true", help="also store embeddings in the predictions file")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument("--retrieval", action="store_true", help="also image-matching quality against --index")
    ev.add_argument("--index", type=Path, help="reference index for --retrieval and the OOD false alarms of "
                    "--conditions (default RUN_DIR/index)")
    ev.add_argument("--conditions", metavar="SPEC", help="instead: metrics per photo condition, e.g. "
                    "museum,field,all:3,fog:1-5 (docs/field_conditions.md); writes RUN/conditions_<split>.json/.md")
    ev.set_defaults(handler=_cmd_eval)


def _add_distill_command(sub: argparse._SubParsersAction) -> None:
    dis = sub.add_parser(
        "distill", help="distil a trained run into a phone-fast student (BatchNorm mobile backbone)",
        description="Knowledge distillation: soft targets, the teacher's year and optionally its embedding. "
        "By default the student takes the teacher's data, architecture, embedding width and input size.")
    dis.add_argument("--teacher", type=Path, help="trained teacher run folder")
    dis.add_argument("--student", default="student_tiny", help="student preset (mocar model presets), "
                     "e.g. student_efficientnet_lite0, student_resnet50; default student_tiny")
    _add_training_options(dis)
    _add_config_flags(dis, DISTILL_FLAG_HELP)
    dis.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a distillation run from its last.pt")
    dis.set_defaults(handler=_cmd_distill)


def _cmd_distill(args: argparse.Namespace) -> int:
    from mocar.train.distill import distill

    if args.resume:
        run = distill(None, args.student, args.resume, resume=True, stop_after=args.stop_after,
                      progress=args.progress)
    else:
        if not args.teacher or not args.out:
            raise MocarError("mocar distill needs --teacher RUN_DIR and --out RUN_DIR (or --resume RUN_DIR)")
        flags = {k: getattr(args, k) for k in [*TRAIN_FLAG_HELP, *DISTILL_FLAG_HELP] if k not in ("preset", "out")}
        run = distill(args.teacher, args.student, args.out, config_file=args.config, **flags)
    print(f"student run folder: {run}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from mocar.train.loop import resume_config
    from mocar.train.trainers import train

    if args.resume:
        run = train(resume_config(args.resume, stop_after=args.stop_after, progress=args.progress), resume=True)
    else:
        run = train(_train_config(args))
    print(f"run folder: {run}")
    return 0


def _cmd_lr_find(args: argparse.Namespace) -> int:
    from mocar.train.trainers import find_lr

    result = find_lr(_train_config(args))
    print(f"suggested base lr: {result.suggested_lr:.4g} (curve: {Path(args.out) / 'lr_find.png'})")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from mocar.train.eval_run import evaluate_run, format_eval

    if args.conditions:
        from mocar.data.conditions import parse_conditions
        from mocar.field.conditions import evaluate_conditions, format_conditions_table

        result = evaluate_conditions(args.run, parse_conditions(args.conditions), args.split, args.data,
                                     args.checkpoint, args.index)
        print(json.dumps(result, indent=2, default=float) if args.json else format_conditions_table(result))
        print(f"written: {args.run / ('conditions_' + args.split + '.json')} (and .md)")
        return 0
    metrics = evaluate_run(args.run, args.split, args.checkpoint, args.data, save_embeddings=args.embeddings)
    if args.json:
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("confusion_matrix",)}, indent=2, default=float))
    else:
        print(format_eval(metrics))
        print(f"written: {args.run / ('eval_' + args.split + '.json')}")
    if args.retrieval:
        from mocar.field import evaluate_retrieval, format_retrieval

        retrieval = evaluate_retrieval(args.run, args.index or args.run / "index", args.split, args.data,
                                       args.checkpoint)
        print(json.dumps(retrieval, indent=2, default=float) if args.json else format_retrieval(retrieval))
    return 0


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="list model presets and show their shapes, parameters and MACs")
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="COMMAND")
    presets = model_sub.add_parser("presets", help="list the named model presets")
    presets.set_defaults(handler=_cmd_model_presets)
    info = model_sub.add_parser("info", help="parameters, MACs, per-block feature shapes and output shapes")
    info.add_argument("preset", help="a preset name (mocar model presets)")
    info.add_argument("--input-size", type=int, default=480)
    info.add_argument("--num-classes", type=int, default=50)
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=_cmd_model_info)


def _cmd_model_presets(args: argparse.Namespace) -> int:
    from mocar.model import PRESETS

    for name in sorted(PRESETS):
        print(f"{name:26s} {PRESETS[name].description}")
    return 0


def _cmd_model_info(args: argparse.Namespace) -> int:
    from mocar.model import format_model_info, model_info

    info = model_info(args.preset, input_size=args.input_size, num_classes=args.num_classes)
    print(json.dumps(info, indent=2, default=str) if args.json else format_model_info(info))
    return 0


def _add_export_commands(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="export a run to ONNX, TFLite and CoreML (fp32/fp16/int8), each validated")
    exp.add_argument("--run", required=True, type=Path, help="training run folder")
    exp.add_argument("--out", required=True, type=Path, help="export folder (files + manifest.json)")
    exp.add_argument("--formats", default="onnx,tflite,coreml", help="comma-separated: onnx,tflite,coreml")
    exp.add_argument("--precisions", default="fp32,fp16,int8", help="comma-separated: fp32,fp16,int8")
    exp.add_argument("--input-size", type=int, help="input side (default: the run's evaluation size)")
    exp.add_argument("--calib-images", type=int, default=300, help="training images for int8 calibration")
    exp.add_argument("--checkpoint", default="best", help="best, last or a checkpoint file")
    exp.add_argument("--data", help="prepared data folder (default: the run's)")
    exp.add_argument("--threads", type=int, default=2, help="threads used when validating")
    exp.add_argument("--strict", action="store_true", help="exit non-zero when any file fails export or parity")
    exp.add_argument("--golden", type=int, metavar="N",
                     help="also write golden vectors of N test images to OUT/golden/ (the Android core's tests)")
    exp.add_argument("--android-assets", type=Path, metavar="DIR",
                     help="also copy the TFLite files and the phone-readable reference index into an app's assets")
    exp.add_argument("--index", type=Path, help="reference index for --golden/--android-assets (default: RUN/index)")
    exp.add_argument("--int8", choices=["default", "auto"], default="default",
                     help="auto: export every int8 variant ONNX and TFLite offer, benchmark them on the export's "
                          "selection images and keep, per runtime, the fastest that meets --policy; where none "
                          "does, search which layer groups to keep float (mocar quantize search)")
    exp.add_argument("--min-speedup", type=float, metavar="X",
                     help="with --int8 auto: refuse int8 files less than X times faster than fp32 (e.g. 1.1)")
    exp.add_argument("--selection-images", type=int, metavar="N",
                     help="train images outside calibration on which int8 files are chosen (default: half of "
                          "the rest, at most 1000); mocar bench leaves them out of its parity set")
    exp.add_argument("--policy", type=Path, help="parity policy YAML for --int8 auto (default: the packaged one)")
    exp.add_argument("--onnx-int8", metavar="LIST",
                     help="ONNX int8 recipes, comma-separated (default u8s8_conv; also u8s8_conv_pct, u8s8_all, "
                          "s8s8_all)")
    exp.add_argument("--tflite-int8", metavar="LIST",
                     help="TFLite int8 flavours, comma-separated (default dynamic_range,integer_quant,"
                          "full_integer_quant; also integer_quant_float_norm)")
    exp.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from mocar.export.run import export_run, failure_summary, format_manifest_table
    from mocar.quantize.request import request_from_flags

    if args.int8 == "auto":
        return _cmd_export_int8_auto(args)
    if args.min_speedup is not None:
        raise MocarError("--min-speedup applies to --int8 auto only")
    int8 = request_from_flags(args.onnx_int8, args.tflite_int8)
    manifest = export_run(args.run, args.out, formats=_csv(args.formats), precisions=_csv(args.precisions),
                          input_size=args.input_size, calib_images=args.calib_images, checkpoint=args.checkpoint,
                          strict=False, data=args.data, threads=args.threads, int8=int8,
                          selection_images=args.selection_images)
    print(format_manifest_table(manifest))
    _write_phone_files(args)
    failure = failure_summary(manifest) if args.strict else None
    if failure:
        print(f"mocar: export check failed: {failure}", file=sys.stderr)
        return 1
    return 0


def _cmd_export_int8_auto(args: argparse.Namespace) -> int:
    from mocar.bench.int8_select import refuse_auto_conflicts, select_int8
    from mocar.quantize.request import OFFERED, request_from_flags
    from mocar.quantize.select import format_selection

    refuse_auto_conflicts(args.formats != "onnx,tflite,coreml", args.precisions != "fp32,fp16,int8",
                          args.checkpoint, args.strict)
    candidates = request_from_flags(args.onnx_int8, args.tflite_int8, unset=OFFERED)
    selections = select_int8(args.run, args.out, data_dir=args.data, policy=args.policy, threads=(args.threads,),
                             calib_images=args.calib_images, input_size=args.input_size, prune=True,
                             min_speedup=args.min_speedup, selection_images=args.selection_images,
                             candidates={"onnx": candidates.onnx, "tflite": candidates.tflite})
    print(format_selection(selections))
    _write_phone_files(args)
    return 0


def _write_phone_files(args: argparse.Namespace) -> None:
    """``--golden`` and ``--android-assets``: what the Android app and its core's tests need."""
    from mocar.mobile.android_assets import run_index_dir, write_android_assets
    from mocar.mobile.golden import write_export_goldens

    if args.golden is not None:  # --golden 0 reaches write_golden's own "count must be >= 1" error
        for folder in write_export_goldens(args.out, args.golden, args.run, args.data, args.index):
            print(f"golden vectors: {folder}")
    if args.android_assets:
        index_dir = args.index or run_index_dir(args.run)
        written = write_android_assets(args.out, args.android_assets, index_dir)
        skipped = "" if index_dir else f" (models only: {args.run}/index not found, no reference index bundled)"
        print(f"android assets: {len(written)} files in {args.android_assets}{skipped}")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _add_field_commands(sub: argparse._SubParsersAction) -> None:
    from mocar.field.index import DEFAULT_RERANK_CANDIDATES

    index = sub.add_parser("index", help="reference index of known objects for image matching")
    index_sub = index.add_subparsers(dest="index_command", required=True, metavar="COMMAND")
    build = index_sub.add_parser("build", help="embed every reference object of a split into a compact index")
    build.add_argument("--run", required=True, type=Path, help="training run folder")
    build.add_argument("--data", help="prepared data folder (default: the run's)")
    build.add_argument("--split", default="train", help="split whose objects become references (default train)")
    build.add_argument("--dims", type=int, help="reduce embeddings to this many PCA dimensions")
    build.add_argument("--dtype", default="float16", choices=["float16", "int8"], help="stored embedding type")
    build.add_argument("--rerank", choices=["float16", "int8", "float32"],
                       help="also store the full embeddings (this type, read from storage per query) and re-rank "
                            "the compact search's best candidates with them")
    build.add_argument("--rerank-candidates", type=int,
                       help=f"candidates the re-rank re-scores (with --rerank; default {DEFAULT_RERANK_CANDIDATES})")
    build.add_argument("--out", type=Path, help="index folder (default RUN_DIR/index)")
    build.set_defaults(handler=_cmd_index_build)

    cal = sub.add_parser("calibrate", help="conformal prediction sets, year intervals and the OOD threshold (val split)")
    cal.add_argument("--run", required=True, type=Path, help="training run folder")
    cal.add_argument("--data", help="prepared data folder (default: the run's)")
    cal.add_argument("--method", default="aps", choices=["aps", "raps"])
    cal.add_argument("--condition", default="museum", choices=["museum", "field"],
                     help="photos to calibrate on; field: the val split's field photos, written to "
                          "calibration_field.json (the museum calibration.json is kept)")
    cal.add_argument("--field-images", type=int, metavar="N",
                     help="with --condition field: calibrate on N of them (a seeded draw; default all)")
    cal.add_argument("--seed", type=int, default=0, help="seed of the --field-images draw")
    cal.set_defaults(handler=_cmd_calibrate)

    pred = sub.add_parser("predict", help="top-5, prediction set, year interval, nearest references, warnings")
    pred.add_argument("images", nargs="+", type=Path, help="photos to identify")
    source = pred.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="training run folder (float PyTorch model)")
    source.add_argument("--model", type=Path, help="an exported model file (.onnx, .tflite, .mlpackage)")
    pred.add_argument("--index", type=Path, help="reference index (mocar index build)")
    pred.add_argument("--calibration", type=Path, help="calibration.json (default: the run's / the file's metadata)")
    pred.add_argument("--condition", choices=["museum", "field"], default="museum",
                      help="field: use the run's calibration_field.json (mocar calibrate --condition field), whose "
                           "sets and intervals keep their coverage on phone photos (default museum)")
    pred.add_argument("-k", type=int, default=5, help="number of nearest references")
    pred.add_argument("--json", action="store_true", help="print the answers as JSON")
    pred.set_defaults(handler=_cmd_predict)


def _cmd_index_build(args: argparse.Namespace) -> int:
    from mocar.field import build_index

    from mocar.field.index import DEFAULT_RERANK_CANDIDATES

    if args.rerank_candidates is not None and args.rerank is None:
        raise MocarError("--rerank-candidates needs --rerank (the type of the stored full embeddings)")
    candidates = DEFAULT_RERANK_CANDIDATES if args.rerank_candidates is None else args.rerank_candidates
    path = build_index(args.run, args.data, split=args.split, out=args.out, dims=args.dims, dtype=args.dtype,
                       rerank=args.rerank, rerank_candidates=candidates, progress=True)
    print(f"reference index: {path}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from mocar.field import calibrate_run, format_calibration
    from mocar.field.calibrate import calibration_file

    if args.field_images is not None and args.condition != "field":
        raise MocarError("--field-images needs --condition field")
    print(format_calibration(calibrate_run(args.run, args.data, method=args.method, condition=args.condition,
                                           max_images=args.field_images, seed=args.seed)))
    print(f"written: {args.run / calibration_file(args.condition)}")
    return 0


def _prediction_calibration(args: argparse.Namespace) -> Path | None:
    """``--calibration``, or for ``--condition field`` the run's field calibration (which must exist)."""
    if args.condition != "field":
        return args.calibration
    from mocar.field.calibrate import calibration_file

    if args.calibration is not None or args.model is not None:
        raise InputError("--condition field picks RUN/" + calibration_file("field") + " and needs --run without "
                         "--calibration; for an exported file pass --calibration RUN/" + calibration_file("field"))
    path = args.run / calibration_file("field")
    if not path.is_file():
        raise InputError(f"no {path}: run `mocar calibrate --run {args.run} --condition field` on labelled field photos first")
    return path


def _cmd_predict(args: argparse.Namespace) -> int:
    from mocar.field import format_prediction, predict_images

    answers = predict_images(args.images, run_dir=args.run, model_file=args.model, index_dir=args.index, k=args.k,
                             calibration_file=_prediction_calibration(args))
    if args.json:
        print(json.dumps(answers, indent=2, ensure_ascii=False, default=float))
    else:
        print("\n\n".join(format_prediction(a) for a in answers))
    return 0


def _add_bench_command(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="parity, latency and size of every export vs the float model; CI gate")
    bench.add_argument("--exports", required=True, type=Path, nargs="+", metavar="DIR",
                       help="export folder(s) (mocar export --out); several are benchmarked side by side, "
                            "the first one is the baseline of the 'vs 1st' columns")
    bench.add_argument("--data", help="prepared data folder (default: the run's)")
    bench.add_argument("--split", choices=["train", "val", "test", "parity"],
                       help="labelled split of the accuracy figures (top-1, Δtop-1, ΔMAE); default test; 'parity': "
                            "the parity images themselves (labelled prepared images, some seen in training)")
    bench.add_argument("--parity-images", type=int, metavar="N",
                       help="agreement/PSNR/cosine/overlap on a seeded sample of N images (default: every prepared "
                            "image outside calibration and int8 selection)")
    bench.add_argument("--parity-dir", type=Path, metavar="DIR",
                       help="agreement/PSNR/cosine/overlap on the photos of DIR instead (no labels needed)")
    bench.add_argument("--conditions", metavar="SPEC",
                       help="also measure every file under photo conditions, e.g. museum,field,all:3 or "
                            "gaussian_noise:1-5 (field needs prepared field photos: mocar data synth --field)")
    bench.add_argument("--condition-images", type=int, metavar="N",
                       help="with --conditions: at most N parity images per condition (seeded sample)")
    bench.add_argument("--threads", default="1,2", help="thread counts to time, e.g. 1,2")
    bench.add_argument("--runs", type=int, default=50, help="timed batch-1 runs per file and thread count")
    bench.add_argument("--warmup", type=int, default=5)
    bench.add_argument("--policy", type=Path, help="parity policy YAML (default: mocar/runtime/default_policy.yaml)")
    bench.add_argument("--check", action="store_true", help="exit 1 when an export violates the policy; writes junit.xml")
    bench.add_argument("--out", type=Path, help="report folder (default EXPORTS/bench, of the first folder)")
    bench.add_argument("--import", dest="imports", type=Path, nargs="+", default=[], metavar="JSON",
                       help="rows measured elsewhere (e.g. a phone) to merge in; schema: docs/bench_rows.md")
    bench.add_argument("--select", action="store_true",
                       help="int8 auto-selection: per runtime, the fastest int8 file (at the largest --threads) that "
                            "meets the policy; writes int8_selection.json/.md (default out EXPORTS/int8_selection)")
    bench.add_argument("--min-speedup", type=float, help="with --select: also require int8 >= this x fp32 speed")
    bench.add_argument("--no-memory", action="store_true", help="skip the per-file peak-RSS child processes")
    bench.add_argument("--android", nargs="?", const="", metavar="SERIAL",
                       help="also run every .tflite on a phone with adb + LiteRT benchmark_model (SERIAL optional "
                            "with one device); rows join the report; see docs/android_bench.md")
    bench.add_argument("--benchmark-binary", type=Path, metavar="PATH", help="with --android: benchmark_model binary")
    bench.add_argument("--adb", default="adb", help="with --android: adb executable (default: adb on PATH)")
    bench.add_argument("--android-gpu", action="store_true", help="with --android: also run with --use_gpu=true")
    bench.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from mocar.runtime.errors import PolicyViolation
    from mocar.bench.report import verdict_summary
    from mocar.bench.suite import format_bench_table, run
    from mocar.data.conditions import parse_conditions

    threads = tuple(int(t) for t in _csv(args.threads))
    if args.select:
        return _cmd_bench_select(args, threads)
    try:
        result = run(args.exports, args.data, _labelled_split(args.split, "test"), threads, args.runs, args.warmup,
                     args.policy, args.out, check=args.check, imports=args.imports, memory=not args.no_memory,
                     android=_android_config(args, threads), parity_images=args.parity_images,
                     parity_dir=args.parity_dir, conditions=parse_conditions(args.conditions) if args.conditions else (),
                     condition_images=args.condition_images)
    except PolicyViolation as err:
        print(f"mocar: parity policy violated:\n{err}", file=sys.stderr)
        return 1
    print(format_bench_table(result["rows"]))
    print(verdict_summary(result["verdicts"]))
    print(f"report: {Path(result['out']) / 'report.md'} and report.html")
    return 0


def _labelled_split(choice: str | None, default: str) -> str | None:
    """``--split``: a split name, or ``parity`` (None: the accuracy figures use the parity images)."""
    choice = choice or default
    return None if choice == "parity" else choice


def _android_config(args: argparse.Namespace, threads: tuple[int, ...]):
    from mocar.bench.android import AndroidBenchConfig

    if args.android is None:
        return None
    if args.benchmark_binary is None:
        raise MocarError("--android needs --benchmark-binary PATH (LiteRT's benchmark_model for the phone)")
    return AndroidBenchConfig(args.benchmark_binary, args.android or None, args.adb, threads, args.runs, args.warmup,
                              args.android_gpu)


def _cmd_bench_select(args: argparse.Namespace, threads: tuple[int, ...]) -> int:
    from mocar.bench.int8_select import select_int8_exports
    from mocar.quantize.select import format_selection

    if (len(args.exports) != 1 or args.imports or args.check or args.android is not None
            or args.parity_images is not None or args.parity_dir is not None):
        raise MocarError("--select takes one export folder (it chooses on the folder's selection images) and no "
                         "--import/--check/--android/--parity-images/--parity-dir")
    selections = select_int8_exports(args.exports[0], args.data, args.policy, threads, args.runs, args.warmup,
                                     args.out, args.min_speedup, split=_labelled_split(args.split, "parity"))
    print(format_selection(selections))
    return 0


def _add_quantize_commands(sub: argparse._SubParsersAction) -> None:
    quantize = sub.add_parser("quantize", help="accuracy-aware int8: which layers hurt, which to keep float")
    quantize_sub = quantize.add_subparsers(dest="quantize_command", required=True, metavar="COMMAND")
    search = quantize_sub.add_parser(
        "search", help="rank layer groups by harm, keep the harmful ones float until the int8 file meets the "
                       "policy's agreement on the export's selection images; the fastest such file joins the folder")
    search.add_argument("--exports", required=True, type=Path, metavar="DIR", help="export folder (mocar export --out)")
    search.add_argument("--runtimes", default="onnx,tflite", help="comma-separated: onnx, tflite (default both)")
    search.add_argument("--policy", type=Path, help="parity policy YAML whose int8 agreement bound is the target")
    search.add_argument("--threads", type=int, default=1, help="threads when timing candidates (default 1)")
    search.add_argument("--budget-s", type=float, default=300.0,
                        help="seconds per runtime, ranking included (at most half of it; default 300)")
    search.add_argument("--rank-images", type=int, default=256,
                        help="selection images that rank the layer groups, spread over the set (default 256; 0: all)")
    search.add_argument("--sqnr-images", type=int,
                        help="images for the ONNX debugger's per-layer SQNR column (default 32, a few at a time; "
                             "0 skips it)")
    search.add_argument("--min-speedup", type=float, help="only keep files at least this many times faster than fp32")
    search.add_argument("--criterion", choices=["lower", "point"], default="lower",
                        help="lower (default): the agreement's Wilson lower bound (--confidence) must meet the "
                             "target; point: the estimate itself (keeps fewer layers float, holds less often on new "
                             "images)")
    search.add_argument("--confidence", type=float, default=0.8,
                        help="two-sided confidence of that lower bound (default 0.8: 9 in 10 chosen files truly "
                             "meet the target)")
    search.add_argument("--onnx-flavour", default="u8s8_conv",
                        help="ONNX recipe to start from: u8s8_conv (MinMax, default) or u8s8_conv_pct (percentile "
                             "calibration; within noise of MinMax on the demo), u8s8_all, s8s8_all")
    search.add_argument("--data", help="prepared data folder (default: the run's)")
    search.set_defaults(handler=_cmd_quantize_search)


def _cmd_quantize_search(args: argparse.Namespace) -> int:
    from mocar.bench.int8_search import search_export

    results = search_export(args.exports, tuple(_csv(args.runtimes)), args.policy, args.threads, args.budget_s,
                            args.min_speedup, args.data, progress=True, criterion=args.criterion,
                            confidence=args.confidence, onnx_flavour=args.onnx_flavour,
                            rank_images=args.rank_images or None, sqnr_images=args.sqnr_images)
    for runtime, result in results.items():
        print(f"{runtime}: {result.reason}")
    print(f"details: {args.exports / 'int8_search'}/<runtime>.md; the chosen files are listed in manifest.json")
    return 0


def _add_demo_command(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="run the whole pipeline on the built-in demo museum")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    demo.add_argument("--objects", type=int, default=2000)
    demo.add_argument("--source-image-size", type=int, default=128, help="side of the generated photos (default 128)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-field-photos", dest="field_photos", action="store_false",
                      help="skip the phone photos of the same objects and the museum-vs-field measurements")
    demo.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from mocar.pipeline import DemoConfig, run_demo

    run_demo(DemoConfig(out=str(args.out), objects=args.objects, source_image_size=args.source_image_size, seed=args.seed,
                        field_photos=args.field_photos))
    return 0


def _add_web_commands(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", help="an offline web app (PWA) and device benchmark page for phones' browsers")
    web_sub = web.add_subparsers(dest="web_command", required=True, metavar="COMMAND")
    build = web_sub.add_parser("build", help="write a self-contained static site from an export folder's ONNX files")
    build.add_argument("--export", type=Path, required=True, help="a `mocar export` folder with .onnx files")
    build.add_argument("--index", type=Path, help="reference index (default: the export's run's index/)")
    build.add_argument("--data", type=Path, help="prepared data for the golden vectors (default: the run's)")
    build.add_argument("--golden", type=int, default=4, help="golden test images per file (0: none; default 4)")
    build.add_argument("--app-model", help="the ONNX file the app answers with (default: the fp32 one)")
    build.add_argument("--out", type=Path, required=True, help="site folder to write")
    build.set_defaults(handler=_cmd_web_build)
    serve = web_sub.add_parser("serve", help="serve a built site (COOP/COEP) and receive benchmark rows")
    serve.add_argument("site", type=Path, help="the folder `mocar web build` wrote")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.set_defaults(handler=_cmd_web_serve)


def _cmd_web_build(args: argparse.Namespace) -> int:
    from mocar.mobile.web import build_site

    site = build_site(args.export, args.out, index_dir=args.index, data_dir=args.data, golden_count=args.golden,
                      app_file=args.app_model)
    print(f"wrote {site.out}: {len(site.files)} files, {site.total_bytes / 1e6:.1f} MB; the app answers with "
          f"{site.app_model}. Serve it: mocar web serve {site.out}")
    return 0


def _cmd_web_serve(args: argparse.Namespace) -> int:
    from mocar.mobile.web_server import make_server

    server = make_server(args.site, args.host, args.port)
    url = f"http://{args.host}:{server.server_port}/"
    print(f"serving {args.site} at {url} (benchmark: {url}bench.html); rows posted there land in "
          f"{args.site / 'bench_rows'}; Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_data_commands,
    _add_model_commands,
    _add_train_commands,
    _add_export_commands,
    _add_field_commands,
    _add_distill_command,
    _add_bench_command,
    _add_quantize_commands,
    _add_demo_command,
    _add_web_commands,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mocar",
        description="Identify archaeological objects (collection and year) from a photo: "
        "prepare data, train, export and benchmark mobile models.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMAND_GROUPS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except MocarError as err:
        print(f"mocar: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mocar: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
