"""Benchmark `prepare video` at scale on this machine: Ray vs the process pool, shards vs files,
the tail of one long video among short ones.

Inputs are generated (seeded synthetic videos, `focusgan.video.synthetic`, 96x128, 12 fps, MPEG-4):
`--short` short videos of 40 frames (two shots) and one long video of `--long-shots` shots of 40
frames; the short ones also packed as a WebDataset shard (mp4 + json per key, as video2dataset
writes). Every run uses the shipped settings with the frame filters off (every candidate kept),
8 candidates per shot, 64x64 samples.

1. overhead: the short videos with `--workers 2` on the process pool and as Ray tasks on a local
   Ray instance of 2 CPUs (its start-up timed apart), alternating, `--repeat` times (the first
   Ray run is cold: its workers start and import). The files must be the same.
2. source frames/s per core: one process (`--workers 0`), CPU time, from the files and from the
   shard (alternating, best of `--repeat`); plus finding the members of a 400 MB shard from
   its tar headers (`index_shard`) against reading it through with `webdataset`.
4. the driver's own work per chunk (Ray or pool): save the part, read it back, append it to the
   HDF5 file; what bounds a cluster's samples/s (see RESULTS.md).
5. the executors' own cost per chunk: `--chunks` chunks of a work function that does nothing,
   on the process pool and on Ray (2 workers), alternating.
3. the tail: the short videos then the long one, the long video whole (`--split-mb 0`) and in
   parts (`--split-mb` = its size / `--parts`): each item's CPU time (one process, so the other
   jobs on a shared machine matter less), the schedule of W workers taking the items in order
   against the ideal (all work / W), and the measured wall time on 2 workers (process pool).

Run: `python benchmarks/prepare_ray.py [--short 8 --long-shots 16 --parts 8 --repeat 2]`.
"""

from __future__ import annotations

import argparse
import heapq
import io
import json
import os
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from focusgan.data.summary import FilterSummary  # noqa: E402
from focusgan.prepare.filters import MaskFilter  # noqa: E402
from focusgan.prepare.pipeline import ChunkResult, RunOptions, prepare  # noqa: E402
from focusgan.prepare.video import VideoOptions  # noqa: E402
from focusgan.prepare.video_items import index_shard  # noqa: E402
from focusgan.video.io import write_video  # noqa: E402
from focusgan.video.synthetic import make_video  # noqa: E402

SIZE = (96, 128)
SHOT = 40


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def opts(paths: list[Path], split_mb: float = 0.0) -> VideoOptions:
    return VideoOptions(paths=paths, filter=MaskFilter(), min_shot=4, split_mb=split_mb)


def run(paths, out: Path, split_mb: float = 0.0, **run_opts) -> tuple[float, float]:
    """(wall s, CPU s of this process) of one prepare."""
    wall, cpu = time.perf_counter(), time.process_time()
    prepare(opts(paths, split_mb), out, run=RunOptions(progress=False, **run_opts))
    return time.perf_counter() - wall, time.process_time() - cpu


def item_costs(paths, split_mb: float) -> list[float]:
    """CPU seconds of each item of the job, run one by one in this process."""
    job = opts(paths, split_mb).job(RunOptions(workers=0))
    costs = []
    for item in job.items:
        t = time.process_time()
        job.work([item])
        costs.append(time.process_time() - t)
    return costs


def makespan(costs: list[float], workers: int) -> float:
    """When the last item ends if `workers` take the items in order, each the next one as soon
    as it is free (what the process pool and Ray do with chunks submitted in order)."""
    free = [0.0] * workers
    for c in costs:
        heapq.heapreplace(free, free[0] + c)
    return max(free)


def nothing(items: list) -> ChunkResult:
    """A work function with no work: what is left is the executor's cost per chunk."""
    return ChunkResult(np.zeros((0, 8, 8, 4), np.uint8), {}, FilterSummary(), len(items))


def overhead(chunks: int, repeat: int) -> str:
    """ms per chunk of `nothing` on the process pool and on Ray (started apart), alternating."""
    import ray

    from focusgan.prepare.pipeline import prepare_dataset

    def one(executor: str, out: Path) -> float:
        t = time.perf_counter()
        prepare_dataset(list(range(chunks)), nothing, out, resolution=8, channels=4,
                        mask_semantics="binary", config={}, workers=2, chunk_size=1,
                        progress=False, executor=executor)  # fmt: skip
        return 1000 * (time.perf_counter() - t) / chunks

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    with tempfile.TemporaryDirectory() as tmp:
        pool, rays = [], []
        for _ in range(repeat + 1):  # the first Ray run starts its workers
            pool.append(one("local", Path(tmp) / "p.h5"))
            rays.append(one("ray", Path(tmp) / "r.h5"))
    ray.shutdown()
    return (f"process pool {' / '.join(f'{x:.2f}' for x in pool)} ms per chunk, Ray "
            f"{' / '.join(f'{x:.2f}' for x in rays)}; best Ray / best pool "
            f"x{min(rays[1:]) / min(pool):.1f}")  # fmt: skip


def same(a: Path, b: Path) -> bool:
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        return all(fa[k][()].tobytes() == fb[k][()].tobytes() for k in ("images", "frame"))


def make_inputs(root: Path, short: int, long_shots: int) -> tuple[list[Path], Path, Path]:
    shorts = [
        write_video(root / "short" / f"{i:09d}.mp4", make_video(i, SIZE, (24, 16)).frames, 12)
        for i in range(short)
    ]
    long = write_video(root / "long.mp4", make_video(99, SIZE, (SHOT,) * long_shots).frames, 12)
    shard = root / "00000.tar"
    with tarfile.open(shard, "w") as tar:
        for v in shorts:
            for name, data in ((v.name, v.read_bytes()),
                               (v.stem + ".json", json.dumps({"url": str(v)}).encode())):  # fmt: skip
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return shorts, long, shard


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--short", type=int, default=8)
    p.add_argument("--long-shots", type=int, default=16)
    p.add_argument("--parts", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--sections", default="12345", help="which measures to run (default all)")
    p.add_argument("--chunks", type=int, default=200, help="empty chunks of measure 5")
    args = p.parse_args()
    import ray

    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shorts, long, shard = make_inputs(root, args.short, args.long_shots)
        frames = 40 * len(shorts)

        if "1" in args.sections:
            # 1. overhead: pool and Ray runs alternate (the machine is shared), best of --repeat
            t = time.perf_counter()
            ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
            start_s = time.perf_counter() - t
            pool, rays = [], []
            for r in range(args.repeat):
                pool.append(run(shorts, root / "pool.h5", workers=2)[0])
                rays.append(run(shorts, root / f"ray{r}.h5", executor="ray")[0])
            ray.shutdown()
            ok = all(same(root / "pool.h5", root / f"ray{r}.h5") for r in range(args.repeat))
            pool_s, cold_s, warm_s = min(pool), rays[0], min(rays[1:] or rays)
            print(f"1. {len(shorts)} videos, {frames} frames, 2 workers (load {load()}):")
            print(f"   process pool {' / '.join(f'{x:.1f}' for x in pool)} s; Ray start-up "
                  f"{start_s:.1f} s, then {' / '.join(f'{x:.1f}' for x in rays)} s; best warm Ray "
                  f"/ best pool x{warm_s / pool_s:.2f} (cold x{cold_s / pool_s:.2f}); "
                  f"same file: {ok}")  # fmt: skip

        if "2" in args.sections:
            # 2. frames/s per core, files vs shard
            files_cpu = shard_cpu = float("inf")
            for _ in range(args.repeat):  # alternating, best of --repeat (CPU time)
                files_cpu = min(files_cpu, run(shorts, root / "files.h5", workers=0)[1])
                shard_cpu = min(shard_cpu, run([shard], root / "shard.h5", workers=0)[1])
            print(f"2. one process (load {load()}): files {frames / files_cpu:.1f} frames/s per core, "
                  f"shard {frames / shard_cpu:.1f} (x{files_cpu / shard_cpu:.2f}); same samples: "
                  f"{same(root / 'files.h5', root / 'shard.h5')}")  # fmt: skip
            big = root / "big.tar"  # 100 members of 4 MB: what finding the members costs
            with tarfile.open(big, "w") as tar:
                data = os.urandom(4 << 20)
                for i in range(100):
                    info = tarfile.TarInfo(f"{i:09d}.mp4")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            t = time.perf_counter()
            members = len(index_shard(big, FilterSummary()))
            index_s = time.perf_counter() - t
            import webdataset as wds

            t = time.perf_counter()
            read = sum(len(s["mp4"]) for s in wds.WebDataset(str(big), shardshuffle=False))
            wds_s = time.perf_counter() - t
            print(f"   finding the members of a {big.stat().st_size / 1e6:.0f} MB shard ({members} "
                  f"videos): tar headers (`index_shard`) {1000 * index_s:.1f} ms; webdataset "
                  f"reading it through {1000 * wds_s:.0f} ms ({read / 1e6:.0f} MB)")  # fmt: skip

        if "3" in args.sections:
            # 3. the tail: per-item CPU costs (one process; robust to the other jobs on the machine),
            # the schedules they give W workers taking items in order, and the measured wall time
            inputs = [*shorts, long]  # the long one last, as chance may order it
            split_mb = long.stat().st_size / 2**20 / args.parts * 1.001
            costs = {mb: item_costs(inputs, mb) for mb in (0.0, split_mb)}
            walls = {mb: run(inputs, root / f"w{mb}.h5", split_mb=mb, workers=2)[0] for mb in costs}
            total = 40 * (len(shorts) + args.long_shots)
            print(f"3. 1 long video ({40 * args.long_shots} frames, {args.long_shots} shots) after "
                  f"{len(shorts)} short ones ({total} frames in all), CPU s of the work "
                  f"(load {load()}):")  # fmt: skip
            for mb, c in costs.items():
                name = "whole" if mb == 0 else f"in {args.parts} parts"
                sims = "; ".join(f"{w} workers {makespan(c, w):.1f} s = ideal x"
                                 f"{makespan(c, w) / (sum(c) / w):.2f}" for w in (2, 4, 16))  # fmt: skip
                print(f"   long video {name}: {len(c)} items, {sum(c):.1f} s of work; schedules: "
                      f"{sims}; measured, 2 workers: {walls[mb]:.1f} s wall")  # fmt: skip

        if "4" in args.sections:
            # 4. what the driver does per chunk: save the part, read it back, append to the file
            from focusgan.data.dataset import DatasetWriter
            from focusgan.prepare.pipeline import _load_chunk, _save_chunk

            rng = np.random.default_rng(0)
            n, chunks = 40, 100  # 40 samples of 64x64x4 (~ a video's) per chunk
            chunk = ChunkResult(rng.integers(0, 256, (n, 64, 64, 4), np.uint8),
                                {"source": np.array(["v.mp4"] * n), "frame": np.arange(n)},
                                FilterSummary(), 1)  # fmt: skip
            spent = {"save": 0.0, "read": 0.0, "append": 0.0}
            t0 = time.perf_counter()
            with DatasetWriter(root / "driver.h5", resolution=64, channels=4,
                               mask_semantics="probability") as w:  # fmt: skip
                for i in range(chunks):
                    t = time.perf_counter()
                    _save_chunk(root / f"c{i}.npz", chunk)
                    spent["save"] += time.perf_counter() - t
                    t = time.perf_counter()
                    c = _load_chunk(root / f"c{i}.npz")
                    spent["read"] += time.perf_counter() - t
                    t = time.perf_counter()
                    w.append(c.images, **c.metadata)
                    spent["append"] += time.perf_counter() - t
            per_chunk = (time.perf_counter() - t0) / chunks
            parts = ", ".join(f"{k} {1000 * v / chunks:.1f}" for k, v in spent.items())
            print(f"4. driver, per chunk of {n} samples ({n * 64 * 64 * 4 / 1e3:.0f} kB): save part + "
                  f"read back + append {1000 * per_chunk:.1f} ms ({parts} ms) = "
                  f"{n / per_chunk:.0f} samples/s (load {load()})")  # fmt: skip
    if "5" in args.sections:
        print(f"5. {args.chunks} chunks of a work function that does nothing, 2 workers: "
              f"{overhead(args.chunks, args.repeat)} (load {load()})")  # fmt: skip
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
