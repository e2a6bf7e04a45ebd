"""Sub-commands `export` (a run's EMA generator as safetensors, to share) and
`convert-checkpoint` (a checkpoint of an earlier version, unpickled once by whoever trusts it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from focusgan.errors import UserError
from focusgan.training import TRUST_FLAG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a run's EMA generator as a .safetensors file to share "
        "(`sample` and `evaluate` take it in place of the run)",
    )
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, required=True, help="the file to write (NAME.safetensors)")
    p.add_argument("--checkpoint", default="latest", help="latest, a step number, or a .pt path")
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "convert-checkpoint",
        help="rewrite checkpoints of an earlier focusgan (pickled NumPy RNG state) so that this "
        "version opens them; unpickling can run code, hence " + TRUST_FLAG,
    )
    p.add_argument(
        "checkpoints",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="checkpoint files (.pt), or run directories (all their checkpoints)",
    )
    p.add_argument(
        TRUST_FLAG,
        dest="trust_pickle",
        action="store_true",
        help="I trust where these files came from: unpickle them (this can run code they hold)",
    )
    p.set_defaults(func=_convert)


def _export(args: argparse.Namespace) -> int:
    from focusgan.training.export import export_generator
    from focusgan.training.rundir import RunDir

    out, step = export_generator(RunDir(args.run).checkpoint(args.checkpoint), args.out)
    print(f"wrote the EMA generator of {args.run} (step {step}) to {out}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from focusgan.training.checkpoint import convert
    from focusgan.training.rundir import RunDir

    files = []
    for path in args.checkpoints:  # a run directory: all of its checkpoints
        files += sorted(RunDir(path).checkpoints.glob("*.pt")) if path.is_dir() else [path]
    if not files:
        raise UserError(f"no checkpoints in {', '.join(map(str, args.checkpoints))}")
    for path in files:
        done = convert(path, trust_pickle=args.trust_pickle)
        print(f"converted {path}" if done else f"{path} is in the current form already")
    return 0
