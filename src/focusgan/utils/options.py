"""Options defined once: dataclass fields that carry their help, flag and rules.

Every job (prepare per source, the segmenter, training, evaluation) takes a dataclass of
options. Each field is declared with `option(default, help, ...)`, so its type, default and help
live in one place; the command line (`focusgan.cli.options`) generates its parser from the
fields, and an experiment file's recipe is read into the same dataclass by `from_mapping`. A
field whose type is another options dataclass is flattened: its fields are options of the job
too (e.g. the frame filter of `prepare pairs`), with that nested default's values as defaults.

Field metadata (all optional):
- `help`: the one-line help;
- `flag`: the long flag (default `--name-with-dashes`); for a bool defaulting to True the flag
  turns it off (default `--no-name`), for one defaulting to False it turns it on;
- `choices`, `metavar`; `positional=True` for a positional argument;
- `convert`: a function from the text (or YAML value) to the field's value, e.g. "0/4" -> (0, 4),
  and `show` its inverse for `to_flags`;
- `cli=False`: a setting of the library only, not an option;
- `positive=True`: must be > 0 when set (checked by `check_positive`);
- `resume`: what `--resume` does with it: "identity" (must match the run), "new" (taken from
  the new command), or absent (the run's saved value is kept).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field
from pathlib import Path
from typing import Any

from focusgan.errors import UserError


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    **meta: Any,
) -> Any:
    """A dataclass field with its help and command-line rules in the metadata (see above)."""
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"help": help, **meta}
    )


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a job as the command line and recipes see it (after flattening)."""

    name: str  # the field's name (also the YAML key and argparse dest)
    path: tuple[str, ...]  # field names from the top dataclass down to this one
    type: Any  # the resolved annotation, e.g. int, float | None, list[str] | None
    default: Any  # MISSING when required
    meta: dict

    @property
    def base(self) -> type:
        """The scalar type: `int` for `int | None` and for `list[int] | None`."""
        t = _strip_none(self.type)
        if typing.get_origin(t) in (list, tuple):
            args = [a for a in typing.get_args(t) if a is not Ellipsis]
            return args[0] if args else str
        return t

    @property
    def is_list(self) -> bool:
        return typing.get_origin(_strip_none(self.type)) is list

    @property
    def is_bool(self) -> bool:
        return _strip_none(self.type) is bool

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def flag(self) -> str:
        if "flag" in self.meta:
            return self.meta["flag"]
        if self.is_bool and self.default is True:
            return "--no-" + self.name.replace("_", "-")
        return "--" + self.name.replace("_", "-")

    @property
    def keys(self) -> tuple[str, ...]:
        """The names a recipe may use: the field's, and its flag's (`no_reduced_decode`)."""
        alias = self.flag.lstrip("-").replace("-", "_")
        return (self.name,) if alias == self.name else (self.name, alias)

    def convert(self, value: Any) -> Any:
        """A text or YAML value as the field's value (lists item by item)."""
        if "convert" in self.meta:
            return self.meta["convert"](value)
        if self.is_list:
            items = value if isinstance(value, (list, tuple)) else [value]
            return [self._scalar(v) for v in items]
        return self._scalar(value)

    def _scalar(self, value: Any) -> Any:
        """One value as the option's type, converted from its text as the command line does
        (a recipe's `32.5` is no `int`, and `true` is no number)."""
        base = self.base
        if isinstance(value, bool) and base is not bool:
            raise ValueError(f"{value!r} for a {getattr(base, '__name__', base)}")
        if base is Any or (isinstance(base, type) and isinstance(value, base)):
            return value
        return base(str(value))


def _strip_none(t: Any) -> Any:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0] if len(args) == 1 else t
    return t


def is_options(t: Any) -> bool:
    return isinstance(t, type) and dataclasses.is_dataclass(t)


def options_of(
    cls: type, default: Any = None, path: tuple[str, ...] = (), group: str | None = None
) -> Iterator[Option]:
    """The options of a dataclass, nested option dataclasses flattened, in field order.

    `default` is an instance whose values serve as defaults (for a nested field's default);
    a nested field's `group` metadata titles its options' group in `--help`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True) or not f.init:
            continue
        t = hints[f.name]
        value = _field_default(f) if default is None else getattr(default, f.name)
        if is_options(t):
            inner = value if value is not MISSING else None
            yield from options_of(t, inner, (*path, f.name), f.metadata.get("group", group))
        else:
            meta = {"group": group, **f.metadata} if group else dict(f.metadata)
            yield Option(f.name, (*path, f.name), t, value, meta)


def _field_default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def build(cls: type, values: dict[str, Any]) -> Any:
    """An instance of `cls` from flat `values` (option name -> value); unset options keep
    their defaults, nested dataclasses included."""
    return _build(cls, values, None)


def _build(cls: type, values: dict[str, Any], default: Any) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        t = hints[f.name]
        if is_options(t) and f.metadata.get("cli", True):
            inner = _field_default(f) if default is None else getattr(default, f.name)
            kwargs[f.name] = _build(t, values, None if inner is MISSING else inner)
        elif f.name in values:
            kwargs[f.name] = values[f.name]
        elif default is not None:
            kwargs[f.name] = getattr(default, f.name)
    return cls(**kwargs)


def from_mapping(
    cls: type, mapping: dict[str, Any], where: str, base_dir: str | Path | None = None
) -> Any:
    """An instance of `cls` from a recipe (YAML keys = option names or their flags' names).

    Values are converted as on the command line; `None` keeps the default; a bool flag given as
    `true` sets the value its flag sets. `Path` options are taken relative to `base_dir`.
    Unknown keys and values that do not convert are one-line `UserError`s naming `where`.
    """
    by_key = {k: o for o in options_of(cls) for k in o.keys}
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        o = by_key.get(key)
        if o is None:
            known = sorted({o.keys[-1] for o in by_key.values()})
            raise UserError(f"{where} has no option --{key.replace('_', '-')}; known: {known}")
        if value is None:
            continue
        if o.is_bool:
            if not isinstance(value, bool):
                raise UserError(f"{where}: {key} is true or false, not {value!r}")
            # `no_x: true` and `x: false` both turn x off
            value = value if key == o.name else (not o.default if value else o.default)
        else:
            try:
                value = o.convert(value)
            except (TypeError, ValueError):
                raise UserError(f"{where}: {key} cannot be {value!r}") from None
            if base_dir is not None and o.base is Path:
                value = _resolve(base_dir, value)
        check_choice(o, value, where)
        values[o.name] = value
    missing = [o.name for o in options_of(cls) if o.required and o.name not in values]
    if missing:
        raise UserError(f"{where} needs {', '.join(missing)}")
    return build(cls, values)


def _resolve(base: str | Path, value: Any) -> Any:
    if isinstance(value, list):
        return [_resolve(base, v) for v in value]
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(base) / path


def check_choice(o: Option, value: Any, where: str) -> None:
    choices = o.meta.get("choices")
    items = value if isinstance(value, list) else [value]
    if choices is not None and any(v not in choices for v in items):
        raise UserError(
            f"{where}: {o.flag} must be one of {', '.join(map(str, choices))}, not {value!r}"
        )


def check_positive(obj: Any, extra: dict[str, Any] | None = None) -> None:
    """A one-line `UserError` for a `positive` option (or an `extra` value) set to <= 0."""
    values = {o.name: _get(obj, o.path) for o in options_of(type(obj)) if o.meta.get("positive")}
    for name, value in {**values, **(extra or {})}.items():
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive, not {value}")


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        obj = getattr(obj, name)
    return obj


def to_flags(obj: Any) -> list[str]:
    """The command-line arguments that give `obj` (options left at their defaults omitted):
    what a log prints so that a step can be rerun by hand."""
    positional, flags = [], []
    for o in options_of(type(obj)):
        value = _get(obj, o.path)
        if value == o.default:
            continue
        if o.is_bool:
            flags.append(o.flag)
            continue
        shown = o.meta["show"](value) if "show" in o.meta else value
        items = [str(v) for v in (shown if isinstance(shown, (list, tuple)) else [shown])]
        if o.meta.get("positional"):
            positional += items
        else:
            flags += [o.flag, *items]
    return positional + flags


def fields_with(cls: type, key: str, value: Any) -> tuple[str, ...]:
    """Names of the fields of `cls` whose metadata has `key` == `value` (e.g. resume rules)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get(key) == value)


def parse_names(value: str | list[str] | tuple[str, ...], known, what: str) -> tuple[str, ...]:
    """`a,b` (or a list) -> ("a", "b"), each one of `known`; else a one-line error naming
    the unknown `what` (e.g. "metrics") and the choices."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(n).strip() for n in items if str(n).strip())
    unknown = set(names) - set(known)
    if unknown:
        raise UserError(f"unknown {what} {sorted(unknown)}; choose from {','.join(known)}")
    return names
