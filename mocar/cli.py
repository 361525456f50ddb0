"""The `mocar` command line: thin argument parsing over library functions that are also the API.

Heavy imports (torch, timm) happen inside the handlers so ``mocar --help`` and the data commands
start fast.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mocar.errors import MocarError


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="build the demo museum and prepare a museum export for training")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    synth = data_sub.add_parser("synth", help="generate the built-in demo museum (images + export CSV)")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    synth.add_argument("--objects", type=int, default=2000, help="number of objects (default 2000)")
    synth.add_argument("--image-size", type=int, default=128, help="image side in pixels (default 128)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--no-broken", action="store_true", help="do not add deliberately broken rows/images")
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

    summary = synthesize_museum(args.out, n_objects=args.objects, image_size=args.image_size,
                                seed=args.seed, broken=not args.no_broken)
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


def _add_demo_command(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="run the whole pipeline on the built-in demo museum")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    demo.add_argument("--objects", type=int, default=2000)
    demo.add_argument("--image-size", type=int, default=128)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from mocar.pipeline import DemoConfig, run_demo

    run_demo(DemoConfig(out=str(args.out), objects=args.objects, image_size=args.image_size, seed=args.seed))
    return 0


COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_data_commands,
    _add_demo_command,
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
