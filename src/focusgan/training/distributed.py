"""Multi-process training with `torchrun` (one process per GPU, or several on CPU with gloo).

Gradients are averaged by hand after each backward (one flattened all-reduce per model), as
stylegan2-ada-pytorch does, instead of wrapping models in DistributedDataParallel: the critic
runs several forwards per step (real+fake, the gradient-penalty points), which DDP's hooks do
not expect. Without `torchrun` everything here is a no-op with rank 0 of 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from focusgan.utils.device import resolve_device


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init(device: str) -> tuple[Dist, torch.device]:
    """Join the process group when started by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if world == 1:
        return Dist(), resolve_device(device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(
            "nccl" if want_cuda else "gloo", device_id=dev if want_cuda else None
        )
    return Dist(rank, world, local), dev


def average_gradients(module: nn.Module, d: Dist) -> None:
    """Average the gradients of `module`'s parameters over all processes."""
    if d.world == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= d.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_processes(flags: torch.Tensor, d: Dist) -> list[bool]:
    """Whether each of `flags` holds in every process (one all-reduce of their minimum), so that
    all processes take the same branch: one process stopping alone would leave the others
    waiting in their next collective."""
    flags = flags.to(torch.int32)
    if d.world > 1:
        dist.all_reduce(flags, op=dist.ReduceOp.MIN)
    return [bool(f) for f in flags.tolist()]


def any_process(flag: bool, d: Dist, device: torch.device) -> bool:
    """Whether `flag` holds in some process (the same answer in every process)."""
    return not all_processes(torch.tensor([not flag], device=device), d)[0]


def gather_objects(obj: object, d: Dist) -> list:
    """Every process's `obj`, in rank order (a list of one without torchrun)."""
    if d.world == 1:
        return [obj]
    out: list = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def shutdown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
