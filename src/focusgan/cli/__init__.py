"""The `focusgan` command line: one program, one sub-command per job (DESIGN section 1).

This package is the only place that sees the command line: each module of `COMMAND_MODULES`
registers its sub-commands (`register(subparsers)`), and each command is a thin function from
the parsed arguments to a library call. Options that a library job takes are the fields of its
options dataclass, and the parser is generated from them (`focusgan.cli.options`). Exit status: 0 success, 1 failure
during work, 2 bad usage or bad input; user errors print one line, `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from focusgan import __version__
from focusgan.errors import UserError, WorkError

COMMAND_MODULES = (
    "focusgan.cli.prepare",  # prepare, merge, inspect
    "focusgan.cli.train",  # train, sample
    "focusgan.cli.export",  # export, convert-checkpoint
    "focusgan.cli.evaluate",  # evaluate
    "focusgan.cli.demo",  # demo
    "focusgan.cli.video",  # segment, bench-motion
    "focusgan.cli.experiment",  # experiment
    "focusgan.cli.report",  # report
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, as argparse does, plus a hint
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="focusgan", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"focusgan {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
        return int(result or 0)
    except (UserError, WorkError) as e:
        if args.debug:
            raise
        print(f"focusgan {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"focusgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
