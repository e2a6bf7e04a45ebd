"""Sub-command `report`: an experiment folder's report.html and report.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from focusgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write report.html and report.md for an experiment folder")
    p.add_argument("dir", type=Path, help="the experiment's output folder")
    p.add_argument(
        "--hist-n",
        type=int,
        default=256,
        help="generated samples per run for the foreground-fraction histogram (256)",
    )
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise UserError(f"experiment folder not found: {args.dir}")
    from focusgan.experiment.runner import write_report_samples
    from focusgan.report.report import write_report

    write_report_samples(args.dir, args.hist_n)  # sampling happens in the experiment
    paths = write_report(args.dir, args.hist_n)
    for line in paths["verdicts"]:
        print(line)
    print(f"wrote {paths['md']}")
    print(f"wrote {paths['html']}")
    return 0
