"""Parsers generated from the jobs' options dataclasses (`focusgan.utils.options`).

`add_options(parser, Cls)` adds one argument per option of `Cls` (nested option dataclasses
flattened, each in its `group`), and `from_args(Cls, args)` builds the dataclass back from the
parsed arguments, so a new option is one field in the library and nothing here.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from typing import Any

from focusgan.utils.options import Option, build, check_choice, options_of


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    defaults: dict[str, Any] | None = None,
    skip: tuple[str, ...] = (),
    title: str | None = None,
) -> None:
    """Add the options of `cls` to `parser`; `defaults` replaces some shown defaults (e.g. None
    for "the preset's"), `skip` leaves some out, `title` puts the ungrouped ones in a group."""
    groups: dict[str | None, Any] = {}
    for o in options_of(cls):
        if o.name in skip:
            continue
        title_of = o.meta.get("group") or title
        if title_of not in groups:
            groups[title_of] = parser.add_argument_group(title_of) if title_of else parser
        _add(groups[title_of], o, (defaults or {}).get(o.name, o.default))


def _add(target: Any, o: Option, default: Any) -> None:
    kwargs: dict[str, Any] = {"help": _help(o, default)}
    if o.is_bool:
        kwargs["action"] = "store_false" if o.default is True else "store_true"
        target.add_argument(o.flag, dest=o.name, **kwargs)
        return
    kwargs["type"] = str if "convert" in o.meta else o.base  # converted by `from_args`
    if o.meta.get("metavar"):
        kwargs["metavar"] = o.meta["metavar"]
    if o.meta.get("choices") is not None and "convert" not in o.meta:
        kwargs["choices"] = o.meta["choices"]
    if o.is_list and "convert" not in o.meta:
        kwargs["nargs"] = "+"
    if o.meta.get("positional"):
        if not o.required:
            kwargs["nargs"] = "?"
        target.add_argument(o.name, default=None if default is MISSING else default, **kwargs)
        return
    if o.required:
        kwargs["required"] = True
    else:
        kwargs["default"] = default
    target.add_argument(o.flag, dest=o.name, **kwargs)


def _help(o: Option, default: Any) -> str:
    text = o.meta.get("help", "")
    if o.is_bool or default is MISSING or "(default" in text or default is None:
        return text
    shown = f"{default:g}" if isinstance(default, float) else default
    if isinstance(default, (list, tuple)):
        shown = ",".join(map(str, default))
    return f"{text} (default {shown})" if text else f"default {shown}"


def from_args(cls: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """The `cls` the parsed arguments describe; `None` values keep the dataclass's defaults.

    `fixed` sets some fields directly (values the command computes itself)."""
    values = {}
    for o in options_of(cls):
        value = getattr(args, o.name, None)
        if value is None:
            continue
        if "convert" in o.meta:
            value = o.convert(value)  # its one-line UserError, with the command's name
        check_choice(o, value, f"--{o.name.replace('_', '-')}")
        values[o.name] = value
    return build(cls, {**values, **fixed})
