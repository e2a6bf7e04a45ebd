"""`focusgan experiment`: prepare, train 3- and 4-channel runs with the same seed, evaluate all,
and sample every generator for the report. The output folder is `ExperimentDir`.

Rerunning the command skips finished parts: a prepared file under its final name, a run whose
checkpoint reached `iters`, an evaluation file of the same step and settings, report samples of
the same step and number. An interrupted training is resumed with `resume=True` (bit-exact on
the CPU), an interrupted prepare reuses its finished chunks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from focusgan.errors import UserError
from focusgan.experiment.config import DatasetSpec, ExperimentConfig, prepare_recipe
from focusgan.experiment.folder import ExperimentDir
from focusgan.metrics.evaluation import Evaluation
from focusgan.training.loop import initial_generator
from focusgan.training.rundir import RunDir
from focusgan.utils.atomic import atomic_path
from focusgan.utils.options import to_flags

Log = Callable[[str], None]
REPORT_GRID = 36  # samples in the report's grids (fixed latents, seed 0)
REPORT_SEED = 0
REPORT_CLASSES, CLASS_ROW = 8, 8  # class-conditional runs: 8 samples of each of 8 classes


def train_config(settings: ExperimentConfig | dict[str, Any], data: Path, channels: int):
    """The TrainConfig of one run: a preset and settings (the experiment's `train:`, or a
    variant's), this data and channels, resolved as `train` resolves them (the dataset's
    resolution, a conditional run's classes), so the step-0 model matches the run's."""
    from focusgan.data.dataset import read_info
    from focusgan.data.labels import load_labels
    from focusgan.training.config import for_data, make_config, with_labels

    settings = dict(settings.train if isinstance(settings, ExperimentConfig) else settings)
    preset = settings.pop("preset", "thesis")
    tcfg = make_config(preset, data=str(data.resolve()), channels=channels, **settings)
    tcfg = for_data(tcfg, read_info(data))
    if tcfg.conditional:
        tcfg = with_labels(tcfg, load_labels(data, tcfg.labels or None))
    return tcfg


def prepare(cfg: ExperimentConfig, spec: DatasetSpec, out: Path, log: Log) -> Path:
    """The dataset file of `spec`, prepared from its recipe when missing."""
    from focusgan.prepare.classifier import make_classifier
    from focusgan.prepare.pipeline import prepare as prepare_dataset

    path = cfg.dataset_file(spec, out)
    if path.is_file():
        log(f"  data      {path} (exists, kept)")
        return path
    if spec.prepare is None:
        raise UserError(f"dataset {spec.name!r}: file not found: {path}")
    recipe = prepare_recipe(spec, cfg.base_dir)
    classifier = recipe.classifier
    if classifier.inception_weights is None:  # the experiment's weights serve the filter too
        classifier = dataclasses.replace(
            classifier, inception_weights=cfg.evaluate.inception_weights
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = [*to_flags(recipe.options), *to_flags(recipe.run), *to_flags(classifier)]
    log(f"  prepare   focusgan prepare {recipe.source} {' '.join(flags)} --out {path}")
    prepare_dataset(recipe.options, path, run=recipe.run, classifier=make_classifier(classifier))
    if not path.is_file():
        raise UserError(f"dataset {spec.name!r}: prepare wrote no file {path}")
    return path


def run_experiment(
    cfg: ExperimentConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    stop_after: int | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Do (or finish) every part of the experiment; returns the summary in experiment.json.

    `stop_after` pauses each training after that many steps in this call (for job time limits);
    the experiment is then unfinished and a rerun resumes it.
    """
    from focusgan.data.dataset import read_info
    from focusgan.metrics import evaluate as ev

    folder = ExperimentDir(out)
    folder.path.mkdir(parents=True, exist_ok=True)
    e = cfg.evaluate
    for spec in cfg.datasets:  # check every recipe before hours of work start
        if spec.prepare is not None:
            prepare_recipe(spec, cfg.base_dir)
    summary: dict[str, Any] = {
        "name": cfg.name,
        "backbone": e.backbone,
        "finished": False,
        "datasets": [],
    }
    resolved = cfg.to_dict()
    resolved["datasets"] = [
        {**d, "file": str(cfg.dataset_file(s, folder.path).resolve())}
        for d, s in zip(resolved["datasets"], cfg.datasets, strict=True)
    ]
    _write_text(folder.config, yaml.safe_dump(resolved, sort_keys=False))
    bb = None
    scoring = dict(metrics=tuple(e.metrics), ref_n=e.ref_n, segmenter=e.segmenter())
    all_done = True
    t_all = time.perf_counter()
    n_parts = len(cfg.datasets)
    for i, spec in enumerate(cfg.datasets, 1):
        log(f"[dataset {i}/{n_parts}] {spec.name}")
        t0 = time.perf_counter()
        data = prepare(cfg, spec, folder.path, log)
        info = read_info(data)
        entry: dict[str, Any] = {
            "name": spec.name,
            "thesis": spec.thesis,
            "file": str(data.resolve()),
            "size": info.size,
            "channels": info.channels,
            "resolution": info.resolution,
            "prepare_seconds": round(time.perf_counter() - t0, 1),
            "runs": {},
        }
        if bb is None:
            bb = ev.get_backbone(e.backbone, e.inception_weights, e.device)
        dpath = folder.data_evaluation(spec.name, bb.name)
        n_data = min(e.n, info.size)
        if _done(dpath, n_data, e.seed):
            log(f"  evaluate  data: {dpath} (done)")
        else:
            log(f"  evaluate  data with {bb.name}, n={n_data}")
            data_metrics = tuple(m for m in e.metrics if m in ("is", "focus", "consistency"))
            ev.evaluate_dataset(
                data,
                bb,
                n=e.n,
                splits=min(e.splits, info.size),
                seed=e.seed,
                metrics=data_metrics or ("is",),
                segmenter=scoring["segmenter"],
                progress=progress,
            ).write(dpath)
        entry["data_evaluation"] = folder.relative(dpath)
        ctx = dict(cfg=cfg, folder=folder, bb=bb, scoring=scoring, stop_after=stop_after)
        ctx.update(progress=progress, log=log)
        runs, done = _train_and_evaluate(spec.name, data, info, cfg.channels, cfg.train, **ctx)
        entry["runs"] = runs
        all_done &= done
        variants = {}
        for v in cfg.variants:
            log(f"  variant   {v.name}")
            vdata = _variant_data(cfg, spec, v, data, folder, log)
            vinfo = read_info(vdata)
            runs, done = _train_and_evaluate(
                spec.name,
                vdata,
                vinfo,
                v.channels or cfg.channels,
                cfg.variant_train(v),
                variant=v.name,
                **ctx,
            )
            variants[v.name] = {"file": str(vdata.resolve()), "runs": runs}
            if v.background is not None and done:
                variants[v.name]["background"] = v.background
                variants[v.name]["painted_baseline"] = _painted_baseline(
                    spec.name, entry["runs"], v, vdata, **ctx
                )
            all_done &= done
        if variants:
            entry["variants"] = variants
        summary["datasets"].append(entry)
    summary["finished"] = all_done
    summary["seconds_this_call"] = round(time.perf_counter() - t_all, 1)
    _write_text(folder.summary, json.dumps(summary, indent=2) + "\n")
    if all_done:
        write_report_samples(folder)
    return summary


def _train_and_evaluate(
    name: str,
    data: Path,
    info: Any,
    channels_list: list[int],
    settings: dict[str, Any],
    *,
    cfg: ExperimentConfig,
    folder: ExperimentDir,
    bb: Any,
    scoring: dict[str, Any],
    stop_after: int | None,
    progress: bool,
    log: Log,
    variant: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Train (or finish) and evaluate the runs of one dataset, one per number of channels, with
    these training settings; returns experiment.json's `runs` and whether all are finished."""
    from focusgan.metrics import evaluate as ev
    from focusgan.training.loop import train

    e = cfg.evaluate
    runs: dict[str, Any] = {}
    all_done = True
    for channels in channels_list:
        if channels == 4 and info.channels != 4:
            log(f"  skip      4-channel run: {data} has no focus channel")
            continue
        run = folder.run(name, channels, variant)
        tcfg = train_config(settings, data, channels)
        step = run.step()
        r: dict[str, Any] = {"dir": folder.relative(run.path), "iters": tcfg.iters}
        t0 = time.perf_counter()
        if step is not None and step >= tcfg.iters:
            log(f"  train     {channels}-channel: {run.path} (done, step {step})")
        else:
            how = f"resuming at step {step}" if step is not None else "from scratch"
            log(f"  train     {channels}-channel -> {run.path} ({how}, {tcfg.iters} steps)")
            res = train(
                tcfg,
                run.path,
                resume=step is not None,
                stop_after=stop_after,
                progress=progress,
                evaluate=ev.in_training_evaluation(tcfg, e.inception_weights),
            )
            step = res.step
            if res.status != "finished":
                log(f"  paused    {channels}-channel at step {step} ({res.status}); rerun")
                all_done = False
                r.update(step=step, status=res.status)
                runs[str(channels)] = r
                if res.status == "interrupted":
                    raise KeyboardInterrupt
                continue
        r["train_seconds"] = round(time.perf_counter() - t0, 1)
        r.update(step=step, status="finished")
        sampling = dict(n=e.n, splits=e.splits, seed=e.seed, progress=progress, **scoring)
        epath = run.evaluation(bb.name)
        if _done(epath, e.n, e.seed, e.splits, step):
            log(f"  evaluate  {channels}-channel: {epath} (done)")
        else:
            log(f"  evaluate  {channels}-channel, step {step}, n={e.n}")
            ev.evaluate_run(
                run.path, data, bb, ema=e.ema, bn=e.bn, device=bb.device, **sampling
            ).write(epath)
        r["evaluation"] = folder.relative(epath)
        if e.initial:
            ipath = run.evaluation(bb.name, initial=True)
            if _done(ipath, e.n, e.seed, e.splits, 0):
                log(f"  evaluate  {channels}-channel initial generator: {ipath} (done)")
            else:
                log(f"  evaluate  {channels}-channel initial (step-0) generator, n={e.n}")
                source = {
                    "run": str(run.path),
                    "checkpoint": "initial (torch.manual_seed(seed) + build_models, as "
                    "train starts)",
                    "step": 0,
                    "generator": "initial",
                }
                G0 = ev.step0_generator(tcfg, e.bn, bb.device)  # sampled as the trained one
                metrics = tuple(m for m in e.metrics if m != "pairs")  # it is their floor
                ev.evaluate_generator_samples(
                    G0, data, bb, source, bn=e.bn, **{**sampling, "metrics": metrics}
                ).write(ipath)
            r["initial_evaluation"] = folder.relative(ipath)
        runs[str(channels)] = r
    return runs, all_done


def _painted_baseline(
    name: str,
    runs: dict[str, Any],
    v: Any,
    vdata: Path,
    *,
    cfg: ExperimentConfig,
    folder: ExperimentDir,
    bb: Any,
    scoring: dict[str, Any],
    progress: bool,
    log: Log,
    **_: Any,
) -> dict[str, str]:
    """A foreground-only variant's common reference: the baseline's 4-channel generator with
    its samples' backgrounds replaced as the variant's data has them, scored against that data
    (IS, FID, KID, precision/recall), so both generators are compared on one reference."""
    from focusgan.metrics import evaluate as ev

    e = cfg.evaluate
    out = {}
    r = runs.get("4")
    if not r or r.get("status") != "finished":
        return out
    run = RunDir(folder.resolve(r["dir"]))
    path = folder.run(name, 4, v.name).path.parent / f"baseline-4ch.evaluation-{bb.name}.json"
    metrics = tuple(m for m in e.metrics if m in ("is", "fid", "kid", "pr"))
    if _done(path, e.n, e.seed, e.splits, r["step"]):
        log(f"  evaluate  baseline 4-channel, background {v.background}: {path} (done)")
    elif metrics:
        log(f"  evaluate  baseline 4-channel with background {v.background} against {vdata}")
        ev.evaluate_run(
            run.path,
            vdata,
            bb,
            ema=e.ema,
            bn=e.bn,
            device=bb.device,
            background=v.background,
            n=e.n,
            splits=e.splits,
            seed=e.seed,
            progress=progress,
            **{**scoring, "metrics": metrics},
        ).write(path)
    if path.is_file():
        out["4"] = folder.relative(path)
    return out


def _variant_data(
    cfg: ExperimentConfig, spec: DatasetSpec, v: Any, data: Path, folder: ExperimentDir, log: Log
) -> Path:
    """The dataset a variant trains on: the dataset itself, or its foreground-only copy."""
    from focusgan.prepare.background import write_foreground_only

    if v.background is None:
        return data
    path = folder.data_file(f"{spec.name}.{v.name}")
    if path.is_file():
        log(f"  data      {path} (exists, kept)")
    else:
        log(f"  data      foreground-only ({v.background}) copy of {data} -> {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_foreground_only(data, path, v.background)
    return path


def _done(
    path: Path, n: int, seed: int, splits: int | None = None, step: int | None = None
) -> bool:
    """Whether `path` holds an evaluation made with these settings (then it is kept)."""
    result = Evaluation.read(path)
    return result is not None and result.made_with(n, seed, splits, step)


def write_report_samples(out: str | os.PathLike | ExperimentDir, n: int = 256) -> None:
    """Sample every run's trained and step-0 generator for the report: `n` (at least the
    grid's) samples of each on fixed latents (seed 0), batch-norm batch statistics, stored in
    `report-samples.npz` beside the run. Kept when made at the same step with the same `n`."""
    from focusgan.training.config import TrainConfig
    from focusgan.training.rundir import load_generator
    from focusgan.training.sample import generate

    folder = out if isinstance(out, ExperimentDir) else ExperimentDir(out)
    summary = _read_summary(folder)
    n = max(REPORT_GRID, n)
    for d in summary["datasets"]:
        runs = [*d["runs"].values()]
        runs += [r for v in d.get("variants", {}).values() for r in v["runs"].values()]
        for r in runs:
            run = RunDir(folder.resolve(r["dir"]))
            path = folder.report_samples(run)
            step = run.step()
            if _samples_made(path, step, n):
                continue
            arrays: dict[str, Any] = {"n": np.array(n)}
            if step is not None:
                G, _, _ = load_generator(run.path)
                arrays["trained"] = generate(G, n, seed=REPORT_SEED)
                arrays["step"] = np.array(step)
                if G.num_classes:  # a row of samples per class (the most frequent first)
                    arrays.update(_class_rows(G, run))
            G0 = initial_generator(TrainConfig.from_dict(yaml.safe_load(run.config.read_text())))
            arrays["initial"] = generate(G0, n, seed=REPORT_SEED)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, **arrays)


def _class_rows(G: Any, run: RunDir) -> dict[str, np.ndarray]:
    """Samples of each of a conditional generator's most frequent classes (REPORT_CLASSES of
    them, CLASS_ROW each, the same latents for every class), with their labels and names."""
    from focusgan.training.config import TrainConfig
    from focusgan.training.sample import generate

    cfg = TrainConfig.from_dict(yaml.safe_load(run.config.read_text()))
    order = np.argsort(-np.asarray(cfg.class_counts or [1] * G.num_classes), kind="stable")
    shown = order[:REPORT_CLASSES]
    rows = np.stack([generate(G, CLASS_ROW, seed=REPORT_SEED, cls=int(k)) for k in shown])
    names = [f"{cfg.class_names[k]} ({cfg.classes[k]})" for k in shown]
    return {"class_rows": rows, "class_names": np.array(names)}


def _samples_made(path: Path, step: int | None, n: int) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return int(z["n"]) == n and (int(z["step"]) if "step" in z else None) == step
    except (OSError, ValueError, KeyError):
        return False


def _read_summary(folder: ExperimentDir) -> dict[str, Any]:
    try:
        return json.loads(folder.summary.read_text())
    except (OSError, ValueError):
        raise UserError(
            f"{folder.path} holds no experiment.json: run `focusgan experiment CONFIG --out "
            f"{folder.path}` first"
        ) from None


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
