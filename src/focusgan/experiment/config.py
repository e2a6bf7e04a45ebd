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
variants:                       # optional: runs beside the baseline, same data, seed, settings
  - name: conditional           # but for these training settings (a preset too) ...
    train: {conditional: true}
  - name: foreground            # ... or a foreground-only copy of each dataset
    background: black
```

Relative paths (`file`, and every path of a recipe or of `evaluate:`) are taken relative to the
experiment file's folder. Unknown keys are one-line errors naming the known ones.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from focusgan.errors import UserError
from focusgan.experiment.folder import ExperimentDir
from focusgan.metrics.options import EvalOptions
from focusgan.prepare.classifier import ClassifierOptions
from focusgan.prepare.coco import CocoOptions
from focusgan.prepare.pairs import PairOptions
from focusgan.prepare.pipeline import RunOptions
from focusgan.prepare.video import VideoOptions
from focusgan.utils.options import from_mapping, option, options_of

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
# The options of each `prepare` source.
SOURCE_OPTIONS: dict[str, type] = {"coco": CocoOptions, "video": VideoOptions, "pairs": PairOptions}
SOURCES = tuple(SOURCE_OPTIONS)


@dataclass
class DatasetSpec:
    name: str
    file: str | None = None  # an existing dataset file, or where a prepared one is written
    prepare: dict[str, Any] | None = None  # {"source": coco|video|pairs, flag: value, ...}
    thesis: str | None = None  # a key of THESIS_ROWS


@dataclass(frozen=True, kw_only=True)
class EvalSpec(EvalOptions):
    """The experiment's `evaluate:`: `focusgan evaluate`'s options, and whether to score each
    run's initial (step-0) generator too."""

    initial: bool = option(True, "also score each run's initial (step-0) generator")


@dataclass(frozen=True)
class Recipe:
    """A `prepare:` recipe read into the options of `focusgan prepare SOURCE`."""

    source: str
    options: Any  # CocoOptions, PairOptions or VideoOptions
    run: RunOptions
    classifier: ClassifierOptions


@dataclass
class VariantSpec:
    """A variant of the experiment: its runs train beside the baseline's (same datasets, seed
    and settings) with some training settings replaced and/or a foreground-only copy of the data;
    the report puts each variant beside its baseline."""

    name: str
    train: dict[str, Any] = field(default_factory=dict)  # settings replaced (a `preset` too)
    background: str | None = None  # black | mean | noise: train on a foreground-only copy
    channels: list[int] | None = None  # default: the experiment's


@dataclass
class ExperimentConfig:
    name: str
    datasets: list[DatasetSpec]
    train: dict[str, Any] = field(default_factory=lambda: {"preset": "thesis"})
    evaluate: EvalSpec = field(default_factory=EvalSpec)
    channels: list[int] = field(default_factory=lambda: [3, 4])
    variants: list[VariantSpec] = field(default_factory=list)
    base_dir: str = "."  # the experiment file's folder (relative paths start there)

    def variant_train(self, variant: VariantSpec) -> dict[str, Any]:
        """The training settings of a variant: the experiment's, with the variant's replaced
        (a variant's preset starts from that preset's values, then the experiment's settings).
        A variant of another architecture (`arch: r3gan` beside a WGAN-GP baseline) leaves out
        the experiment's settings (and preset) that belong to the baseline's architecture."""
        from focusgan.training.config import foreign_settings, settings_arch

        merged = {**self.train, **variant.train}
        if "arch" not in variant.train and "preset" not in variant.train:
            return merged
        arch = settings_arch(variant.train)
        foreign = set(foreign_settings(self.train, arch))
        if settings_arch({"preset": self.train.get("preset")}) != arch:
            foreign.add("preset")
        return {k: v for k, v in merged.items() if k in variant.train or k not in foreign}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("base_dir")
        d["evaluate"] = json.loads(json.dumps(d["evaluate"], default=str))  # paths as text
        return d

    def dataset_file(self, spec: DatasetSpec, out: Path) -> Path:
        """Where a dataset lives: its `file`, or `OUT/data/NAME.h5` for a recipe without one."""
        if spec.file:
            return _resolve(self.base_dir, spec.file)
        return ExperimentDir(out).data_file(spec.name)


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


def _check_train(train: Any, where: str = "train", default_preset: bool = True) -> dict[str, Any]:
    from focusgan.training.config import PRESETS, TrainConfig

    if not isinstance(train, dict):
        raise UserError(f"{where} must be a mapping of training settings")
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"data", "channels", "resolution"}
    known -= {"num_classes", "classes", "class_names", "class_counts"}  # from the data
    known -= {"label_source", "label_sha256"}  # from the labels
    unknown = sorted(set(train) - known)
    if unknown:
        raise UserError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    preset = train.get("preset", "thesis")
    if preset not in PRESETS:
        raise UserError(f"{where}: unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return {"preset": preset, **train} if default_preset else dict(train)


def _check_variant(i: int, v: Any, names: set[str]) -> VariantSpec:
    from focusgan.prepare.background import BACKGROUNDS

    spec = VariantSpec(**_fields(VariantSpec, v, f"variants[{i}]"))
    where = f"variant {spec.name!r}"
    if not isinstance(spec.name, str) or not spec.name or "/" in spec.name or spec.name in names:
        raise UserError(
            f"variants[{i}]: needs a `name` (a word, no '/') unlike the datasets' and the other "
            "variants'"
        )
    spec.train = _check_train(spec.train or {}, f"{where}: train", default_preset=False)
    if spec.background is not None and spec.background not in BACKGROUNDS[1:]:
        raise UserError(
            f"{where}: background must be one of {list(BACKGROUNDS[1:])}, not {spec.background!r}"
        )
    if spec.channels is not None and (
        not spec.channels or any(c not in (3, 4) for c in spec.channels)
    ):
        raise UserError(f"{where}: channels must list 3 and/or 4, not {spec.channels}")
    if not spec.train and spec.background is None and spec.channels is None:
        raise UserError(f"{where}: give `train` settings and/or a `background`")
    return spec


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
    evaluate = _fields(EvalSpec, d.get("evaluate") or {}, "evaluate")
    d["evaluate"] = from_mapping(EvalSpec, evaluate, "evaluate", base_dir)
    ev = d["evaluate"]
    if ev.n < 1 or ev.splits < 1 or ev.n < ev.splits:
        raise UserError(f"evaluate: need 1 <= splits <= n, got n={ev.n}, splits={ev.splits}")
    channels = d.get("channels", [3, 4])
    if not channels or any(c not in (3, 4) for c in channels):
        raise UserError(f"experiment: channels must list 3 and/or 4, not {channels}")
    if "name" not in d or not isinstance(d["name"], str):
        raise UserError("experiment: needs a `name`")
    variants = d.get("variants") or []
    if not isinstance(variants, list):
        raise UserError("experiment: `variants` must be a list")
    taken = set(names)
    d["variants"] = []
    for i, v in enumerate(variants):
        d["variants"].append(_check_variant(i, v, taken))
        taken.add(d["variants"][-1].name)
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


def prepare_recipe(spec: DatasetSpec, base_dir: str | Path) -> Recipe:
    """A dataset's `prepare:` recipe as the options of `focusgan prepare SOURCE`: its keys are
    that command's options (flags' names, `_` for `-`); `paths` are the video paths. Relative
    paths start at `base_dir`. Unknown keys and bad values are one-line errors."""
    recipe = dict(spec.prepare or {})
    source = recipe.pop("source")
    where = f"dataset {spec.name!r}: `focusgan prepare {source}`"
    parts = {SOURCE_OPTIONS[source]: {}, RunOptions: {}, ClassifierOptions: {}}
    owner = {k: cls for cls in parts for o in options_of(cls) for k in o.keys}
    for key, value in recipe.items():
        if key not in owner:
            known = sorted({o.keys[-1] for cls in parts for o in options_of(cls)})
            raise UserError(f"{where} has no option --{key.replace('_', '-')}; known: {known}")
        parts[owner[key]][key] = value
    options, run, classifier = (from_mapping(c, v, where, base_dir) for c, v in parts.items())
    return Recipe(source, options, run, classifier)
