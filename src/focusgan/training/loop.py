"""The training loop: plain PyTorch, one function, no framework.

One generator step = what the run's GAN does in one step (`focusgan.training.algorithms`, chosen
by `arch`; WGAN-GP: `n_critic` critic steps, each on a fresh real batch, + one generator step),
then both learning rates follow the GAN's schedule and the EMA generator follows. Critic and generator
steps have static shapes and never wait for the host: losses stay on the device and are read
(and checked for NaN/inf) only every `log_every` steps and before a checkpoint is written.
"""

from __future__ import annotations

import copy
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from focusgan.data.dataset import read_info
from focusgan.data.labels import load_labels
from focusgan.errors import UserError, WorkError
from focusgan.models.batchnorm import synchronize
from focusgan.training import checkpoint, distributed
from focusgan.training.algorithms import StepContext, algorithm, build_models
from focusgan.training.config import (
    IDENTITY_FIELDS,
    RESUMABLE_FIELDS,
    TrainConfig,
    for_data,
    with_labels,
)
from focusgan.training.data import TrainingData
from focusgan.training.rundir import RunDir, read_jsonl
from focusgan.training.sample import generate_from, grid_labels, latents
from focusgan.utils.atomic import atomic_path
from focusgan.utils.device import to_device
from focusgan.utils.views import render, save_image

# In-training evaluation (`eval_every`): scores of the EMA generator at a step, as flat floats
# (`focusgan.metrics.evaluate.InTrainingEvaluation` is the one the command line passes).
Evaluator = Callable[[torch.nn.Module, int], dict[str, float]]


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    status: str  # "finished", "interrupted" (signal) or "paused" (--stop-after)


__all__ = ["build_models", "initial_generator", "train", "TrainResult"]


def initial_generator(cfg: TrainConfig) -> torch.nn.Module:
    """The generator a run starts from: `train` seeds torch with `seed` and builds the models,
    so doing the same gives exactly the step-0 weights (the EMA generator starts as a copy).
    The global RNG is left as it was."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(cfg.seed)
        G, _ = build_models(cfg)
    finally:
        torch.random.set_rng_state(state)
    return G.eval()


def _resume_config(cfg: TrainConfig, saved: TrainConfig, run_dir: Path) -> TrainConfig:
    """The saved config, with the settings a resume may change (length, logging) taken from `cfg`."""
    mine, theirs = (cfg.label_source, cfg.label_sha256), (saved.label_source, saved.label_sha256)
    if cfg.conditional and saved.conditional and mine != theirs:  # their source and values
        raise UserError(
            f"--resume: --labels: {run_dir} was trained on {_labels_text(saved)} but this "
            f"command's are {_labels_text(cfg)}; pass the run's --labels or start a new --out"
        )
    for name in IDENTITY_FIELDS:
        if getattr(cfg, name) != getattr(saved, name):
            raise UserError(
                f"--resume: {name} is {getattr(cfg, name)!r} but {run_dir} was trained "
                f"with {getattr(saved, name)!r}; drop the flag or start a new --out"
            )
    return TrainConfig.from_dict(
        {**saved.to_dict(), **{k: getattr(cfg, k) for k in RESUMABLE_FIELDS}}
    )


def _labels_text(cfg: TrainConfig) -> str:
    if not cfg.label_source:
        return "no recorded labels"
    where = f"file {cfg.labels}" if cfg.label_source == "file" else cfg.label_source
    return f"the labels of {where} (sha256 {cfg.label_sha256[:12]})"


class _Stop:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each generator step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, sig: int, frame: object) -> None:
        if self.signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = sig

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _ema_update(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    with torch.no_grad():
        torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1.0 - beta)
        for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
            b_ema.copy_(b)


def _truncate_jsonl(path: Path, step: int) -> None:
    """Drop records after `step` (they are recomputed when a run resumes) and a line cut short
    by a kill; rewritten atomically, so a kill now cannot lose the log."""
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    evaluate: Evaluator | None = None,
) -> TrainResult:
    """Train (or with `resume`, continue) the run in `run_dir` up to `cfg.iters` generator steps.

    `stop_after` ends this call after that many generator steps with a checkpoint (for job time
    limits); a later call with `resume=True` continues exactly where it stopped. `evaluate`
    scores the EMA generator every `cfg.eval_every` steps (required when that is set); it is
    built before training starts, so building it touches none of training's random streams.
    """
    run_dir = Path(run_dir)
    info = read_info(cfg.data)
    if info.size == 0:  # (an empty epoch would never end)
        raise UserError(f"{cfg.data} holds no images; prepare it again with looser filters")
    cfg = for_data(cfg, info)
    labels = load_labels(cfg.data, cfg.labels or None) if cfg.conditional else None
    if labels is not None:
        cfg = with_labels(cfg, labels)
    ckpt = None
    run = RunDir(run_dir)
    latest = run.latest
    if resume:
        if not latest.exists():
            raise UserError(f"--resume: {run_dir} has no checkpoint yet; start it without --resume")
        ckpt = checkpoint.load(latest)
        cfg = _resume_config(cfg, TrainConfig.from_dict(ckpt["config"]), run_dir)
    elif latest.exists():
        raise UserError(
            f"{run_dir} already holds a run; add --resume to continue it, or choose a new --out"
        )

    algo = algorithm(cfg)  # the GAN `arch` names: its networks, schedules and step
    algo.check(cfg)
    d, device = distributed.init(cfg.device)
    if d.main and cfg.eval_every and evaluate is None:
        raise UserError("eval_every is set but train() was given no evaluation to run")
    for name in ("batch_critic", "batch_gen"):
        if getattr(cfg, name) % d.world:
            raise UserError(f"{name} {getattr(cfg, name)} is not divisible by {d.world} processes")
    bc, bg = cfg.batch_critic // d.world, cfg.batch_gen // d.world
    if device.type == "cuda":  # static shapes: let cuDNN pick its fastest kernels once
        torch.backends.cudnn.benchmark = True

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    G, D = build_models(cfg)
    G, D = to_device(G, device), to_device(D, device)
    G_ema = copy.deepcopy(G).requires_grad_(False)  # local batch norm: only process 0 samples
    synchronize(G, d.world > 1)  # batch norm over the global batch, as one process would
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)

    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, algo.lr_factor(cfg))
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, algo.lr_factor(cfg))
    data = TrainingData(
        cfg.data,
        cfg.channels,
        device,
        cfg.seed,
        d.rank,
        d.world,
        labels=labels.index if labels is not None else None,
    )
    # one noise stream, the same in every process: each draws the global batch's noise and takes
    # its slice, so any number of processes trains the model one process would
    torch.manual_seed(cfg.seed * 1_000_003 + 1)

    def noise(draw: Callable[..., torch.Tensor], n: int, *shape: int) -> torch.Tensor:
        """This process's `n` of the global batch's `n * world` draws of `draw`."""
        return draw(n * d.world, *shape, device=device)[d.rank * n : (d.rank + 1) * n]

    def class_draws(n: int, device: torch.device) -> torch.Tensor:
        """Class labels drawn as often as the data has them (class-conditional runs)."""
        return torch.multinomial(G.class_weights, n, replacement=True)

    step, saved_step = 0, None  # saved_step: the last checkpoint written (all finite)
    if ckpt is not None:
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        G_ema.load_state_dict(ckpt["G_ema"])
        opt_g.load_state_dict(ckpt["opt_G"])
        opt_d.load_state_dict(ckpt["opt_D"])
        sched_g.load_state_dict(ckpt["sched_G"])
        sched_d.load_state_dict(ckpt["sched_D"])
        data.order.load_state_dict(ckpt["data_order"])
        step = saved_step = int(ckpt["step"])
        checkpoint.set_rng_state(ckpt["rng"][0])  # the one noise stream, for any world size
        del ckpt
    fixed_z = latents(cfg.n_samples_grid, cfg.z_dim, cfg.seed)
    fixed_y = grid_labels(cfg.n_samples_grid, cfg.num_classes) if cfg.conditional else None

    writer = None
    metrics_path = run.metrics
    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        run.samples.mkdir(exist_ok=True)
        cfg.save(run.config)
        _truncate_jsonl(metrics_path, step)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run.tensorboard), purge_step=step + 1 if step else None)

    def save_checkpoint(snapshot: bool) -> None:
        nonlocal saved_step
        state = {
            "step": step,
            "config": cfg.to_dict(),
            "G": G.state_dict(),
            "D": D.state_dict(),
            "G_ema": G_ema.state_dict(),
            "opt_G": opt_g.state_dict(),
            "opt_D": opt_d.state_dict(),
            "sched_G": sched_g.state_dict(),
            "sched_D": sched_d.state_dict(),
            "data_order": data.order.state_dict(),
        }
        state["rng"] = distributed.gather_objects(checkpoint.rng_state(), d)
        if d.main:
            checkpoint.save(state, latest, run.snapshot(step) if snapshot else None)
        saved_step = step

    def save_grid() -> None:
        images = generate_from(G_ema, fixed_z, bn="batch", labels=fixed_y)
        grid = render(images, "all")
        save_image(run.sample_grid(step), grid)
        writer.add_image("samples", grid, step, dataformats="HWC")

    def log_evaluation() -> None:
        """In-training scores of the EMA generator (`--eval-every`), kept out of the RNG streams."""
        rng = checkpoint.rng_state()
        scores = evaluate(G_ema, step)
        checkpoint.set_rng_state(rng)
        record = {"step": step, **{f"eval/{k}": v for k, v in scores.items()}}
        with open(metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in scores.items():
            writer.add_scalar(f"eval/{k}", v, step)

    # running sums on the device, read every `log_every` steps
    zero = torch.zeros((), device=device)
    names = algo.log_names(cfg)
    sums = {k: zero.clone() for k in names}
    finite = torch.ones((), dtype=torch.bool, device=device)
    logged_at, t_log = step, time.perf_counter()

    def state_is_finite() -> torch.Tensor:
        """Whether the weights, buffers and optimizer states a checkpoint would hold are finite
        (losses can be finite while a gradient, and so the weights after it, are not)."""
        tensors = [t for m in (G, D, G_ema) for t in m.state_dict().values()]
        for opt in (opt_g, opt_d):
            tensors += [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]
        return torch.stack([torch.isfinite(t).all() for t in tensors]).all()

    def check_finite(state: bool = False) -> None:
        """Stop on a non-finite loss since the last check or, with `state`, a non-finite state
        about to be saved: in every process together (the flags are all-reduced)."""
        flags = torch.stack([finite, state_is_finite() if state else torch.ones_like(finite)])
        losses_ok, state_ok = distributed.all_processes(flags, d)
        if losses_ok and state_ok:
            return
        what = (
            f"non-finite loss between steps {logged_at} and {step}"
            if not losses_ok
            else f"non-finite weights or optimizer state at step {step} (with finite losses: "
            "a NaN or infinite gradient)"
        )
        good = f"{latest} (step {saved_step})" if saved_step is not None else "none yet"
        raise WorkError(f"{what}; training stopped; last good checkpoint: {good}; try a lower --lr")

    status, steps_this_call = "finished", 0
    bar = tqdm(
        total=cfg.iters,
        initial=step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        disable=not (progress and d.main),
    )
    ctx = StepContext(cfg, G, D, opt_g, opt_d, data, noise, class_draws, bc, bg, d)
    with _Stop() as stop:
        while step < cfg.iters:
            G.train()
            losses = algo.step(ctx, step)
            sched_g.step()
            sched_d.step()
            _ema_update(G_ema, G, algo.ema_beta(cfg, step))
            step += 1
            steps_this_call += 1
            with torch.no_grad():
                for k in sums:
                    sums[k] += losses[k]
                finite &= torch.isfinite(losses["loss_d"]) & torch.isfinite(losses["loss_g"])
            bar.update(1)

            log_step = step % cfg.log_every == 0 or step == cfg.iters
            if log_step:
                check_finite()
                dt = time.perf_counter() - t_log
                n = step - logged_at
                record = {
                    "step": step,
                    **{k: float(v) / n for k, v in sums.items()},
                    "lr": sched_g.get_last_lr()[0],
                    "g_steps_per_s": n / dt,
                    "images_per_s": n * algo.real_images_per_step(cfg) / dt,
                }
                for v in sums.values():
                    v.zero_()
                logged_at, t_log = step, time.perf_counter()
                if d.main:
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    for k, v in record.items():
                        if k != "step":
                            writer.add_scalar(f"train/{k}", v, step)
                    bar.set_postfix(
                        loss_d=f"{record['loss_d']:.3f}",
                        loss_g=f"{record['loss_g']:.3f}",
                        img_s=f"{record['images_per_s']:.0f}",
                    )

            if d.main and (step % cfg.sample_every == 0 or step == cfg.iters):
                save_grid()
            if d.main and cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.iters):
                log_evaluation()
            signalled = stop.signal is not None
            if d.world > 1:  # a signal may reach one process: all stop at the same (log) step
                signalled = log_step and distributed.any_process(signalled, d, device)
            stopping = signalled or (stop_after is not None and steps_this_call >= stop_after)
            if step % cfg.checkpoint_every == 0 or step == cfg.iters or stopping:
                check_finite(state=True)  # a bad state never becomes the last good checkpoint
                save_checkpoint(snapshot=step % cfg.snapshot_every == 0 or step == cfg.iters)
            if stopping:
                status = "interrupted" if signalled else "paused"
                break
    bar.close()
    if writer is not None:
        writer.close()
    distributed.barrier(d)
    return TrainResult(run_dir, step, status)
