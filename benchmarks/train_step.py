"""Training-step speed: focusgan's step against a plain eager fp32 WGAN-GP step, in one run.

Prints generator iterations/s and real images/s (n_critic * batch_critic per generator step) for
both, and their ratio. The plain step is what a straightforward port of the reference code does:
batches from a DataLoader over the HDF5 file, real and fake through the critic separately, and
the losses read back to the host every step, in PyTorch's default memory layout (focusgan uses
channels-last on CPUs, `utils.device.to_device`).

    python benchmarks/train_step.py --preset tiny --device cpu --steps 20
    python benchmarks/train_step.py --preset thesis --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from focusgan.data.dataset import FocusDataset
from focusgan.data.toy import make_toy_dataset
from focusgan.training import distributed
from focusgan.training.config import make_config
from focusgan.training.data import TrainingData
from focusgan.training.loop import build_models
from focusgan.training.loss import critic_loss, generator_loss
from focusgan.utils.device import to_device


def focusgan_step(cfg, G, D, opt_g, opt_d, data, device):
    """The loop body of focusgan.training.loop.train (without bookkeeping)."""
    for _ in range(cfg.n_critic):
        real = data.next_batch(cfg.batch_critic, cfg.dequantize)
        with torch.no_grad():
            fake = G(torch.randn(cfg.batch_critic, cfg.z_dim, device=device))
        loss = critic_loss(D, real, fake, torch.rand(cfg.batch_critic, device=device))
        opt_d.zero_grad(set_to_none=True)
        loss.total.backward()
        opt_d.step()
    D.requires_grad_(False)
    loss_g = generator_loss(D, G(torch.randn(cfg.batch_gen, cfg.z_dim, device=device)))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)


def plain_step(cfg, G, D, opt_g, opt_d, batches, device):
    """A straightforward eager fp32 port of the reference step."""
    for _ in range(cfg.n_critic):
        real = next(batches).to(device).float() / 127.5 - 1
        fake = G(torch.randn(cfg.batch_critic, cfg.z_dim, device=device)).detach()
        eps = torch.rand(cfg.batch_critic, 1, 1, 1, device=device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)[0]
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = D(fake).mean() - D(real).mean() + 10 * gp
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        loss.item()
    loss_g = -D(G(torch.randn(cfg.batch_gen, cfg.z_dim, device=device))).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    loss_g.item()


def forever(loader):
    while True:
        yield from loader


def measure(step, steps: int, warmup: int, device) -> float:
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds")
    ap.add_argument("--resolution", type=int, default=None, help="default: 32 tiny, 64 thesis")
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument(
        "--channels-last",
        action="store_true",
        help="focusgan's models in channels-last layout on any device (the default places them "
        "as training does: channels-last on CPUs only), to measure the layout on a GPU",
    )
    args = ap.parse_args()
    _, device = distributed.init(args.device)
    if device.type == "cuda":  # as training does; global, so both steps get it
        torch.backends.cudnn.benchmark = True
    resolution = args.resolution or (32 if args.preset == "tiny" else 64)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_toy_dataset(Path(tmp) / "toy.h5", n=2048, resolution=resolution)
        cfg = make_config(
            args.preset, data=str(path), channels=args.channels, resolution=resolution
        )
        steps = {}
        for name in ("plain", "focusgan"):
            torch.manual_seed(0)
            G, D = build_models(cfg)
            if name == "plain":
                G, D = G.to(device), D.to(device)
            else:  # as training places them (channels-last on CPUs)
                G, D = to_device(G, device), to_device(D, device)
                if args.channels_last:
                    G, D = (m.to(memory_format=torch.channels_last) for m in (G, D))
            opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
            opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
            if name == "plain":
                loader = torch.utils.data.DataLoader(
                    FocusDataset(path, cfg.channels),
                    batch_size=cfg.batch_critic,
                    shuffle=True,
                    drop_last=True,
                    num_workers=0,
                )
                batches = forever(loader)

                def step(G=G, D=D, og=opt_g, od=opt_d, b=batches):
                    plain_step(cfg, G, D, og, od, b, device)
            else:
                data = TrainingData(str(path), cfg.channels, device, seed=0)

                def step(G=G, D=D, og=opt_g, od=opt_d, data=data):
                    focusgan_step(cfg, G, D, og, od, data, device)

            steps[name] = step
            measure(step, args.warmup, 0, device)
        # interleaved rounds, so a busy machine slows both alike; the median round counts
        rounds = {name: [] for name in steps}
        per_round = max(1, args.steps // args.rounds)
        for _ in range(args.rounds):
            for name, step in steps.items():
                rounds[name].append(measure(step, per_round, 0, device))
        results = {name: statistics.median(r) for name, r in rounds.items()}
    per_step = cfg.n_critic * cfg.batch_critic
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({name or 'cpu'}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    print(
        f"preset {args.preset}, {resolution}x{resolution}, {cfg.channels} channels, width "
        f"{cfg.width}, batch {cfg.batch_critic}/{cfg.batch_gen}, n_critic {cfg.n_critic}, "
        f"{args.rounds} interleaved rounds of {max(1, args.steps // args.rounds)} steps "
        f"after {args.warmup} warm-up, median round"
    )
    for name, its in results.items():
        print(f"{name:>9}: {its:8.3f} generator it/s  {its * per_step:10.1f} images/s")
    print(f"ratio focusgan/plain: {results['focusgan'] / results['plain']:.2f}x")


if __name__ == "__main__":
    main()
