"""torch.distributed for the bundle's jobs: one process per device under ``torchrun``, nothing home-made.

``torchrun --nproc_per_node=N -m monai.bundle run --config_file "['configs/inference.json',
'configs/multi_gpu_inference.json']"`` starts N processes with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set.
The ``multi_gpu_*.json`` overlays call :func:`init_distributed` in their ``initialize`` step and
:func:`finish_distributed` in ``finalize``. Code that must behave differently under several processes (shard a
case list, write only on rank 0) asks :func:`current_ranks`. Outside torchrun that is one process of rank 0,
so the same code serves both.

Backends: NCCL on CUDA, gloo on CPU (what CPU tests run with ``--nproc_per_node=2``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "Ranks",
    "current_ranks",
    "init_distributed",
    "finish_distributed",
    "local_device",
    "gather_to_main",
    "broadcast_from_main",
    "barrier",
]

#: collectives wait this long for the slowest rank: a shard of a hospital archive can take hours, and a rank that
#: dies is noticed by torchrun, which stops the others, not by this timeout
COLLECTIVE_TIMEOUT = timedelta(hours=12)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: ``rank`` of ``world_size`` processes; ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes shared files (summaries, checkpoints, MLflow rows)."""
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's share of ``items``: every ``world_size``-th item from index ``rank`` (balanced when the
        items cost about the same; the order within the shard is the list's)."""
        return list(items[self.rank :: self.world_size])


def current_ranks() -> Ranks:
    """This process's :class:`Ranks`: from the process group when one is initialised, else one process."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Ranks()


def local_device() -> torch.device:
    """The device of this process: ``cuda:<LOCAL_RANK>`` when CUDA is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def init_distributed(backend: str | None = None) -> Ranks:
    """Join the process group torchrun describes in the environment: a no-op outside torchrun (no ``RANK`` and
    ``MASTER_ADDR``) or when already joined. Under torchrun the group is made even for one process, so that a
    DistributedDataParallel model works with ``--nproc_per_node=1`` too. Backend: NCCL with CUDA, gloo without;
    CUDA processes are pinned to their local device.

    Raises:
        ValueError: ``backend`` is not ``nccl`` or ``gloo``, or NCCL is asked for without CUDA.
    """
    if backend is not None and backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl' or 'gloo', got {backend!r}")
    if not ("RANK" in os.environ and "MASTER_ADDR" in os.environ) or dist.is_initialized():
        return current_ranks()
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    if backend == "nccl" and not cuda:
        raise ValueError("the nccl backend needs CUDA; use gloo on the CPU")
    if cuda:
        torch.cuda.set_device(local_device())
    dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
    return current_ranks()


def finish_distributed() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gather_to_main(value: Any) -> list | None:
    """Every rank's ``value`` (picklable), in rank order, on rank 0; None on the others. One process: [value]."""
    ranks = current_ranks()
    if ranks.world_size == 1:
        return [value]
    out = [None] * ranks.world_size if ranks.is_main else None
    dist.gather_object(value, out, dst=0)
    return out


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (picklable)."""
    if current_ranks().world_size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if current_ranks().world_size > 1:
        dist.barrier()
