"""`focusgan experiment`: prepare, train 3- and 4-channel runs with the same seed, evaluate all.

Layout of the output folder (every file is written atomically, so a file present is finished):

    OUT/experiment.yaml                        the resolved experiment (datasets as absolute paths)
    OUT/experiment.json                        what was done: parts, files, seconds (for the report)
    OUT/data/NAME.h5                           datasets prepared from a recipe without `file`
    OUT/NAME/data.evaluation-BACKBONE.json     the training data's own scores
    OUT/NAME/run-3ch/, OUT/NAME/run-4ch/       the runs (see `focusgan train`)
    OUT/NAME/run-Cch/evaluation-BACKBONE.json          the trained (final) generator
    OUT/NAME/run-Cch/initial.evaluation-BACKBONE.json  the same run's step-0 generator

Rerunning the command skips finished parts: a prepared file under its final name, a run whose
checkpoint reached `iters`, an evaluation file of the same step and settings. An interrupted
training is resumed with `resume=True` (bit-exact on the CPU), an interrupted prepare reuses its
finished chunks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from focusgan.errors import UserError
from focusgan.experiment.config import DatasetSpec, ExperimentConfig, prepare_recipe

Log = Callable[[str], None]


def run_dir(out: Path, spec: DatasetSpec, channels: int) -> Path:
    return out / spec.name / f"run-{channels}ch"


def eval_name(backbone: str, initial: bool = False) -> str:
    return f"{'initial.' if initial else ''}evaluation-{backbone}.json"


def data_eval_path(out: Path, spec: DatasetSpec, backbone: str) -> Path:
    return out / spec.name / f"data.evaluation-{backbone}.json"


def train_config(cfg: ExperimentConfig, data: Path, channels: int):
    """The TrainConfig of one run: the experiment's preset and settings, this data and channels."""
    from focusgan.data.dataset import read_info
    from focusgan.training.config import for_data, make_config

    settings = dict(cfg.train)
    preset = settings.pop("preset", "thesis")
    tcfg = make_config(preset, data=str(data.resolve()), channels=channels, **settings)
    return for_data(tcfg, read_info(data))  # as `train` resolves it, so the step-0 model matches


def initial_generator(tcfg):
    """The generator a run starts from: `train` seeds torch with `seed` and builds the models,
    so doing the same gives exactly the step-0 weights (the EMA generator starts as a copy)."""
    import torch

    from focusgan.training.loop import build_models

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(tcfg.seed)
        G, _ = build_models(tcfg)
    finally:
        torch.random.set_rng_state(state)
    return G.eval()


def _checkpoint_step(run: Path) -> int | None:
    from focusgan.training import checkpoint

    latest = run / "checkpoints" / checkpoint.LATEST
    if not latest.exists():
        return None
    return int(checkpoint.load(latest)["step"])


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _same_eval(
    result: dict | None, cfg: ExperimentConfig, step: int | None = None, n: int | None = None
) -> bool:
    """Whether a stored evaluation was made with the experiment's settings (n, seed, step)."""
    if not result:
        return False
    prov = result.get("provenance", {})
    ev = cfg.evaluate
    if prov.get("seed") != ev.seed or prov.get("n") != (n or ev.n):
        return False
    if step is not None:
        return prov.get("splits") == ev.splits and prov.get("source", {}).get("step") == step
    return True


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
    log(f"  prepare   focusgan prepare {recipe.source} -> {path}")
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
    from focusgan.training.loop import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    e = cfg.evaluate
    metrics = tuple(e.metrics)
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
        {**d, "file": str(cfg.dataset_file(s, out).resolve())}
        for d, s in zip(resolved["datasets"], cfg.datasets, strict=True)
    ]
    _write_text(out / "experiment.yaml", yaml.safe_dump(resolved, sort_keys=False))
    bb = None
    seg = e.segmenter()
    all_done = True
    t_all = time.perf_counter()
    n_parts = len(cfg.datasets)
    for i, spec in enumerate(cfg.datasets, 1):
        log(f"[dataset {i}/{n_parts}] {spec.name}")
        t0 = time.perf_counter()
        data = prepare(cfg, spec, out, log)
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
        dpath = data_eval_path(out, spec, bb.name)
        if _same_eval(_read_json(dpath), cfg, n=min(e.n, info.size)):
            log(f"  evaluate  data: {dpath} (done)")
        else:
            log(f"  evaluate  data with {bb.name}, n={min(e.n, info.size)}")
            data_metrics = tuple(m for m in metrics if m in ("is", "focus", "consistency"))
            result = ev.evaluate_dataset(
                data,
                bb,
                n=e.n,
                splits=min(e.splits, info.size),
                seed=e.seed,
                metrics=data_metrics or ("is",),
                segmenter=seg,
                progress=progress,
            )
            ev.write_json(dpath, result)
        entry["data_evaluation"] = str(dpath.relative_to(out))
        for channels in cfg.channels:
            if channels == 4 and info.channels != 4:
                log(f"  skip      4-channel run: {data} has no focus channel")
                continue
            run = run_dir(out, spec, channels)
            tcfg = train_config(cfg, data, channels)
            step = _checkpoint_step(run)
            r: dict[str, Any] = {"dir": str(run.relative_to(out)), "iters": tcfg.iters}
            t0 = time.perf_counter()
            if step is not None and step >= tcfg.iters:
                log(f"  train     {channels}-channel: {run} (done, step {step})")
            else:
                how = f"resuming at step {step}" if step is not None else "from scratch"
                log(f"  train     {channels}-channel -> {run} ({how}, {tcfg.iters} steps)")
                res = train(
                    tcfg,
                    run,
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
                    entry["runs"][str(channels)] = r
                    if res.status == "interrupted":
                        raise KeyboardInterrupt
                    continue
            r["train_seconds"] = round(time.perf_counter() - t0, 1)
            r.update(step=step, status="finished")
            kwargs = dict(
                metrics=metrics,
                ref_n=e.ref_n,
                segmenter=seg,
                splits=e.splits,
                seed=e.seed,
                progress=progress,
            )
            epath = run / eval_name(bb.name)
            if _same_eval(_read_json(epath), cfg, step):
                log(f"  evaluate  {channels}-channel: {epath} (done)")
            else:
                log(f"  evaluate  {channels}-channel, step {step}, n={e.n}")
                result = ev.evaluate_run(
                    run, data, bb, ema=e.ema, bn=e.bn, n=e.n, device=bb.device, **kwargs
                )
                ev.write_json(epath, result)
            r["evaluation"] = str(epath.relative_to(out))
            if e.initial:
                ipath = run / eval_name(bb.name, initial=True)
                if _same_eval(_read_json(ipath), cfg, 0):
                    log(f"  evaluate  {channels}-channel initial generator: {ipath} (done)")
                else:
                    log(f"  evaluate  {channels}-channel initial (step-0) generator, n={e.n}")
                    ev.write_json(ipath, evaluate_initial(run, tcfg, data, bb, cfg, kwargs))
                r["initial_evaluation"] = str(ipath.relative_to(out))
            entry["runs"][str(channels)] = r
        summary["datasets"].append(entry)
    summary["finished"] = all_done
    summary["seconds_this_call"] = round(time.perf_counter() - t_all, 1)
    _write_text(out / "experiment.json", json.dumps(summary, indent=2) + "\n")
    return summary


def evaluate_initial(run: Path, tcfg, data: Path, bb, cfg: ExperimentConfig, kwargs: dict) -> dict:
    """Score the run's step-0 generator exactly as the trained one (same n, z seed, BN mode)."""
    from focusgan.metrics import evaluate as ev
    from focusgan.training.sample import generate

    e = cfg.evaluate
    G = initial_generator(tcfg).to(bb.device)
    images = generate(G, e.n, batch_size=256, seed=e.seed, bn=e.bn)
    result = ev.evaluate_images(images, data, bb, **kwargs)
    result["notes"] = ev.quick_notes(e.n, e.splits, bb.name) + result["notes"]
    src = {
        "kind": "run",
        "run": str(run),
        "checkpoint": "initial (torch.manual_seed(seed) + build_models, as train starts)",
        "step": 0,
        "generator": "initial",
        "bn": e.bn,
        "z_seed": e.seed,
        "channels": tcfg.channels,
        "resolution": tcfg.resolution,
        "data": str(data),
    }
    result["provenance"] = ev.provenance(bb, e.n, e.splits, e.seed, src)
    return result


def _write_text(path: Path, text: str) -> None:
    from focusgan.utils.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text)
