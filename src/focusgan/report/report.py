"""`focusgan report DIR`: an experiment's results as `report.md` and a self-contained `report.html`.

The report is built once as a list of blocks (headings, paragraphs, tables, images) and written
twice: Markdown with the images as PNG files in `report-files/`, and HTML with the same images
embedded as base64 PNG, plain tables and inline CSS, so the page opens from disk, anywhere,
without JavaScript. Every number comes from an evaluation file of the experiment, and the
provenance section says which file, backbone, weights, sample count, seed and step made it.

The report only reads: the experiment scores every generator and samples it for the grids and
histograms (`report-samples.npz`, `focusgan.experiment.runner.write_report_samples`); here those
files, the runs' `metrics.jsonl` and the training data are read and drawn.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from focusgan import __version__
from focusgan.data.dataset import read_info
from focusgan.errors import UserError
from focusgan.experiment.folder import ExperimentDir
from focusgan.metrics.evaluation import Evaluation
from focusgan.training.rundir import RunDir

# (key, label, better): image scores compared with the step-0 generator
IMAGE_SCORES = (
    ("is", "Inception Score", "higher"),
    ("fid", "FID", "lower"),
    ("kid", "KID", "lower"),
    ("precision", "precision", "higher"),
    ("recall", "recall", "higher"),
)
# focus measures: (key, label); better = closer to the real data
FOCUS_MEASURES = (
    ("fg_fraction_mean", "foreground fraction, mean"),
    ("fg_fraction_std", "foreground fraction, std"),
    ("binarity", "binarity (pixels near 0 or 1)"),
    ("uncertain_pixels", "uncertain pixels"),
    ("components_mean", "connected components, mean"),
    ("fragmented_samples", "fragmented samples"),
    ("border_fg_mean", "border foreground, mean"),
    ("border_rejected_samples", "samples the border filter would reject"),
    ("empty_samples", "empty masks"),
)
GRID_N = 36


@dataclass
class Doc:
    blocks: list[tuple] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", header, rows))

    def img(self, name: str, png: bytes | None, caption: str) -> None:
        if png:
            self.blocks.append(("img", name, png, caption))

    def items(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("list", items))


# ---------------------------------------------------------------- reading the experiment


def load_experiment(out: Path) -> dict[str, Any]:
    """experiment.json with each evaluation (`Evaluation`, None when missing) and each run's
    config read in."""
    folder = ExperimentDir(out)
    try:
        summary = json.loads(folder.summary.read_text())
    except (OSError, ValueError):
        raise UserError(
            f"{out} holds no experiment.json: run `focusgan experiment CONFIG --out {out}` first"
        ) from None

    def evaluation(relative: str | None) -> Evaluation | None:
        return Evaluation.read(folder.resolve(relative)) if relative else None

    for d in summary["datasets"]:
        d["data_eval"] = evaluation(d.get("data_evaluation"))
        runs = [*d["runs"].values()]
        runs += [r for v in d.get("variants", {}).values() for r in v["runs"].values()]
        for r in runs:
            r["eval"] = evaluation(r.get("evaluation"))
            r["initial_eval"] = evaluation(r.get("initial_evaluation"))
            r["config"] = yaml.safe_load(RunDir(folder.resolve(r["dir"])).config.read_text())
        for v in d.get("variants", {}).values():
            v["painted_eval"] = {c: evaluation(p) for c, p in v.get("painted_baseline", {}).items()}
            copy = v["file"] != d["file"] and Path(v["file"]).is_file()
            if not v.get("background") and copy:  # a foreground-only copy, older experiment.json
                mode = read_info(v["file"]).extra.get("background")
                v["background"] = mode if mode not in (None, "keep") else None
    return summary


def _score(result: Evaluation | None, key: str, bb: str) -> tuple[float, float | None] | None:
    return result.score(key, bb) if result else None


def _fmt(x: tuple[float, float | None] | float | None, digits: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, tuple):
        value, std = x
        return f"{value:.{digits}g}" + (f" ± {std:.2g}" if std is not None else "")
    return f"{x:.{digits}g}"


def _better(key: str, better: str, initial: float, trained: float) -> str:
    if trained == initial:
        return "same"
    up = trained > initial
    return "yes" if (up if better == "higher" else not up) else "no"


# ---------------------------------------------------------------- the sections


def _cuadro(doc: Doc, exp: dict, bb: str) -> None:
    from focusgan.experiment.config import THESIS_ROWS

    doc.h(2, "Cuadro 3.2: training data, 3-channel and 4-channel generators")
    doc.p(
        f"Inception Score (mean ± std over splits), FID and KID against the training data, all "
        f"on the RGB channels, computed with the **{bb}** backbone. The thesis's numbers (TF "
        "Inception, 50,000 samples, 10 splits) are printed beside for reference"
        + (
            f"; numbers on the {bb} scale are never comparable with Inception numbers."
            if bb != "inception"
            else "."
        )
    )
    header = [
        "dataset",
        "numbers",
        f"training data IS ({bb})",
        f"3-channel IS ({bb})",
        f"4-channel IS ({bb})",
        f"3-channel FID ({bb})",
        f"4-channel FID ({bb})",
        f"3-channel KID ({bb})",
        f"4-channel KID ({bb})",
    ]
    rows = []
    for d in exp["datasets"]:
        r3, r4 = d["runs"].get("3", {}), d["runs"].get("4", {})
        scored = r4.get("eval") or r3.get("eval")
        n = scored.n if scored else None
        steps = "/".join(str(r.get("step")) for r in (r3, r4) if r)
        rows.append(
            [
                f"{d['name']} ({d['size']:,} samples, {d['resolution']}px)",
                f"this experiment (n={n}, step {steps})",
                _fmt(_score(d.get("data_eval"), "is", bb)),
                _fmt(_score(r3.get("eval"), "is", bb)),
                _fmt(_score(r4.get("eval"), "is", bb)),
                _fmt(_score(r3.get("eval"), "fid", bb)),
                _fmt(_score(r4.get("eval"), "fid", bb)),
                _fmt(_score(r3.get("eval"), "kid", bb)),
                _fmt(_score(r4.get("eval"), "kid", bb)),
            ]
        )
        if d.get("thesis"):
            t = THESIS_ROWS[d["thesis"]]
            rows.append(
                [
                    t["label"],
                    "thesis (TF Inception, n=50,000)",
                    _fmt(t["data"]),
                    _fmt(t["3"]),
                    _fmt(t["4"]),
                    "—",
                    "—",
                    "—",
                    "—",
                ]
            )
    doc.table(header, rows)


def _versus_initial(doc: Doc, exp: dict, bb: str) -> list[str]:
    """The trained vs. step-0 tables; returns one verdict line per run."""
    doc.h(2, "Did training help? Each generator against its own initialisation")
    doc.p(
        "The initial generator is the run's step-0 weights (the run's seed, the same models "
        "`train` builds before its first step), sampled and scored exactly as the trained one: "
        "same backbone, n, latent seed and batch-norm mode. Measured, not assumed."
    )
    verdicts = []
    for d in exp["datasets"]:
        for c, r in sorted(d["runs"].items()):
            final, first = r.get("eval"), r.get("initial_eval")
            label = f"{d['name']}, {c}-channel"
            if not final or not first:
                verdicts.append(f"{label}: not measured (no trained or initial evaluation)")
                continue
            rows, wins, total, ties = [], 0, 0, 0
            for key, name, better in IMAGE_SCORES:
                a, b = _score(first, key, bb), _score(final, key, bb)
                if a is None or b is None:
                    continue
                ok = _better(key, better, a[0], b[0])
                total += 1
                wins += ok == "yes"
                ties += ok == "same"
                rows.append([f"{name} ({bb})", _fmt(a), _fmt(b), better, ok])
            doc.h(3, f"{label} (step 0 vs step {r.get('step')})")
            doc.table(["score", "initial (step 0)", "trained", "better is", "trained better"], rows)
            verdict = (
                f"{label}: the trained generator beats its initialisation on {wins} of {total} "
                f"computed image scores"
                + (f" ({ties} unchanged)" if ties else "")
                + (" — on all of them." if wins == total and total else ".")
            )
            verdicts.append(verdict)
            doc.p(verdict)
    return verdicts


def _variants(doc: Doc, exp: dict, bb: str) -> None:
    """Each variant beside its baseline: the same data, seed and settings but what it changes."""
    if not any(d.get("variants") for d in exp["datasets"]):
        return
    doc.h(2, "Variants beside the baseline")
    doc.p(
        "Each variant trains beside the baseline runs with the same data, seed and settings "
        "except the ones named, and is scored the same way, against the reference each table "
        "names. Generated-pairs IoU: a segmenter trained only on the generator's (image, mask) "
        "pairs, tested on held-out real images (higher is better)."
    )
    for d in exp["datasets"]:
        for name, v in d.get("variants", {}).items():
            changes = _changes(d["runs"], v["runs"])
            if v.get("background"):
                _foreground_only_variant(doc, d, name, v, changes, bb)
                continue
            channels = sorted(set(d["runs"]) | set(v["runs"]))
            header = ["score", "better is"]
            for c in channels:
                header += [f"baseline {c}-channel", f"{name} {c}-channel"]
            rows = []
            for key, label, better in IMAGE_SCORES[:3]:
                row = [f"{label} ({bb})", better]
                for c in channels:
                    for runs in (d["runs"], v["runs"]):
                        row.append(_fmt(_score(runs.get(c, {}).get("eval"), key, bb)))
                rows.append(row)
            found = [
                e.focus["generated_pairs"]
                for r in (*d["runs"].values(), *v["runs"].values())
                if (e := r.get("eval")) and "generated_pairs" in (e.focus or {})
            ]
            label = "generated-pairs IoU"
            if found:  # the same data: the same ceiling and trivial baselines for every run
                g = found[0]
                label += (
                    f" (ceiling {_fmt(g.get('ceiling_iou'), 3)}; without objects: all foreground "
                    f"{_fmt(g.get('all_foreground_iou'), 3)}, mean mask "
                    f"{_fmt(g.get('mean_mask_iou'), 3)})"
                )
            row = [label, "higher"]
            for c in channels:
                for runs in (d["runs"], v["runs"]):
                    e = runs.get(c, {}).get("eval")
                    pairs = (e.focus or {}).get("generated_pairs", {}) if e else {}
                    row.append(_fmt(pairs.get("iou")))
            rows.append(row)
            doc.h(3, f"{d['name']}: {name} ({changes})")
            doc.p(f"FID, KID and generated-pairs IoU here are all against `{d['file']}`.")
            doc.table(header, rows)
            _per_class(doc, name, v, bb)


def _foreground_only_variant(doc: Doc, d: dict, name: str, v: dict, changes: str, bb: str) -> None:
    """A foreground-only variant beside the baseline on one common reference: the variant's
    data, with the baseline's samples painted the same way; no generated-pairs number."""
    mode = v["background"]
    doc.h(3, f"{d['name']}: {name} ({changes})")
    doc.p(
        f"Reference of every number below: the variant's foreground-only data "
        f"`{Path(v['file']).name}` (background {mode}). The baseline's 4-channel samples are "
        f"scored with their background replaced the same way ({mode}), so both generators "
        "are measured against the same images; the baseline's scores against its own data are "
        "in the first table and are not comparable with the variant's. A 3-channel baseline "
        "has no mask to paint its background with: no number. No generated-pairs IoU: in "
        f"foreground-only data the background ({mode}) gives every mask away, so a generator "
        "with no objects at all would score near the ceiling."
    )
    header = ["score", "better is", "reference"]
    channels = sorted(v["runs"])
    for c in channels:
        header += [f"baseline {c}-channel, background {mode}", f"{name} {c}-channel"]
    rows = []
    for key, label, better in IMAGE_SCORES[:3]:
        row = [f"{label} ({bb})", better, "none" if key == "is" else "variant's data"]
        for c in channels:
            row.append(_fmt(_score(v.get("painted_eval", {}).get(c), key, bb)))
            row.append(_fmt(_score(v["runs"][c].get("eval"), key, bb)))
        rows.append(row)
    doc.table(header, rows)
    _per_class(doc, name, v, bb)


def _per_class(doc: Doc, name: str, v: dict, bb: str) -> None:
    """A conditional variant's scores of each class against its own data."""
    for c, r in sorted(v["runs"].items()):
        per_class = r["eval"].per_class if r.get("eval") else None
        if per_class:
            doc.p(f"{name}, {c}-channel: scores of each class against its own data.")
            doc.table(
                ["class", "samples (data)", f"IS ({bb})", f"FID ({bb})", f"KID ({bb})"],
                [
                    [
                        f"{s['name']} ({label})",
                        f"{s['n']} ({s['data_samples']})",
                        *(_fmt(s.get(f"{m}/{bb}")) for m in ("is", "fid", "kid")),
                    ]
                    for label, s in per_class.items()
                ],
            )


def _changes(base: dict, variant: dict) -> str:
    """The training settings and data in which a variant's runs differ from the baseline's."""
    a = next((r["config"] for r in base.values() if r.get("config")), {}) or {}
    b = next((r["config"] for r in variant.values() if r.get("config")), {}) or {}
    skip = {"data", "channels", "classes", "class_names", "class_counts", "num_classes"}
    skip |= {"label_source", "label_sha256"}  # follow from `conditional` and `labels`
    if a.get("arch", "wgan-gp") != b.get("arch", "wgan-gp"):  # settings only one of them uses
        from focusgan.training.config import foreign_settings

        skip |= {
            *foreign_settings(a, b.get("arch", "wgan-gp")),
            *foreign_settings(b, a.get("arch", "wgan-gp")),
        }
    diff = [f"{k}: {a.get(k)} → {b[k]}" for k in b if k not in skip and a.get(k) != b[k]]
    if a.get("data") != b.get("data"):
        diff.append(f"data: {Path(str(b.get('data'))).name}")
    return "; ".join(diff) or "no setting differs"


def _focus(doc: Doc, exp: dict) -> list[str]:
    """The focus-channel tables; returns the generated-pairs verdict of each 4-channel run."""
    from focusgan.metrics.generated_pairs import best_baseline

    doc.h(2, "The focus channel, with the real data as reference")
    shown: set[str] = set()  # the measures some 4-channel run's table shows
    for d in exp["datasets"]:
        e = (d["runs"].get("4") or {}).get("eval")
        shown |= set((e.focus or {}) if e else {})
    text = (
        "Measures of the generated masks (4-channel runs) beside the same measures of the "
        "training data's masks; closer to the data is better."
    )
    if "consistency" in shown:
        text += (
            " The consistency IoU applies a small segmenter trained on the real image→mask "
            "pairs to the generated RGB and compares its output with the generated mask; the "
            "real held-out IoU is its ceiling."
        )
    if "generated_pairs" in shown:
        text += (
            " The generated-pairs IoU answers whether the channel learned objects: a small "
            "segmenter trained only on generated (image, mask) pairs is tested on held-out "
            "real images with their true masks (whole photos or videos that no training pair "
            "comes from). Near its ceiling (the same segmenter trained on as many real pairs) "
            "the generated masks outline real objects. Masks without object information score "
            "about the best of three baselines: the floor (pairs of the step-0 generator), "
            "predicting every pixel foreground, and predicting the real training masks' mean "
            "mask. An IoU of an empty prediction with an empty mask counts 1."
        )
    doc.p(text)
    verdicts: list[str] = []
    for d in exp["datasets"]:
        r = d["runs"].get("4")
        if not r or not r.get("eval") or not r["eval"].focus:
            continue
        fin = r["eval"].focus
        ini = (r["initial_eval"].focus if r.get("initial_eval") else None) or {}
        real = fin.get("data", {})
        rows = []
        for key, name in FOCUS_MEASURES:
            if key not in real:
                continue
            g, g0 = fin.get("generated", {}).get(key), ini.get("generated", {}).get(key)
            closer = "—"
            if g is not None and g0 is not None:
                e, e0 = abs(g - real[key]), abs(g0 - real[key])
                closer = "same" if e == e0 else ("yes" if e < e0 else "no")
            rows.append([name, _fmt(real[key]), _fmt(g), _fmt(g0), closer])
        for key, v in fin.get("distance", {}).items():
            v0 = ini.get("distance", {}).get(key)
            closer = "—" if v0 is None else ("same" if v == v0 else ("yes" if v < v0 else "no"))
            rows.append([f"{key} (distance to the data)", "0", _fmt(v), _fmt(v0), closer])
        if "consistency" in fin:
            c, c0 = fin["consistency"], ini.get("consistency", {})
            rows.append(
                [
                    "consistency IoU (segmenter on RGB vs mask)",
                    _fmt(c.get("heldout_real_iou")) + " (ceiling)",
                    _fmt(c.get("generated_iou")),
                    _fmt(c0.get("generated_iou")),
                    "—",
                ]
            )
        gp = fin.get("generated_pairs")
        if gp:
            rows.append(
                [
                    "generated-pairs IoU (trained on generated pairs, tested on real)",
                    _fmt(gp.get("ceiling_iou")) + " (ceiling)",
                    _fmt(gp.get("iou")),
                    _fmt(gp.get("floor_iou")) + " (floor)",
                    "—",
                ]
            )
            for key, name in (
                ("all_foreground_iou", "all foreground"),
                ("mean_mask_iou", "mean training mask"),
            ):
                if gp.get(key) is not None:
                    rows.append([f"generated-pairs baseline: {name}", _fmt(gp[key]), "", "", "—"])
        doc.h(3, f"{d['name']}, 4-channel (step {r.get('step')})")
        doc.table(
            ["measure", "training data", "trained", "initial (step 0)", "trained closer"], rows
        )
        best = best_baseline(gp) if gp else None
        if best and gp.get("iou") is not None:
            name, value = best
            above = gp["iou"] > value
            verdicts.append(
                f"{d['name']}, 4-channel: generated-pairs IoU {gp['iou']:.3f}: "
                + ("above" if above else "not above")
                + f" the best baseline without object information ({name}, {value:.3f}); "
                f"ceiling {gp['ceiling_iou']:.3f}."
                + (
                    f" It closes {(gp['iou'] - value) / (gp['ceiling_iou'] - value):.0%} of the "
                    "gap from that baseline to the ceiling."
                    if above and gp["ceiling_iou"] > value
                    else ""
                )
            )
            doc.p(verdicts[-1])
    return verdicts


def _samples_and_curves(doc: Doc, exp: dict, out: Path, bb: str, n_hist: int) -> None:
    from focusgan.data.dataset import read_info
    from focusgan.metrics.evaluate import load_rows, sample_indices
    from focusgan.report import plots
    from focusgan.training.rundir import read_metrics
    from focusgan.utils.views import render

    folder = ExperimentDir(out)

    doc.h(2, "Samples in the four views")
    doc.p(
        "rgba: the focus channel as alpha over a checkerboard; rgb; masked: background (mask < "
        "0.5) painted black; mask. 3-channel samples have the rgb view only. Samples come from "
        "the EMA generator on fixed latent vectors (seed 0), batch-norm batch statistics."
    )
    curves: list[tuple[str, bytes | None, str]] = []
    for d in exp["datasets"]:
        data = Path(d["file"])
        fractions: dict[str, Any] = {}
        if data.is_file():
            info = read_info(data)
            real = load_rows(data, sample_indices(info.size, GRID_N, 0))
            doc.img(
                f"{d['name']}-data.png",
                _png(render(real, "all"), _scale(real)),
                f"{d['name']}: training data ({len(real)} random samples of {info.size:,})",
            )
            if info.channels == 4:
                masks = load_rows(data, sample_indices(info.size, n_hist, 0))[..., 3]
                fractions["training data"] = (masks / 255.0).mean(axis=(1, 2))
        losses, points = {}, {}
        runs = [(c, "", r) for c, r in sorted(d["runs"].items())]
        for vname, v in d.get("variants", {}).items():
            runs += [(c, vname, r) for c, r in sorted(v["runs"].items())]
        for c, variant, r in runs:
            run = RunDir(folder.resolve(r["dir"]))
            label = f"{variant} {c}-channel".strip()
            samples = _report_samples(folder.report_samples(run))
            name = f"{d['name']}-{variant + '-' if variant else ''}run-{c}ch"
            if "trained" in samples:
                step = samples["step"]
                caption = f"{d['name']}: {label} generator, step {step}"
                _grid(doc, samples["trained"], f"{name}.png", caption)
                if c == "4":
                    fractions[f"{label}, step {step}"] = _fractions(samples["trained"])
            for k, (row, cls) in enumerate(
                zip(samples.get("class_rows", []), samples.get("class_names", []), strict=True)
            ):
                caption = f"{d['name']}: {label} generator, class {cls}"
                _grid(doc, row, f"{name}-class-{k}.png", caption)
            if "initial" in samples:
                caption = (
                    f"{d['name']}: {label} generator at step 0 (its initialisation), for comparison"
                )
                _grid(doc, samples["initial"], f"{name}-initial.png", caption)
                if c == "4":
                    fractions[f"{label}, step 0"] = _fractions(samples["initial"])
            if not samples:
                doc.p(f"{d['name']}, {label}: no samples of its generators in {run.path}.")
            recs = read_metrics(run.path)
            losses[label] = recs
            for rec in recs:
                for k, v in rec.items():
                    if k.startswith("eval/") and "_std/" not in k and v is not None:
                        points.setdefault(k[5:], {}).setdefault(label, []).append((rec["step"], v))
            for res in (r.get("initial_eval"), r.get("eval")):
                if res:
                    for key, _, _ in IMAGE_SCORES[:3]:
                        v = _score(res, key, bb)
                        if v is not None:
                            name = f"{key}/{bb} (n={res.n})"
                            points.setdefault(name, {}).setdefault(label, []).append(
                                (res.step, v[0])
                            )
        curves.append(
            (
                f"{d['name']}-losses.png",
                plots.loss_curves(losses, f"{d['name']}: training losses"),
                f"{d['name']}: critic and generator losses per generator step (metrics.jsonl)",
            )
        )
        curves.append(
            (
                f"{d['name']}-scores.png",
                plots.score_curves(points, f"{d['name']}: scores by generator step"),
                f"{d['name']}: scores by step: in-training evaluations (eval/..., if "
                "--eval-every was set, smaller n) and the step-0 and final evaluations",
            )
        )
        curves.append(
            (
                f"{d['name']}-fg-fraction.png",
                plots.fg_histogram(fractions, f"{d['name']}: foreground fraction per sample"),
                f"{d['name']}: foreground fraction per sample of each generator "
                f"({_count(fractions)}), the training data as reference",
            )
        )
    doc.h(2, "Curves")
    for name, png, caption in curves:
        doc.img(name, png, caption)


def _provenance(doc: Doc, exp: dict, out: Path) -> None:
    doc.h(2, "Provenance of every number")
    rows = []
    versions = None
    for d in exp["datasets"]:
        items = [("training data", d.get("data_evaluation"), d.get("data_eval"))]
        for c, r in sorted(d["runs"].items()):
            items.append((f"{c}-channel trained", r.get("evaluation"), r.get("eval")))
            items.append(
                (f"{c}-channel step 0", r.get("initial_evaluation"), r.get("initial_eval"))
            )
        for name, v in d.get("variants", {}).items():
            for c, r in sorted(v["runs"].items()):
                items.append((f"{name} {c}-channel trained", r.get("evaluation"), r.get("eval")))
            for c, path in v.get("painted_baseline", {}).items():
                what = f"{c}-channel trained, background {v.get('background')}, against {name}"
                items.append((what, path, v["painted_eval"].get(c)))
        for what, path, res in items:
            if not res:
                continue
            p = res.provenance
            versions = versions or p.get("versions")
            src = p.get("source", {})
            b = p.get("backbone", {})
            origin = (
                f"{src.get('generator')} generator, step {src.get('step')}, BN {src.get('bn')}"
                if src.get("kind") == "run"
                else f"dataset sha256 {str(src.get('sha256'))[:12]}"
            )
            gp = p.get("generated_pairs")
            if gp:
                origin += (
                    f"; generated pairs: N={gp.get('n')}, {gp.get('n_heldout')} held-out real "
                    f"pairs from {gp.get('n_heldout_groups')} photos/videos"
                )
            rows.append(
                [
                    f"{d['name']}: {what}",
                    str(path),
                    f"{b.get('name')} (weights sha256 {str(b.get('weights_sha256'))[:12]})",
                    str(p.get("n")),
                    str(p.get("splits")),
                    str(p.get("seed")),
                    origin,
                    str(p.get("created")),
                ]
            )
    doc.table(
        [
            "numbers",
            "file (in the experiment folder)",
            "backbone",
            "n",
            "splits",
            "seed",
            "source",
            "computed",
        ],
        rows,
    )
    if versions:
        doc.p("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".")
    runs = []
    for d in exp["datasets"]:
        runs.append(f"{d['name']}: dataset `{d['file']}` ({d['size']:,} samples)")
        for c, r in sorted(d["runs"].items()):
            cfg = r["config"]
            net = (
                f"r3gan widths {cfg['widths']}, gamma {cfg['gamma']}"
                if cfg.get("arch") == "r3gan"
                else f"width {cfg['width']}, n_critic {cfg['n_critic']}"
            )
            runs.append(
                f"{d['name']}, {c}-channel: `{r['dir']}`, preset {cfg['preset']}, {net}, "
                f"{cfg['iters']} steps (reached {r.get('step')}), batch "
                f"{cfg['batch_critic']}/{cfg['batch_gen']}, lr "
                f"{cfg['lr']}, seed {cfg['seed']}; resolved settings in `{r['dir']}/config.yaml`"
            )
    doc.items(runs)
    notes = []
    for d in exp["datasets"]:
        for res in [d.get("data_eval")] + [
            x for r in d["runs"].values() for x in (r.get("eval"), r.get("initial_eval"))
        ]:
            for note in res.notes if res else []:
                if note not in notes:
                    notes.append(note)
    if notes:
        doc.h(3, "Notes attached to the numbers")
        doc.items(notes)


def build(out: Path, n_hist: int = 256) -> tuple[Doc, list[str]]:
    exp = load_experiment(out)
    bb = exp["backbone"]
    first = next(
        (d["data_eval"] for d in exp["datasets"] if d.get("data_eval")),
        None,
    )
    if first:  # the label the scores carry (e.g. "inception" may resolve to a longer name)
        bb = first.backbone
    doc = Doc()
    doc.h(1, f"Experiment {exp['name']}")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    doc.p(
        f"Written {now} by focusgan {__version__} from `{out}`. "
        + ("All parts finished." if exp["finished"] else "**Unfinished**: rerun the experiment.")
        + " The question: what does the focus channel (a per-pixel foreground probability "
        "trained as a fourth channel) change in what a WGAN-GP learns from the same images?"
    )
    _cuadro(doc, exp, bb)
    verdicts = _versus_initial(doc, exp, bb)
    _variants(doc, exp, bb)
    verdicts += _focus(doc, exp)
    _samples_and_curves(doc, exp, out, bb, n_hist)
    _provenance(doc, exp, out)
    return doc, verdicts


# ---------------------------------------------------------------- writing


def _report_samples(path: Path) -> dict[str, Any]:
    """The samples the experiment stored for the report (`trained`, `initial`, `step`)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = ("trained", "initial", "class_rows", "class_names")
            out: dict[str, Any] = {k: z[k] for k in keys if k in z.files}
            if "step" in z.files:
                out["step"] = int(z["step"])
            return out
    except (OSError, ValueError):
        return {}


def _grid(doc: Doc, images: np.ndarray, file: str, caption: str) -> None:
    from focusgan.utils.views import render

    doc.img(file, _png(render(images[:GRID_N], "all"), _scale(images)), caption)


def _fractions(images: np.ndarray) -> np.ndarray:
    """Each sample's mean focus value (its soft foreground fraction)."""
    return (images[..., 3] / 255.0).mean(axis=(1, 2))


def _count(fractions: dict[str, Any]) -> str:
    sizes = sorted({len(v) for v in fractions.values()})
    return " / ".join(map(str, sizes)) + " samples" if sizes else "no samples"


def _png(rgb: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of an RGB image, enlarged `scale` times (nearest) so small samples stay visible."""
    import cv2

    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def _scale(images: np.ndarray) -> int:
    """Enlargement that shows every sample at least 64 pixels wide."""
    return max(1, -(-64 // images.shape[2]))


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Doc, files_dir: str) -> tuple[str, dict[str, bytes]]:
    lines, files = [], {}
    for b in doc.blocks:
        if b[0] == "h":
            lines += ["#" * b[1] + " " + b[2], ""]
        elif b[0] == "p":
            lines += [b[1], ""]
        elif b[0] == "table":
            lines.append("| " + " | ".join(_md_cell(h) for h in b[1]) + " |")
            lines.append("|" + "---|" * len(b[1]))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b[2]]
            lines.append("")
        elif b[0] == "img":
            files[b[1]] = b[2]
            lines += [f"![{b[3]}]({files_dir}/{b[1]})", "", f"*{b[3]}*", ""]
        elif b[0] == "list":
            lines += [f"- {x}" for x in b[1]] + [""]
    return "\n".join(lines), files


def _inline(text: str) -> str:
    """Escape, then render the two Markdown marks the report uses (`code`, **bold**)."""
    import re

    s = html.escape(text)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)


CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0 1.4em; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
tr:nth-child(even) td { background: #f8f8f8; }
figure { margin: 1em 0 2em; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
code { background: #f2f2f2; padding: 0 0.2em; }
"""


def to_html(doc: Doc, title: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    for b in doc.blocks:
        if b[0] == "h":
            parts.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            parts.append(f"<p>{_inline(b[1])}</p>")
        elif b[0] == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in b[1])
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b[2]
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b[0] == "img":
            data = base64.b64encode(b[2]).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(b[3])}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(b[3])}</figcaption></figure>"
            )
        elif b[0] == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b[1]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out: str | Path, n_hist: int = 256) -> dict[str, Any]:
    """Write OUT/report.md (+ OUT/report-files/*.png) and OUT/report.html; returns their paths
    and the measured trained-vs-initial verdicts. `n_hist`: training-data samples in the
    foreground-fraction histogram (the generators' are those the experiment stored)."""
    from focusgan.utils.atomic import atomic_path

    folder = ExperimentDir(out)
    doc, verdicts = build(folder.path, n_hist)
    title = next(b[2] for b in doc.blocks if b[0] == "h")
    md, files = to_markdown(doc, folder.report_files.name)
    folder.report_files.mkdir(exist_ok=True)
    for name, data in files.items():
        with atomic_path(folder.report_files / name) as tmp:
            tmp.write_bytes(data)
    with atomic_path(folder.report_md) as tmp:
        tmp.write_text(md)
    with atomic_path(folder.report_html) as tmp:
        tmp.write_text(to_html(doc, title))
    return {"html": folder.report_html, "md": folder.report_md, "verdicts": verdicts}
