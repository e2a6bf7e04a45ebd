"""Run a `prepare` source over many inputs: worker processes, shards, resumable chunks.

Every source (COCO, image+mask pairs, video) has the same shape of work, its `Job`: a list of
picklable *items* (one per image, frame pair, video shot...) and a *work function* that turns a
list of items into a `ChunkResult` (samples, their metadata, and a `FilterSummary` of what it
kept, rejected and skipped). `prepare(options, out, run=RunOptions(...))` writes the file a
source's options describe (`CocoOptions`, `PairOptions`, `VideoOptions`: `options.job()`);
`prepare_dataset` does the work:

    prepare_dataset(items, work, out, resolution=64, channels=4, mask_semantics="binary",
                    config={...}, workers=None, shard=None)

- `shard=(i, n)` keeps items i, i+n, i+2n, ... (0-based `i`), so n machines can each write one
  file and `focusgan merge` joins them. Counts about the whole input that belong to no item
  (`global_summary`, e.g. annotations of unknown images) are kept in shard 0 only, so the merged
  summary adds up.
- Items are cut into chunks of `chunk_size`; `work` runs on chunks in `workers` processes
  (default: all usable cores; 0 or 1 runs in this process). Worker processes are forked
  from a fork server that imported the work's module once (`spawn` where there is none) and
  use one OpenCV thread each; `work` must therefore be a module-level function, or a
  `functools.partial` of one, whose module does not import torch; and (as always with `spawn`
  and fork servers) a script that calls this with workers needs an `if __name__ == "__main__":`
  guard, and every worker re-runs that script's top-level imports: import torch inside the
  guard, not at the top (measured: +3 s per worker start on 2 cores).
- `postprocess(result)` (optional) runs in the parent on each finished chunk, e.g. the classifier
  filter (`focusgan.prepare.classifier`), which may use a GPU while workers keep decoding.
- Each finished chunk is saved atomically in `OUT.parts/` (an `.npz` per chunk, written by the
  worker itself, or by the parent after `postprocess`; plus a `manifest.json` holding a
  fingerprint of `config`, the items and the shard). The parent appends saved chunks in item
  order to `OUT.partial` through `DatasetWriter` while the others compute, and renames it to
  `OUT` and removes `OUT.parts/` when all are in. Interrupting leaves the parts and no file under
  the final name; running the same command again reuses every saved chunk and does only the
  rest. A different fingerprint discards the old parts.

The samples of a chunk are in item order and chunks are written in order, so the output does
not depend on the number of workers, nor on where they run: `executor="ray"` (`--executor ray`)
runs the same chunks as Ray tasks on a cluster (`focusgan.prepare.ray_executor`, the optional
extra), returning each chunk to this process, which saves the parts and writes the file.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError
from focusgan.prepare.background import BACKGROUNDS, replace_background
from focusgan.prepare.images import QUALITY_MARGIN, decode_rgb, reduction_factor
from focusgan.prepare.transform import FITS
from focusgan.utils.atomic import atomic_path, partial_path
from focusgan.utils.options import option

PARTS_VERSION = 1
EXECUTORS = ("local", "ray")  # `ray`: focusgan.prepare.ray_executor (the optional extra)


@dataclass
class ChunkResult:
    """What a work function returns for one chunk of items.

    `images`: uint8 (n, S, S, C); `metadata`: per-sample columns of length n named as in
    `focusgan.data.dataset.METADATA`; `summary`: the counts of this chunk; `items`: how many
    items it covered (for progress and throughput).
    """

    images: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    summary: FilterSummary = field(default_factory=FilterSummary)
    items: int = 0

    @classmethod
    def collect(
        cls, samples: list, metadata: dict, summary: FilterSummary, items: int, opts: SampleOptions
    ) -> ChunkResult:
        """A chunk's result from its list of samples and metadata lists (none: an empty array
        of the options' sample shape)."""
        s, c = opts.size, opts.channels
        images = np.stack(samples) if samples else np.zeros((0, s, s, c), np.uint8)
        return cls(images, {k: np.asarray(v) for k, v in metadata.items()}, summary, items)

    def __len__(self) -> int:
        return len(self.images)

    def select(self, keep: np.ndarray) -> ChunkResult:
        """The samples where the boolean `keep` is true (metadata follows; summary unchanged)."""
        keep = np.asarray(keep, dtype=bool)
        meta = {k: np.asarray(v)[keep] for k, v in self.metadata.items()}
        return ChunkResult(self.images[keep], meta, self.summary, self.items)


@dataclass(frozen=True, kw_only=True)
class SampleOptions:
    """What every source's samples share: their size, how they are made square, channels."""

    size: int = option(64, "sample side in pixels")
    fit: str = option(
        "squash", "how a photo becomes square (default squash, as the thesis)", choices=FITS
    )
    channels: int = option(4, "4 = RGB + focus mask (default), 3 = RGB only", choices=(3, 4))
    reduced_decode: bool = option(
        True, "decode JPEGs at full size (slower; for comparison; photos only)"
    )
    background: str = option(  # foreground-only data: the thesis's future work 3
        "keep",
        "replace the pixels outside the mask (< 0.5): black, mean (the sample's own background "
        "colour) or noise; the mask channel is kept (default keep)",
        choices=BACKGROUNDS,
    )
    decode_margin: float = option(QUALITY_MARGIN, cli=False)  # see focusgan.prepare.images

    def decode(self, data: bytes, region_width: float, region_height: float) -> tuple:
        """A photo's RGB pixels (`data`: its file's bytes), decoded at the smallest size that
        still gives its square region (width x height at full size) the sample's quality;
        returns (image, reduction factor)."""
        factor = reduction_factor(
            region_width, region_height, self.size, self.reduced_decode, self.decode_margin
        )
        return decode_rgb(data, factor), factor

    def job(self, run: RunOptions) -> Job:
        """The work of this source (each source's options class defines it)."""
        raise NotImplementedError

    def validate(self) -> None:
        if self.fit not in FITS:
            raise UserError(f"--fit must be one of {', '.join(FITS)}, not {self.fit!r}")
        if self.size < 8:
            raise UserError(f"--size {self.size} is too small (at least 8)")
        if self.background not in BACKGROUNDS:
            raise UserError(
                f"--background must be one of {', '.join(BACKGROUNDS)}, not {self.background!r}"
            )
        if self.background != "keep" and self.channels != 4:
            raise UserError(
                f"--background {self.background} needs the mask: use --channels 4 (a 3-channel "
                "run of the file then reads the foreground-only RGB)"
            )


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a prepare job runs (never what it makes): processes, a shard, a progress bar."""

    workers: int | None = option(
        None, "worker processes for decoding (default: all cores; 0 = in this process)"
    )
    shard: tuple[int, int] | None = option(
        None,
        "take items I, I+N, I+2N, ... (0-based), to split a job; see `merge`",
        metavar="I/N",
        convert=lambda text: parse_shard(str(text)),
        show=lambda shard: f"{shard[0]}/{shard[1]}",
    )
    progress: bool = option(True, "no progress bar", flag="--quiet")
    executor: str = option(
        "local",
        "where chunks run: local (worker processes, default) or ray (Ray tasks on the cluster "
        "of --ray-address, else a local Ray instance; pip install 'focusgan[ray]')",
        choices=EXECUTORS,
    )
    ray_address: str | None = option(
        None, "the Ray cluster to join (HEAD:6379, ray://HEAD:10001 or auto)", metavar="ADDR"
    )


@dataclass
class Job:
    """A source's work as the pipeline runs it: items, the work function, what the file records."""

    items: list
    work: Callable[[list], ChunkResult]  # a module-level function or a partial of one
    mask_semantics: str
    config: dict  # everything that decides the samples: the resume fingerprint
    extra: dict  # how the file was made, stored in its `extra`
    global_summary: FilterSummary | None = None  # counts about the input that no item carries
    item_key: Callable[[Any], Any] = repr
    chunk_size: int = 64
    unit: str = "item"  # what one item is (image, pair, video, video part): bar and rate


@dataclass
class PrepareReport:
    """What `prepare_dataset` did: the file, its summary, and the timing of this run."""

    path: Path
    samples: int
    summary: FilterSummary
    items: int
    chunks: int
    reused_chunks: int
    seconds: float
    workers: int
    unit: str = "item"  # what one source item is (image, pair, video)
    computed_items: int | None = None  # items worked on in this call (not reused); None: all

    def rate(self) -> str:
        """Items worked on in this call per second, or per minute below one a second (3
        significant digits: a few slow videos do not round to 0)."""
        done = self.items if self.computed_items is None else self.computed_items
        if self.seconds <= 0 or done == 0:
            return f"no {self.unit}s computed"
        per_s = done / self.seconds
        if per_s >= 1:
            return f"{per_s:.3g} {self.unit}s/s"
        return f"{per_s * 60:.3g} {self.unit}s/min"

    def lines(self) -> list[str]:
        done = self.chunks - self.reused_chunks
        out = [
            f"wrote {self.path}: {self.samples} samples from {self.items} source "
            f"{self.unit}{'s' * (self.items != 1)} in {self.seconds:.1f} s ({self.rate()}, "
            f"{self.workers} workers)"
        ]
        if self.reused_chunks:
            out.append(f"resumed: reused {self.reused_chunks} saved chunks, computed {done}")
        out += self.summary.lines()
        return out


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' (0 <= I < N) to (I, N); None stays None. Bad text is a `UserError`."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must look like I/N (e.g. 0/4), not {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text}: need 0 <= I < N (shards are numbered from 0)")
    return i, n


def shard_items(items: Sequence, shard: tuple[int, int] | None) -> list:
    """Items i, i+n, i+2n, ... of shard (i, n); all items without a shard."""
    items = list(items)
    return items if shard is None else items[shard[0] :: shard[1]]


def parts_dir(out: str | os.PathLike) -> Path:
    """Where the saved chunks of an unfinished `out` live."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def fingerprint(
    config: dict,
    items: Sequence,
    shard: tuple[int, int] | None,
    chunk_size: int,
    item_key: Callable[[Any], Any] = repr,
) -> str:
    """A hash of everything that decides the chunks' contents (not the number of workers).

    `item_key(item)` identifies an item (default `repr`); `config` must identify the inputs.
    """
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "config": config,
                "shard": shard,
                "chunk_size": chunk_size,
                "parts_version": PARTS_VERSION,
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    for item in items:
        h.update(repr(item_key(item)).encode())
    return h.hexdigest()


def _pool(processes: int, work: Callable) -> ProcessPoolExecutor:
    """A pool of fresh worker processes.

    `concurrent.futures`, not `multiprocessing.Pool`: stopping a `Pool` after an interruption
    (`terminate`) can hang for ever, its task thread waiting for the queue's lock (seen in this
    project's suite); the executor's shutdown cancels the chunks not started and waits for the
    few that run.

    Where the platform has it (Linux, macOS), a fork server that has imported the work
    function's module once forks the workers: each then starts in milliseconds instead of
    importing OpenCV, NumPy and pycocotools again (seconds on slow file systems). Elsewhere,
    `spawn`. Either way no worker inherits the parent's threads (torch, a GPU, OpenCV).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        module = getattr(getattr(work, "func", work), "__module__", None)
        ctx.set_forkserver_preload([m for m in (__name__, module) if m])
    else:  # pragma: no cover - Windows
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(processes, mp_context=ctx, initializer=_worker_init)


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    cv2.setNumThreads(1)


def _run_chunk(
    args: tuple[Callable[[list], ChunkResult], int, list, Path | None],
) -> tuple[int, ChunkResult]:
    """Run one chunk. With a `save_to` path the worker saves the part itself (parallel I/O) and
    sends back only its counts; otherwise the parent gets the samples (for a postprocess)."""
    work, index, chunk, save_to = args
    result = work(chunk)
    result.items = len(chunk)
    if save_to is None:
        return index, result
    _save_chunk(save_to, result)
    return index, ChunkResult(result.images[:0], {}, result.summary, result.items)


def _save_chunk(path: Path, result: ChunkResult) -> None:
    arrays = {"images": result.images}
    for name, values in result.metadata.items():
        values = np.asarray(values)
        arrays["meta_" + name] = values.astype(str) if values.dtype == object else values
    arrays["summary"] = np.array(result.summary.to_json())
    arrays["items"] = np.array(result.items)
    # Written then renamed, so a killed process never leaves a complete-looking part; not
    # fsync'ed (parts are a cache: after a power cut `_open_parts` drops unreadable ones).
    tmp = partial_path(path)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_chunk(path: Path) -> ChunkResult:
    with np.load(path, allow_pickle=False) as z:
        meta = {k[5:]: z[k] for k in z.files if k.startswith("meta_")}
        return ChunkResult(
            z["images"], meta, FilterSummary.from_json(str(z["summary"])), int(z["items"])
        )


def _open_parts(parts: Path, key: str, n_chunks: int) -> set[int]:
    """Prepare the parts folder for a job with fingerprint `key`; the chunk indices already done."""
    manifest = parts / "manifest.json"
    if parts.exists():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("fingerprint") != key:
            print(
                f"note: {parts} holds chunks of a different job (other arguments or inputs); "
                "starting over",
                file=sys.stderr,
            )
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not manifest.exists():
        with atomic_path(manifest) as tmp:
            tmp.write_text(json.dumps({"fingerprint": key, "chunks": n_chunks}))
    done = set()
    for p in parts.glob("chunk-*.npz"):
        try:
            index = int(p.stem.split("-")[1])
            with np.load(p, allow_pickle=False) as z:  # reads the zip directory only
                complete = {"images", "summary", "items"} <= set(z.files)
        except (IndexError, ValueError, OSError, zipfile.BadZipFile):
            index, complete = -1, False
        if complete and index < n_chunks:
            done.add(index)
        else:
            p.unlink(missing_ok=True)  # damaged (e.g. by a power cut): computed again
    return done


def prepare_dataset(
    items: Sequence,
    work: Callable[[list], ChunkResult],
    out: str | os.PathLike,
    *,
    resolution: int,
    channels: int,
    mask_semantics: str,
    config: dict,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    chunk_size: int = 64,
    global_summary: FilterSummary | None = None,
    extra: dict | None = None,
    postprocess: Callable[[ChunkResult], ChunkResult] | None = None,
    progress: bool = True,
    desc: str = "prepare",
    item_key: Callable[[Any], Any] = repr,
    background: str = "keep",
    unit: str = "item",
    executor: str = "local",
    ray_address: str | None = None,
) -> PrepareReport:
    """Run `work` over `items` (see the module docstring) and write the dataset file `out`.

    `background` (`focusgan.prepare.background`) replaces the pixels outside each sample's mask
    as the samples are written (after any `postprocess`, so a classifier sees whole samples).
    `executor="ray"` runs the chunks as Ray tasks (`focusgan.prepare.ray_executor`; the
    driver, this process, writes the parts and the file, as here)."""
    from tqdm import tqdm

    from focusgan.data.dataset import DatasetWriter

    start_time = time.perf_counter()
    cluster = None
    if executor == "ray":  # the optional extra: imported only when asked for
        from focusgan.prepare.ray_executor import RayCluster

        cluster = RayCluster.connect(ray_address)
        workers = cluster.cpus
    elif executor != "local":
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    out = Path(out)
    items = shard_items(items, shard)
    if cluster is None:
        workers = default_workers() if workers is None else max(0, int(workers))
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    parts = parts_dir(out)
    key = fingerprint(config, items, shard, chunk_size, item_key)
    done = _open_parts(parts, key, len(chunks))
    reused = len(done)
    reused_items = sum(len(chunks[i]) for i in done)  # what the saved chunks hold
    part = [parts / f"chunk-{i:06d}.npz" for i in range(len(chunks))]
    driver_saves = postprocess is not None or cluster is not None
    todo = [
        (work, i, chunks[i], None if driver_saves else part[i])
        for i in range(len(chunks))
        if i not in done
    ]

    summary = FilterSummary()
    if global_summary is not None and (shard is None or shard[0] == 0):
        summary.update(global_summary)
    extra = dict(extra or {})
    extra["background"] = background  # the file records the choice
    if shard is not None:
        extra["shard"] = f"{shard[0]}/{shard[1]}"
    bar = tqdm(
        total=len(items),
        desc=desc,
        unit=unit,
        disable=not progress,
        file=sys.stderr,
        initial=reused_items,
        dynamic_ncols=True,
    )
    written = 0  # chunks 0..written-1 are in the file

    def drain(w: DatasetWriter) -> None:
        nonlocal written
        while written in done:  # append finished chunks in order while the rest compute
            saved = _load_chunk(part[written])
            summary.update(saved.summary)
            if len(saved):
                w.append(replace_background(saved.images, background), **saved.metadata)
            written += 1

    def finish(index: int, result: ChunkResult, w: DatasetWriter) -> None:
        if driver_saves:  # the parent has the samples: postprocess (here or on Ray) and save
            if len(result) and postprocess is not None and cluster is None:
                result = postprocess(result)
            _save_chunk(part[index], result)
        done.add(index)
        bar.update(result.items)
        drain(w)

    pool = None
    try:
        with DatasetWriter(
            out,
            resolution=resolution,
            channels=channels,
            mask_semantics=mask_semantics,
            summary=summary,
            extra=extra,
        ) as w:
            drain(w)  # chunks saved by an interrupted run
            if todo and cluster is not None:
                shape = (resolution, resolution, channels)
                for index, result in cluster.run(todo, postprocess, shape):
                    finish(index, result, w)
            elif todo and (workers <= 1 or len(todo) == 1):
                threads = cv2.getNumThreads()
                cv2.setNumThreads(1)
                try:
                    for args in todo:
                        finish(*_run_chunk(args), w)
                finally:
                    cv2.setNumThreads(threads)
            elif todo:
                pool = _pool(min(workers, len(todo)), work)
                for job in as_completed([pool.submit(_run_chunk, args) for args in todo]):
                    finish(*job.result(), w)
            samples = w.size
    except KeyboardInterrupt:
        bar.close()
        print(
            f"interrupted: {len(done)} of {len(chunks)} chunks are saved in {parts}; run the "
            "same command again to finish",
            file=sys.stderr,
        )
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if cluster is not None:
            cluster.close()
        bar.close()
    shutil.rmtree(parts, ignore_errors=True)
    return PrepareReport(
        out,
        samples,
        summary,
        len(items),
        len(chunks),
        reused,
        time.perf_counter() - start_time,
        max(1, workers),
        unit,
        len(items) - reused_items,
    )


def prepare(
    opts: SampleOptions,
    out: str | os.PathLike,
    *,
    run: RunOptions | None = None,
    classifier: Callable[[ChunkResult], ChunkResult] | None = None,
    chunk_size: int | None = None,
) -> PrepareReport:
    """Write the dataset file that `opts` describes (`CocoOptions`, `PairOptions` or
    `VideoOptions`); `classifier` (`focusgan.prepare.classifier.make_classifier`) drops the
    unconfident samples. `chunk_size` overrides the source's (tests use small chunks)."""
    run = run or RunOptions()
    job = opts.job(run)
    config, extra = dict(job.config), dict(job.extra)
    if classifier is not None:
        config["classifier"] = extra["classifier"] = classifier.config()
    return prepare_dataset(
        job.items,
        job.work,
        out,
        resolution=opts.size,
        channels=opts.channels,
        mask_semantics=job.mask_semantics,
        config=config,
        workers=run.workers,
        shard=run.shard,
        chunk_size=chunk_size or job.chunk_size,
        global_summary=job.global_summary,
        extra=extra,
        postprocess=classifier,
        progress=run.progress,
        desc=f"prepare {config['source']}",
        item_key=job.item_key,
        background=opts.background,
        unit=job.unit,
        executor=run.executor,
        ray_address=run.ray_address,
    )
