"""An evaluation's result as one typed object: what `evaluation-BACKBONE.json` holds.

Every number is labelled `<metric>/<backbone>` (`is/inception`, `fid/efficientnet-lite0`, with
`<metric>_std/<backbone>` for spreads), so numbers of different backbones are never mixed. The
JSON keys are the field names below (strict JSON: NaN and infinity are written as null); `read`
and `write` are the only code that touches the file, and `evaluate`, the experiment and the
report all pass `Evaluation` objects.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from focusgan.utils.atomic import atomic_path

# The image scores, in the order tables show them (keys `<name>/<backbone>`).
IMAGE_SCORES = ("is", "fid", "kid", "precision", "recall", "f_score")
# The focus measures of a set of masks (`focus["generated"]`, `focus["data"]`) shown in tables.
MASK_MEASURES = (
    "fg_fraction_mean",
    "binarity",
    "components_mean",
    "fragmented_samples",
    "border_fg_mean",
    "border_rejected_samples",
)


@dataclass
class Evaluation:
    scores: dict[str, float]  # `<metric>/<backbone>` -> value
    focus: dict[str, Any] | None = None  # focus-channel measures (4-channel images and data)
    notes: list[str] = field(default_factory=list)  # what makes numbers not comparable, ...
    settings: dict[str, Any] = field(default_factory=dict)  # splits, KID subsets, seconds, ...
    reference: dict[str, Any] | None = None  # the dataset subset compared with (and its cache)
    provenance: dict[str, Any] = field(default_factory=dict)  # backbone, n, seed, source, ...
    # class-conditional runs: label -> {"name", "n", "data_samples", "<metric>/<backbone>": ...}
    per_class: dict[str, dict[str, Any]] | None = None

    # ------------------------------------------------------------------ reading the numbers

    @property
    def backbone(self) -> str:
        """The backbone's name as the score keys carry it."""
        name = self.provenance.get("backbone", {}).get("name")
        if name:
            return name
        labels = [k.split("/", 1)[1] for k in self.scores if "/" in k]
        return labels[0] if labels else "?"

    @property
    def source(self) -> dict[str, Any]:
        """What was scored: {"kind": "run" | "samples" | "data", ...}."""
        return self.provenance.get("source", {})

    @property
    def n(self) -> int | None:
        return self.provenance.get("n")

    @property
    def step(self) -> int | None:
        """The generator's step, for a run's evaluation."""
        return self.source.get("step")

    def score(self, metric: str, backbone: str | None = None) -> tuple[float, float | None] | None:
        """(value, std or None) of a score, or None when it was not computed."""
        bb = backbone or self.backbone
        value = self.scores.get(f"{metric}/{bb}")
        if value is None:
            return None
        return value, self.scores.get(f"{metric}_std/{bb}")

    def made_with(
        self, n: int, seed: int, splits: int | None = None, step: int | None = None
    ) -> bool:
        """Whether it was computed with these settings (an experiment reuses it if so)."""
        p = self.provenance
        if p.get("seed") != seed or p.get("n") != n:
            return False
        if splits is not None and p.get("splits") != splits:
            return False
        return step is None or self.step == step

    # ------------------------------------------------------------------ the file

    def to_json(self) -> str:
        return json.dumps(_finite(dataclasses.asdict(self)), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        d = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def write(self, path: str | os.PathLike) -> Path:
        """Write atomically (a file under its name is always complete)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_json())
        return path

    @classmethod
    def read(cls, path: str | os.PathLike) -> Evaluation | None:
        """The evaluation in `path`, or None when it is missing or unreadable."""
        try:
            return cls.from_json(Path(path).read_text())
        except (OSError, ValueError, TypeError):
            return None

    # ------------------------------------------------------------------ the table

    def lines(self) -> list[str]:
        """A one-screen table of the result."""
        prov, src, bb = self.provenance, self.source, self.backbone
        where = src.get("run") or src.get("path") or ""
        lines = [
            f"evaluation  {src.get('kind', 'data')} {where}".rstrip(),
            f"  backbone {bb}, n={prov.get('n')}, splits={prov.get('splits')}, "
            f"seed={prov.get('seed')}",
        ]
        if src.get("kind") == "run":
            lines.append(f"  step {src['step']}, {src['generator']} generator, BN {src['bn']}")
        for name in IMAGE_SCORES:
            s = self.score(name, bb)
            if s is not None:
                value = f"{s[0]:.4g}" + (f" ± {s[1]:.2g}" if s[1] is not None else "")
                lines.append(f"  {name + '/' + bb:<28} {value}")
        focus = self.focus or {}
        if focus.get("generated") or focus.get("data"):
            lines.append(f"  {'focus':<28} {'generated':>10} {'data':>10}")
            g, d = focus.get("generated", {}), focus.get("data", {})
            for k in MASK_MEASURES:
                gv = f"{g[k]:.3f}" if k in g else "-"
                lines.append(f"  {k:<28} {gv:>10} {d.get(k, float('nan')):>10.3f}")
            for k, v in focus.get("distance", {}).items():
                lines.append(f"  {k:<28} {v:>10.3f}")
        if "consistency" in focus:
            c = focus["consistency"]
            if "generated_iou" in c:
                lines.append(f"  {'segmenter IoU generated':<28} {c['generated_iou']:>10.3f}")
            lines.append(f"  {'segmenter IoU real (ceiling)':<28} {c['heldout_real_iou']:>10.3f}")
        if "generated_pairs" in focus:
            p = focus["generated_pairs"]
            for k in ("iou", "ceiling_iou", "floor_iou", "all_foreground_iou", "mean_mask_iou"):
                if p.get(k) is not None:
                    lines.append(f"  {'generated pairs ' + k:<28} {p[k]:>10.3f}")
        for label, c in (self.per_class or {}).items():
            shown = ", ".join(f"{m} {c[f'{m}/{bb}']:.4g}" for m in IMAGE_SCORES if f"{m}/{bb}" in c)
            lines.append(f"  class {c['name']} ({label}), n={c['n']}: {shown}")
        return lines + [f"  note: {note}" for note in self.notes]


def evaluation_beside(path: str | os.PathLike, backbone: str) -> Path:
    """Where the evaluation of a samples or dataset file goes: `STEM.evaluation-BACKBONE.json`
    beside it (a run's is `RunDir.evaluation`)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.evaluation-{backbone}.json")


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
