"""The experiment file (`experiment.yaml`): datasets plus shared training and evaluation settings.

```yaml
name: coco-thesis
datasets:
  - name: coco                  # a short name: folder and table row
    thesis: coco                # optional: the Cuadro 3.2 row printed beside (see THESIS_ROWS)
    prepare:                    # a `focusgan prepare SOURCE` recipe: keys are its flags
      source: coco
      annotations: coco/annotations/instances_train2017.json
      images: coco/train2017
      min_area: 0.15
  - name: frames
    file: frames.h5             # or an existing dataset file (used as is)
train:                          # a preset and any `focusgan train` setting (TrainConfig fields)
  preset: thesis
  seed: 0
evaluate:
  backbone: inception
  n: 50000
```

Relative paths (`file`, and the recipe's `paths`, `annotations`, `images`, `masks`) are taken
relative to the experiment file's folder. Unknown keys are one-line errors naming the known ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from focusgan.errors import UserError

# Cuadro 3.2 of the thesis (IS on RGB, TF Inception): training data, 3-channel, 4-channel.
THESIS_ROWS: dict[str, dict[str, Any]] = {
    "coco": {
        "label": "COCO instances (77,882)",
        "data": (13.51, 0.11),
        "3": (7.37, 0.07),
        "4": (7.50, 0.07),
    },
    "video-filtered": {
        "label": "YFCC100m video frames, classifier-filtered (207,103)",
        "data": (22.76, 0.14),
        "3": (8.01, 0.08),
        "4": (7.80, 0.10),
    },
    "video-unfiltered": {
        "label": "YFCC100m video frames, unfiltered (1.6M)",
        "data": (11.75, 0.04),
        "3": (7.53, 0.07),
        "4": (7.06, 0.10),
    },
}
PATH_KEYS = ("paths", "annotations", "images", "masks", "inception_weights")
SOURCES = ("coco", "video", "pairs")


@dataclass
class DatasetSpec:
    name: str
    file: str | None = None  # an existing dataset file, or where a prepared one is written
    prepare: dict[str, Any] | None = None  # {"source": coco|video|pairs, flag: value, ...}
    thesis: str | None = None  # a key of THESIS_ROWS


@dataclass
class EvalSpec:
    backbone: str = "inception"
    n: int = 50000
    splits: int = 10
    seed: int = 0
    ref_n: int | None = None
    metrics: list[str] = field(
        default_factory=lambda: ["is", "fid", "kid", "pr", "focus", "consistency"]
    )
    inception_weights: str | None = None
    segmenter_steps: int | None = None  # None: the segmenter's default
    initial: bool = True  # also score each run's initial (step-0) generator
    bn: str = "batch"
    ema: bool = True


@dataclass
class ExperimentConfig:
    name: str
    datasets: list[DatasetSpec]
    train: dict[str, Any] = field(default_factory=lambda: {"preset": "thesis"})
    evaluate: EvalSpec = field(default_factory=EvalSpec)
    channels: list[int] = field(default_factory=lambda: [3, 4])
    base_dir: str = "."  # the experiment file's folder (relative paths start there)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("base_dir")
        return d

    def dataset_file(self, spec: DatasetSpec, out: Path) -> Path:
        """Where a dataset lives: its `file`, or `OUT/data/NAME.h5` for a recipe without one."""
        if spec.file:
            return _resolve(self.base_dir, spec.file)
        return out / "data" / f"{spec.name}.h5"


def _resolve(base: str | Path, p: str) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() else Path(base) / path


def _fields(cls: type, d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise UserError(f"{where} must be a mapping, not {type(d).__name__}")
    known = [f.name for f in dataclasses.fields(cls) if f.name != "base_dir"]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise UserError(f"{where}: unknown keys {unknown}; known: {known}")
    return d


def _check_train(train: Any) -> dict[str, Any]:
    from focusgan.training.config import PRESETS, TrainConfig

    if not isinstance(train, dict):
        raise UserError("train must be a mapping of training settings")
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"data", "channels", "resolution"}
    unknown = sorted(set(train) - known)
    if unknown:
        raise UserError(f"train: unknown keys {unknown}; known: {sorted(known)}")
    preset = train.get("preset", "thesis")
    if preset not in PRESETS:
        raise UserError(f"train: unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return {"preset": preset, **train}


def _check_dataset(i: int, d: Any) -> DatasetSpec:
    spec = DatasetSpec(**_fields(DatasetSpec, d, f"datasets[{i}]"))
    where = f"dataset {spec.name!r}"
    if not isinstance(spec.name, str) or not spec.name or "/" in spec.name:
        raise UserError(f"datasets[{i}]: needs a `name` (a word, no '/')")
    if spec.file is None and spec.prepare is None:
        raise UserError(f"{where}: give `file` (an existing dataset) or a `prepare` recipe")
    if spec.thesis is not None and spec.thesis not in THESIS_ROWS:
        raise UserError(
            f"{where}: thesis must be one of {sorted(THESIS_ROWS)}, not {spec.thesis!r}"
        )
    if spec.prepare is not None:
        if not isinstance(spec.prepare, dict) or spec.prepare.get("source") not in SOURCES:
            raise UserError(f"{where}: prepare needs `source`, one of {list(SOURCES)}")
        if "out" in spec.prepare:
            raise UserError(f"{where}: set the output with `file`, not prepare.out")
    return spec


def parse_config(data: Any, base_dir: str | Path = ".") -> ExperimentConfig:
    """An `ExperimentConfig` from the parsed YAML (a dict), checked, with one-line errors."""
    d = dict(_fields(ExperimentConfig, data, "experiment"))
    if not d.get("datasets"):
        raise UserError("experiment: `datasets` must list at least one dataset")
    if not isinstance(d["datasets"], list):
        raise UserError("experiment: `datasets` must be a list")
    d["datasets"] = [_check_dataset(i, x) for i, x in enumerate(d["datasets"])]
    names = [s.name for s in d["datasets"]]
    if len(set(names)) != len(names):
        raise UserError(f"experiment: dataset names must differ, got {names}")
    d["train"] = _check_train(d.get("train", {}))
    d["evaluate"] = EvalSpec(**_fields(EvalSpec, d.get("evaluate") or {}, "evaluate"))
    ev = d["evaluate"]
    if ev.n < 1 or ev.splits < 1 or ev.n < ev.splits:
        raise UserError(f"evaluate: need 1 <= splits <= n, got n={ev.n}, splits={ev.splits}")
    channels = d.get("channels", [3, 4])
    if not channels or any(c not in (3, 4) for c in channels):
        raise UserError(f"experiment: channels must list 3 and/or 4, not {channels}")
    if "name" not in d or not isinstance(d["name"], str):
        raise UserError("experiment: needs a `name`")
    return ExperimentConfig(**d, base_dir=str(base_dir))


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and check an experiment YAML file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else "syntax error"
        raise UserError(f"{path} is not valid YAML: {first}") from None
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return parse_config(data, path.resolve().parent)


def prepare_argv(cfg: ExperimentConfig, spec: DatasetSpec, out_file: Path) -> list[str]:
    """The `focusgan prepare ...` argument list of a recipe, its keys checked against the flags."""
    recipe = dict(spec.prepare or {})
    source = recipe.pop("source")
    positional = recipe.pop("paths", None)
    flags = prepare_flags(source)
    argv = ["prepare", source]
    if positional is not None:
        items = positional if isinstance(positional, list) else [positional]
        argv += [str(_resolve(cfg.base_dir, str(p))) for p in items]
    for key, value in recipe.items():
        flag = "--" + key.replace("_", "-")
        if flag not in flags:
            raise UserError(
                f"dataset {spec.name!r}: `focusgan prepare {source}` has no option {flag}; "
                f"known: {sorted(f[2:].replace('-', '_') for f in flags)}"
            )
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
            continue
        values = value if isinstance(value, list) else [value]
        if key in PATH_KEYS:
            values = [_resolve(cfg.base_dir, str(v)) for v in values]
        argv += [flag, *(str(v) for v in values)]
    return [*argv, "--out", str(out_file)]


def prepare_flags(source: str) -> set[str]:
    """The long options `focusgan prepare SOURCE` accepts (besides --out)."""
    import argparse

    from focusgan.cli import build_parser

    def sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                return action.choices[name]
        raise UserError(f"no `focusgan {name}` command")

    p = sub(sub(build_parser(), "prepare"), source)
    return {s for s in p._option_string_actions if s.startswith("--")} - {"--out", "--help"}
