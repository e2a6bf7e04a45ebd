"""Speed of evaluation: backbone feature extraction (images/s) and dataset row reading.

For each backbone, the plain baseline is one image at a time with torch's default threads and
memory layout; then the default layout at the first batch size, and, with the backbone as
focusgan loads it (channels-last on CPUs), batch sizes (and, on CPU, thread counts) are swept,
each printed with its ratio to the baseline. The Inception numbers use a weights file of the right structure with random
values (speed does not depend on the values; the real file is not shipped). Also compares
`metrics.cache.read_rows` with h5py's point selection for scattered dataset rows.

    .venv/bin/python benchmarks/metrics.py                 # CPU
    .venv/bin/python benchmarks/metrics.py --device cuda   # GPU, when there is one
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from focusgan.metrics.cache import read_rows
from focusgan.models.backbones import load_backbone, write_random_inception_weights


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_s(bb, images: torch.Tensor, batch_size: int, repeat: int = 2) -> float:
    """Best of `repeat` timed passes over `images` (after one warm-up batch)."""
    bb.features_and_probs(images[:batch_size], batch_size)
    best = float("inf")
    for _ in range(repeat):
        sync(bb.device)
        t0 = time.perf_counter()
        bb.features_and_probs(images, batch_size)
        sync(bb.device)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def bench_backbone(
    name: str,
    weights: str | None,
    device: torch.device,
    n: int,
    batch_sizes: list[int],
    threads: list[int],
    resolution: int,
) -> None:
    bb = load_backbone(name, weights, device, verify=False)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=gen)
    default_threads = torch.get_num_threads()
    base_n = min(n, 16 if device.type == "cpu" else 64)
    loaded = bb.model  # as focusgan places it (channels-last on CPUs)
    bb.model = copy.deepcopy(loaded).to(memory_format=torch.contiguous_format)
    base = images_per_s(bb, images[:base_n], 1)
    plain = images_per_s(bb, images, batch_sizes[0])
    bb.model = loaded
    print(f"\n{name} on {device} ({resolution}x{resolution} uint8 input, {n} images)")
    print(f"  baseline  batch 1, {default_threads} threads: {base:8.1f} images/s (default layout)")
    print(
        f"  default layout, batch {batch_sizes[0]}, {default_threads} threads: {plain:8.1f} "
        f"images/s  x{plain / base:5.2f}"
    )
    best = (base, 1, default_threads)
    for th in threads if device.type == "cpu" else [default_threads]:
        torch.set_num_threads(th)
        for bs in batch_sizes:
            rate = images_per_s(bb, images, bs)
            print(f"  batch {bs:4d}, {th} threads: {rate:8.1f} images/s  x{rate / base:5.2f}")
            if rate > best[0]:
                best = (rate, bs, th)
    torch.set_num_threads(default_threads)
    print(
        f"  best: batch {best[1]}, {best[2]} threads: {best[0]:.1f} images/s "
        f"(x{best[0] / base:.2f} the baseline)"
    )


def bench_read_rows(n_rows: int = 20000, pick: int = 2000, res: int = 64) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.h5"
        with h5py.File(path, "w") as f:  # chunked by sample, as dataset files are
            ds = f.create_dataset(
                "images", (n_rows, res, res, 4), np.uint8, chunks=(1, res, res, 4)
            )
            for s in range(0, n_rows, 4096):
                ds[s : s + 4096] = np.random.default_rng(s).integers(
                    0, 256, (min(4096, n_rows - s), res, res, 4), dtype=np.uint8
                )
        idx = np.sort(np.random.default_rng(0).permutation(n_rows)[:pick])
        with h5py.File(path, "r") as f:
            t0 = time.perf_counter()
            a = f["images"][idx]
            t_h5 = time.perf_counter() - t0
            t0 = time.perf_counter()
            b = read_rows(f["images"], idx)
            t_ours = time.perf_counter() - t0
        assert np.array_equal(a, b)
    print(
        f"\nscattered rows ({pick} of {n_rows}, {res}x{res}x4): h5py point selection "
        f"{t_h5:.3f} s, read_rows {t_ours:.3f} s  x{t_h5 / t_ours:.1f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=None, help="images per timed pass")
    p.add_argument("--backbones", default="efficientnet-lite0,inception")
    p.add_argument("--batch-sizes", default=None)
    p.add_argument("--threads", default=None, help="CPU thread counts to try")
    p.add_argument("--resolution", type=int, default=64, help="input image side")
    args = p.parse_args()
    device = torch.device(args.device)
    cpu = device.type == "cpu"
    n = args.n or (64 if cpu else 2048)
    sizes = [int(b) for b in (args.batch_sizes or ("8,32,64" if cpu else "64,200,500")).split(",")]
    threads = [int(t) for t in (args.threads or f"1,{os.cpu_count()}").split(",")]
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_random_inception_weights(Path(tmp) / "random-inception.pth")
        for name in args.backbones.split(","):
            w = str(weights) if name == "inception" else None
            bench_backbone(name, w, device, n, sizes, sorted(set(threads)), args.resolution)
    bench_read_rows()


if __name__ == "__main__":
    main()
