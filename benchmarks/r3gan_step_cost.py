"""The CPU cost of a training step, R3GAN (`r3gan-thesis`) against the thesis's WGAN-GP
(`thesis`), through the loop's own seam (`training.algorithms`), on a dataset file.

Measures process CPU seconds (not disturbed much by other jobs on a shared machine, unlike wall
time) and wall seconds per generator step and per real image seen by the critic, one torch
thread, after one warm-up step; the batches may be reduced (`--batch`) so that a step fits on a
busy CPU (conv cost is linear in the batch; the preset's batch is in the printed row). The load
average is printed beside each row.

    python benchmarks/r3gan_step_cost.py --data moving-objects.h5 --batch 16 --steps 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

import torch  # noqa: E402

from focusgan.data.dataset import read_info  # noqa: E402
from focusgan.models.resnet import count_parameters  # noqa: E402
from focusgan.training import distributed  # noqa: E402
from focusgan.training.algorithms import StepContext, algorithm  # noqa: E402
from focusgan.training.config import for_data, make_config  # noqa: E402
from focusgan.training.data import TrainingData  # noqa: E402


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def measure(data: str, preset: str, channels: int, batch: int | None, steps: int) -> dict:
    cfg = make_config(preset, data=data, channels=channels)
    preset_batch = (cfg.batch_critic, cfg.batch_gen)
    if batch:
        gen = batch if cfg.arch == "r3gan" else 2 * batch  # the thesis: generator batch 2x
        cfg = make_config(preset, data=data, channels=channels, batch_critic=batch, batch_gen=gen)
    cfg = for_data(cfg, read_info(data))
    algo = algorithm(cfg)
    torch.manual_seed(0)
    G, D = algo.build_models(cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
    device = torch.device("cpu")
    d = distributed.Dist()
    td = TrainingData(cfg.data, cfg.channels, device, cfg.seed, 0, 1)

    def noise(draw, n, *shape):
        return draw(n, *shape, device=device)

    ctx = StepContext(cfg, G, D, opt_g, opt_d, td, noise, None, cfg.batch_critic, cfg.batch_gen, d)
    before = load()
    algo.step(ctx, 0)  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    for s in range(steps):
        algo.step(ctx, s + 1)
    cpu, wall = (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps
    images = algo.real_images_per_step(cfg)
    return {
        "arch": cfg.arch,
        "preset": preset,
        "channels": channels,
        "resolution": cfg.resolution,
        "G": count_parameters(G),
        "D": count_parameters(D),
        "preset_batch": preset_batch,
        "batch": (cfg.batch_critic, cfg.batch_gen),
        "real_images_per_step": images,
        "cpu_s_per_step": round(cpu, 2),
        "wall_s_per_step": round(wall, 2),
        "cpu_s_per_1k_images": round(1000 * cpu / images, 1),
        "load": f"{before} -> {load()}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--batch", type=int, default=None, help="critic batch (default: the preset's)")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--channels", type=int, nargs="+", default=[4])
    a = p.parse_args()
    torch.set_num_threads(1)
    for channels in a.channels:
        for preset in ("thesis", "r3gan-thesis"):
            print(json.dumps(measure(a.data, preset, channels, a.batch, a.steps)), flush=True)


if __name__ == "__main__":
    main()
