"""`--executor ray`: a prepare job's chunks as Ray tasks, on a cluster or a local Ray instance.

Ray is an optional extra (`pip install 'focusgan[ray]'`); only this module imports it, and only
when `--executor ray` asks for it. The job is the same `Job` as with the local process pool
(`focusgan.prepare.pipeline`): the same items, chunks and work function, so the file is the same.

- **Where the parts live**: each task returns its chunk's samples to the driver (the process
  that runs `focusgan prepare`), which saves the part in `OUT.parts/` next to `OUT` and appends
  it to the file, as with local workers. No shared file system is needed; an interrupted or
  killed driver, run again, reuses every saved part. (The driver receives every sample anyway,
  since it writes the one file: parts written by the workers on a shared path would save no
  transfer.)
- **Retries**: Ray re-runs a chunk whose worker process died (killed, out of memory, its node
  lost) up to `MAX_RETRIES` times. A chunk that still fails is split into its items, each run
  alone with the same retries; an item whose worker dies every time is skipped and counted
  ("worker died on this item") instead of failing the job. An exception raised by the work
  function (a bug, a `UserError`) is not retried: it stops the job, as locally.
- **Classifier filter** (`postprocess`): runs in one Ray actor, fed the chunks' results straight
  from the workers (they do not pass through the driver twice). The actor asks for one GPU
  (`num_gpus=1`) when the cluster has one, and moves the classifier there; otherwise one CPU.
  The chunks finished when it is called (up to `ACTOR_BATCH_CHUNKS`) go in one call, their
  samples classified together in batches of `ClassifierFilter.batch_size` (a video chunk alone
  holds a few dozen samples: too few to keep a GPU busy).
- **Backpressure**: at most `IN_FLIGHT_PER_CPU` chunks per cluster CPU are submitted at a time,
  so the object store and the driver hold a bounded number of finished chunks.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError
from focusgan.prepare.pipeline import ChunkResult, _run_chunk

INSTALL = "pip install 'focusgan[ray]'"
MAX_RETRIES = 3  # Ray's re-runs of a task whose worker process died
IN_FLIGHT_PER_CPU = 2
ACTOR_BATCH_CHUNKS = 16  # finished chunks the classifier actor takes in one call, at most
WORKER_DIED = "worker died on this item"


def import_ray() -> Any:
    """The `ray` module, or a one-line error saying how to install the extra."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray needs Ray, an optional extra: {INSTALL}") from None
    return ray


def check_address(address: str) -> None:
    """A one-line error unless something listens at HOST:PORT of `address` (Ray itself can
    take a minute to give up on an address where nothing answers)."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address}: expected HOST:PORT (e.g. 10.0.0.1:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise UserError(
            f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e})"
        ) from None


def _chunk_task(work: Callable, items: list) -> ChunkResult:
    """One chunk in a Ray worker (one OpenCV thread, as a local worker)."""
    import cv2

    cv2.setNumThreads(1)
    return _run_chunk((work, 0, items, None))[1]


class _Postprocess:
    """The Ray actor that runs the classifier filter (on its GPU when it was given one)."""

    def __init__(self, postprocess: Callable[[ChunkResult], ChunkResult]) -> None:
        import ray

        if ray.get_gpu_ids() and hasattr(postprocess, "to_device"):
            postprocess = postprocess.to_device("cuda")
        self.postprocess = postprocess

    def run_many(self, *results: ChunkResult) -> list[ChunkResult]:
        """Several chunks' results, classified together (`ClassifierFilter.many`: one set of
        batches for all their samples), each filtered on its own."""
        many = getattr(self.postprocess, "many", None)
        if many is not None:
            return many(list(results))
        return [self.postprocess(r) if len(r) else r for r in results]


def concat(results: list[ChunkResult], shape: tuple[int, int, int]) -> ChunkResult:
    """The results of a chunk's items, run one by one, as one chunk result (in item order)."""
    summary = FilterSummary()
    for r in results:
        summary.update(r.summary)
    full = [r for r in results if len(r)]
    if not full:
        return ChunkResult(
            np.zeros((0, *shape), np.uint8), {}, summary, sum(r.items for r in results)
        )
    meta = {k: np.concatenate([np.asarray(r.metadata[k]) for r in full]) for k in full[0].metadata}
    images = np.concatenate([r.images for r in full])
    return ChunkResult(images, meta, summary, sum(r.items for r in results))


@dataclass
class RayCluster:
    """A connection to Ray for one prepare job."""

    ray: Any
    cpus: int
    gpus: float
    started: bool  # this job started the Ray instance (and stops it when done)

    @classmethod
    def connect(cls, address: str | None = None) -> RayCluster:
        """Join the cluster at `address` ("auto": the one `ray start` runs on this machine), or
        start a new local Ray instance; reuse the one this process already joined."""
        ray = import_ray()
        started = False
        if address and address != "auto":
            check_address(address)
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address or "local",  # a new instance, even where `ray start` ran
                    include_dashboard=False if address is None else None,
                    logging_level=logging.WARNING,
                )
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"--ray-address {address}" if address else "a local Ray instance"
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                hint = "; a cluster with token authentication needs its RAY_AUTH_TOKEN here too"
                raise UserError(
                    f"{where}: cannot start or join Ray ({first}{hint if address else ''})"
                ) from None
            started = True
        resources = ray.cluster_resources()
        return cls(ray, max(1, int(resources.get("CPU", 1))), resources.get("GPU", 0), started)

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()

    def run(
        self,
        todo: list[tuple],
        postprocess: Callable[[ChunkResult], ChunkResult] | None,
        shape: tuple[int, int, int],
    ) -> Iterator[tuple[int, ChunkResult]]:
        """Run the chunks `todo` (the pipeline's (work, index, items, _) tuples) on the cluster;
        yield (index, result) as they finish, postprocessed when asked."""
        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_chunk_task)
        actor = None
        if postprocess is not None:
            gpu = self.gpus >= 1
            actor_cls = ray.remote(num_gpus=1 if gpu else 0, num_cpus=0 if gpu else 1)(_Postprocess)
            actor = actor_cls.options(max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)
            actor = actor.remote(postprocess)
        died = tuple(
            getattr(ray.exceptions, name)
            for name in ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError")
            if hasattr(ray.exceptions, name)
        )
        work = ray.put(todo[0][0]) if todo else None
        tasks: dict[Any, tuple] = {}  # a chunk's task -> (index, items, slot)
        calls: dict[Any, list[tuple]] = {}  # an actor call -> its tasks' (ref, index, items, slot)
        pieces: dict[int, list[ChunkResult | None]] = {}  # a split chunk's item results
        queue = iter(todo)
        limit = max(4, IN_FLIGHT_PER_CPU * self.cpus)

        def submit(index: int, items: list, slot: int | None = None) -> None:
            tasks[task.remote(work, items)] = (index, items, slot)

        def worker_died(task_ref: Any) -> bool:
            """Whether the chunk's task failed because its worker process died."""
            try:
                ray.get(task_ref)
            except died:
                return True
            except Exception:  # noqa: BLE001 - another failure: raised by the caller
                return False
            return False

        def deliver(index: int, items: list, slot: int | None, result) -> Iterator[tuple]:
            """A chunk's (or one of its items') result; None: its worker died every time."""
            if result is None:
                if slot is None and len(items) > 1:  # find the item that kills its worker
                    pieces[index] = [None] * len(items)
                    for j, item in enumerate(items):
                        submit(index, [item], j)
                    return
                summary = FilterSummary()
                for _ in items:
                    summary.skip(WORKER_DIED)
                result = ChunkResult(np.zeros((0, *shape), np.uint8), {}, summary, len(items))
            if slot is None:
                yield index, result
                return
            pieces[index][slot] = result
            if all(r is not None for r in pieces[index]):
                yield index, concat(pieces.pop(index), shape)

        try:
            while True:
                while len(tasks) + sum(map(len, calls.values())) < limit:
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    submit(nxt[1], nxt[2])
                if not tasks and not calls:
                    return
                (ref,), _ = ray.wait([*tasks, *calls], num_returns=1, fetch_local=False)
                if ref in tasks and actor is not None:
                    # finished chunks go to the actor together (one batch for the classifier);
                    # their samples move from the workers to it, not through here
                    done, _ = ray.wait(list(tasks), num_returns=len(tasks), timeout=0,
                                       fetch_local=False)  # fmt: skip
                    group = [ref, *(r for r in done if r != ref)][:ACTOR_BATCH_CHUNKS]
                    call = actor.run_many.remote(*group)
                    calls[call] = [(r, *tasks.pop(r)) for r in group]
                    continue
                if ref in tasks:
                    index, items, slot = tasks.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception:
                        if not worker_died(ref):
                            raise
                        result = None
                    yield from deliver(index, items, slot, result)
                    continue
                group = calls.pop(ref)
                try:
                    results = ray.get(ref)
                except Exception:
                    dead = [worker_died(g[0]) for g in group]
                    if not any(dead):
                        raise  # the actor's own failure
                    for g, d in zip(group, dead, strict=True):
                        if d:
                            yield from deliver(*g[1:], None)
                        else:  # classified again, without the dead one's
                            calls[actor.run_many.remote(g[0])] = [g]
                    continue
                for g, result in zip(group, results, strict=True):
                    yield from deliver(*g[1:], result)
        finally:
            for ref in [*tasks, *calls]:  # a stopped job leaves no work behind on the cluster
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
