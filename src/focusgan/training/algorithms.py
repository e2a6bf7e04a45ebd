"""The GANs a run can train, chosen by name (`TrainConfig.arch`), as stylegan2-ada names its
network and loss classes in its config: each names its networks, its optimiser schedules, its EMA
and one training step (its critic steps and its generator step). The loop
(`focusgan.training.loop`) owns everything else (data, noise, checkpoints, logs, the NaN guard,
processes) and calls only what is here, so a new GAN is one class in `ALGORITHMS`.

- `wgan-gp`: the thesis's ResNet WGAN-GP (DESIGN section 4; `models/resnet.py`, `loss.py`).
- `r3gan`: R3GAN (Huang et al. 2024; `models/r3gan.py`, `rpgan.py`), with the official
  training loop's order: one discriminator step then one generator step on the same real batch,
  lr / beta2 / gamma / EMA half-life on half-cosine schedules of the images seen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from focusgan.errors import UserError
from focusgan.models import r3gan
from focusgan.models.resnet import Critic, Generator
from focusgan.training import distributed, rpgan
from focusgan.training.config import TrainConfig
from focusgan.training.loss import critic_loss, generator_loss


@dataclass
class StepContext:
    """What one training step works with; `noise(draw, n, *shape)` is this process's `n` of the
    global batch's draws, `class_draws(n, device)` labels drawn as often as the data has them."""

    cfg: TrainConfig
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    data: object  # focusgan.training.data.TrainingData
    noise: Callable[..., torch.Tensor]
    class_draws: Callable[..., torch.Tensor]
    bc: int  # this process's critic batch
    bg: int  # this process's generator batch
    d: distributed.Dist


def _class_weights(G: nn.Module, cfg: TrainConfig) -> None:
    if cfg.conditional and cfg.num_classes and cfg.class_counts:
        G.class_weights.copy_(torch.tensor(cfg.class_counts, dtype=torch.float32))


class Algorithm:
    name = ""

    def check(self, cfg: TrainConfig) -> None:
        """A one-line UserError for settings this GAN cannot train with."""

    def build_models(self, cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
        raise NotImplementedError

    def log_names(self, cfg: TrainConfig) -> tuple[str, ...]:
        """The losses `step` returns (device scalars, averaged in metrics.jsonl)."""
        raise NotImplementedError

    def lr_factor(self, cfg: TrainConfig) -> Callable[[int], float]:
        """lr at generator step s = cfg.lr * factor(s) (a LambdaLR)."""
        raise NotImplementedError

    def ema_beta(self, cfg: TrainConfig, step: int) -> float:
        """The EMA generator's decay after generator step `step` (0-based)."""
        raise NotImplementedError

    def real_images_per_step(self, cfg: TrainConfig) -> int:
        raise NotImplementedError

    def step(self, ctx: StepContext, step: int) -> dict[str, torch.Tensor]:
        """One generator step with its critic steps; the losses named by `log_names`, with
        `loss_d` and `loss_g` among them (the NaN guard reads those)."""
        raise NotImplementedError


class WganGp(Algorithm):
    name = "wgan-gp"

    def build_models(self, cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
        classes = cfg.num_classes if cfg.conditional else 0
        G = Generator(cfg.channels, cfg.width, cfg.resolution, cfg.z_dim, classes)
        D = Critic(
            cfg.channels, cfg.width, cfg.resolution, cfg.critic_norm, classes, cfg.critic_head
        )
        _class_weights(G, cfg)  # the generator step draws labels as often as the data has them
        return G, D

    def log_names(self, cfg: TrainConfig) -> tuple[str, ...]:
        names = ("loss_d", "wasserstein", "gp", "loss_g")
        if cfg.conditional and cfg.critic_head == "ac":
            names += ("ac_loss",)  # the critic's classification loss on real samples
        return names

    def lr_factor(self, cfg: TrainConfig) -> Callable[[int], float]:
        return lambda s: max(0.0, 1.0 - s / cfg.decay_iters)  # linear to 0

    def ema_beta(self, cfg: TrainConfig, step: int) -> float:
        return min(cfg.ema_decay, (1 + step) / (10 + step))

    def real_images_per_step(self, cfg: TrainConfig) -> int:
        return cfg.n_critic * cfg.batch_critic

    def step(self, ctx: StepContext, step: int) -> dict[str, torch.Tensor]:
        cfg, G, D = ctx.cfg, ctx.G, ctx.D
        for _ in range(cfg.n_critic):
            real, y = ctx.data.next_batch_with_labels(ctx.bc, cfg.dequantize)
            with torch.no_grad():
                fake = G(ctx.noise(torch.randn, ctx.bc, cfg.z_dim), y)
            loss = critic_loss(D, real, fake, ctx.noise(torch.rand, ctx.bc), cfg.gp_weight, y)
            ctx.opt_d.zero_grad(set_to_none=True)
            loss.total.backward()
            distributed.average_gradients(D, ctx.d)
            ctx.opt_d.step()

        D.requires_grad_(False)
        y_g = ctx.noise(ctx.class_draws, ctx.bg) if cfg.conditional else None
        fake = G(ctx.noise(torch.randn, ctx.bg, cfg.z_dim), y_g)
        loss_g = generator_loss(D, fake) if y_g is None else generator_loss(D, fake, y_g)
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        distributed.average_gradients(G, ctx.d)
        ctx.opt_g.step()
        D.requires_grad_(True)
        out = {
            "loss_d": loss.total,
            "wasserstein": loss.wasserstein,
            "gp": loss.penalty,
            "loss_g": loss_g,
            "ac_loss": loss.classification,
        }
        return {k: v.detach() for k, v in out.items() if v is not None}


class R3Gan(Algorithm):
    name = "r3gan"

    def check(self, cfg: TrainConfig) -> None:
        if cfg.batch_gen != cfg.batch_critic:
            raise UserError(
                f"--arch r3gan: --batch-gen ({cfg.batch_gen}) must equal --batch-critic "
                f"({cfg.batch_critic}): both steps use the same real batch"
            )

    def build_models(self, cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
        classes = cfg.num_classes if cfg.conditional else 0
        common = dict(expansion=cfg.expansion, resolution=cfg.resolution, num_classes=classes)
        try:
            G = r3gan.Generator(
                cfg.channels, cfg.widths, cfg.cardinalities, cfg.blocks, z_dim=cfg.z_dim, **common
            )
            D = r3gan.Discriminator(
                cfg.channels,
                cfg.d_widths or cfg.widths,
                cfg.d_cardinalities or cfg.cardinalities,
                cfg.blocks,
                **common,
            )
        except ValueError as e:  # widths that do not fit the resolution or the groups
            raise UserError(f"--arch r3gan: {e}") from None
        _class_weights(G, cfg)
        return G, D

    def log_names(self, cfg: TrainConfig) -> tuple[str, ...]:
        return ("loss_d", "margin", "r1", "r2", "loss_g", "gamma")

    def _nimg(self, cfg: TrainConfig, step: int) -> int:
        return step * cfg.batch_critic  # images seen before this step, as the official cur_nimg

    def lr_factor(self, cfg: TrainConfig) -> Callable[[int], float]:
        if cfg.lr == 0:  # a frozen run stays frozen
            return lambda s: 1.0
        return lambda s: rpgan.cosine_schedule(
            self._nimg(cfg, s), 1.0, cfg.lr_final / cfg.lr, cfg.decay_nimg
        )

    def ema_beta(self, cfg: TrainConfig, step: int) -> float:
        half_life = rpgan.cosine_schedule(self._nimg(cfg, step), 0, cfg.ema_nimg, cfg.decay_nimg)
        return 0.5 ** (cfg.batch_critic / max(half_life, 1e-8))

    def real_images_per_step(self, cfg: TrainConfig) -> int:
        return cfg.batch_critic

    def step(self, ctx: StepContext, step: int) -> dict[str, torch.Tensor]:
        cfg, G, D = ctx.cfg, ctx.G, ctx.D
        nimg = self._nimg(cfg, step)
        gamma = rpgan.cosine_schedule(nimg, cfg.gamma, cfg.gamma_final, cfg.decay_nimg)
        beta2 = rpgan.cosine_schedule(nimg, cfg.betas[1], cfg.beta2_final, cfg.decay_nimg)
        for opt in (ctx.opt_d, ctx.opt_g):
            for group in opt.param_groups:
                group["betas"] = (cfg.betas[0], beta2)
        real, y = ctx.data.next_batch_with_labels(ctx.bc, cfg.dequantize)
        with torch.no_grad():
            fake = G(ctx.noise(torch.randn, ctx.bc, cfg.z_dim), y)
        loss = rpgan.critic_loss(D, real, fake, gamma, y)
        ctx.opt_d.zero_grad(set_to_none=True)
        loss.total.backward()
        distributed.average_gradients(D, ctx.d)
        ctx.opt_d.step()

        D.requires_grad_(False)
        fake = G(ctx.noise(torch.randn, ctx.bc, cfg.z_dim), y)  # the real batch's labels
        loss_g = rpgan.generator_loss(D, fake, real, y)
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        distributed.average_gradients(G, ctx.d)
        ctx.opt_g.step()
        D.requires_grad_(True)
        return {
            "loss_d": loss.total.detach(),
            "margin": loss.margin,
            "r1": loss.r1,
            "r2": loss.r2,
            "loss_g": loss_g.detach(),
            "gamma": torch.tensor(gamma, device=loss_g.device),
        }


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (WganGp(), R3Gan())}


def algorithm(cfg: TrainConfig) -> Algorithm:
    return ALGORITHMS[cfg.arch]


def build_models(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """The generator and critic of `cfg`'s architecture, freshly initialised."""
    return algorithm(cfg).build_models(cfg)


def generator_with(
    cfg: TrainConfig, weights: dict[str, torch.Tensor], source: str | os.PathLike
) -> torch.nn.Module:
    """The generator `train` builds for `cfg` (`build_models`, the one place that knows the
    architectures), with `weights`; a one-line error naming `source` when they do not fit."""
    try:
        G = build_models(cfg)[0]
        G.load_state_dict(weights)
    except (RuntimeError, TypeError, ValueError, AttributeError) as e:
        why = "; ".join(x.strip() for x in str(e).splitlines() if x.strip())[:300]
        raise UserError(
            f"{source}: its weights do not fit the generator its config describes ({why})"
        ) from None
    return G
