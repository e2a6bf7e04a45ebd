"""Sub-commands about dataset files: `prepare coco|pairs|video`, `merge`, `inspect`.

The options of each source are its options dataclass's fields (`CocoOptions`, `PairOptions`,
`VideoOptions`), plus how the job runs (`RunOptions`) and the classifier filter
(`ClassifierOptions`): a new option is a field there, and it appears here by itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from focusgan.cli.options import add_options, from_args
from focusgan.errors import UserError


def _sources() -> dict[str, tuple[type, str]]:
    """source -> (its options dataclass, help)."""
    from focusgan.prepare.coco import CocoOptions
    from focusgan.prepare.pairs import PairOptions
    from focusgan.prepare.video import VideoOptions

    return {
        "coco": (CocoOptions, "one sample per COCO object instance (mask = focus)"),
        "pairs": (PairOptions, "samples from folders of images and foreground masks"),
        "video": (VideoOptions, "samples from videos, the focus channel from motion"),
    }


def register(sub: argparse._SubParsersAction) -> None:
    from focusgan.prepare.classifier import ClassifierOptions
    from focusgan.prepare.pipeline import RunOptions

    p = sub.add_parser("prepare", help="make a dataset file from COCO, videos or image+mask pairs")
    sources = p.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(p))
    sources.required = True
    for name, (cls, help) in _sources().items():
        s = sources.add_parser(name, help=help)
        s.add_argument("--out", type=Path, required=True, help="dataset file to write (.h5)")
        add_options(s, cls)
        add_options(s, RunOptions)
        add_options(s, ClassifierOptions, title="classifier filter")
        s.set_defaults(func=_prepare)

    p = sub.add_parser("merge", help="concatenate dataset files (e.g. shards) into one")
    p.add_argument("inputs", nargs="+", type=Path, help="dataset files to merge, in order")
    p.add_argument("--out", type=Path, required=True, help="the merged dataset file to write")
    p.set_defaults(func=_merge)

    p = sub.add_parser(
        "inspect", help="summarise a dataset file, a run directory or an exported generator"
    )
    p.add_argument(
        "path",
        type=Path,
        help="a dataset file (.h5), a run directory or a generator (.safetensors)",
    )
    p.add_argument(
        "--grid",
        type=Path,
        default=None,
        help="where to save a sample grid (default: PATH.inspect.png next to a dataset)",
    )
    p.add_argument("--n", type=int, default=64, help="samples in the grid (default 64)")
    p.add_argument("--seed", type=int, default=0, help="which random samples go in the grid")
    p.set_defaults(func=_inspect)


def _prepare(args: argparse.Namespace) -> int:
    from focusgan.prepare.classifier import ClassifierOptions, make_classifier
    from focusgan.prepare.pipeline import RunOptions, prepare

    cls, _ = _sources()[args.source]
    report = prepare(
        from_args(cls, args),
        args.out,
        run=from_args(RunOptions, args),
        classifier=make_classifier(from_args(ClassifierOptions, args)),
    )
    for line in report.lines():
        print(line)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from focusgan.data.dataset import merge, read_info

    if args.out.resolve() in {p.resolve() for p in args.inputs}:
        raise UserError(f"--out {args.out} is one of the inputs; choose a new file name")
    out = merge(args.inputs, args.out)
    info = read_info(out)
    print(f"wrote {out}: {info.size} samples from {len(args.inputs)} files")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    if args.path.is_dir() or args.path.suffix == ".safetensors":
        from focusgan.training.rundir import describe_generator, describe_run

        describe = describe_run if args.path.is_dir() else describe_generator
        print(describe(args.path))
        return 0
    from focusgan.data.describe import describe_dataset

    for line in describe_dataset(args.path, grid_path=args.grid, n=args.n, seed=args.seed):
        print(line)
    return 0
