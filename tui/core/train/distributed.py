"""Multi-process training under ``torchrun``: PyTorch's own DistributedDataParallel.

``torchrun --nproc-per-node N -m tui train SPEC --data DATA ...`` starts N processes
with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set;
:func:`from_env` reads them (None outside torchrun, or with one process) and
:func:`start` joins the process group: nccl on CUDA (``LOCAL_RANK`` picks the GPU),
gloo on the CPU.

How a run is shared (:class:`~tui.core.train.trainer.Trainer` with ``dist=``):

- ``--batch-size`` stays the global batch: each rank takes ``batch_size // world`` of
  it, and each epoch's permutation (the same on every rank: same seed) is dealt out
  ``perm[rank::world]``, cut to an equal share. So a run takes the same steps as on
  one process and reaches the same accuracy;
- gradients are averaged by DDP in ``backward``; losses are averaged over the ranks at
  each read-back, which comes every :data:`FLUSH_STEPS` steps (a count, not a time:
  every rank must reach each collective at the same step); a stop asked of any rank
  travels with it, so all stop at the same step;
- validation is sharded the same way and its sums added up; rank 0 decides when an
  epoch's end is due (its clock) and says so to the others;
- rank 0 alone writes the run directory (metrics averaged, checkpoints of the unwrapped
  module, ``world_size`` and ``backend`` in config.json); the other ranks write nothing;
- a rank that fails leaves its reason in the process group's store
  (:func:`record_failure`); rank 0, whose next collective then breaks, ends the run as
  failed with that rank named (:func:`failure_of_others`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist

__all__ = [
    "FLUSH_STEPS",
    "Dist",
    "failure_of_others",
    "from_env",
    "record_failure",
    "shard",
    "start",
    "stop",
]

FLUSH_STEPS = 32
"""Steps between two read-backs in a distributed run (one all-reduce each)."""
TIMEOUT_S = 120.0
"""A collective that waits longer than this for a peer fails (a peer that hangs)."""
_FAILURE_KEY = "dltui/failure"


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job."""

    rank: int
    world: int
    local_rank: int
    backend: str = ""

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the run directory and prints."""
        return self.rank == 0


def from_env() -> Dist | None:
    """The job torchrun started this process in, or None (not under torchrun, or one
    process: a plain run)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return None
    if world <= 1:
        return None
    return Dist(rank=rank, world=world, local_rank=local)


def start(dist: Dist, device: str) -> tuple[Dist, str]:
    """Join the process group; returns the job with its backend and this rank's device
    (``cuda`` becomes ``cuda:LOCAL_RANK``)."""
    cuda = device.split(":")[0] == "cuda"
    if cuda:
        device = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(dist.local_rank)
    backend = "nccl" if cuda else "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(
            backend, timeout=datetime.timedelta(seconds=TIMEOUT_S), init_method="env://"
        )
    return Dist(dist.rank, dist.world, dist.local_rank, backend), device


def stop() -> None:
    """Leave the process group (a broken one too)."""
    if tdist.is_available() and tdist.is_initialized():
        with contextlib.suppress(Exception):
            tdist.destroy_process_group()


def shard(order: torch.Tensor, dist: Dist, equal: bool = True) -> torch.Tensor:
    """This rank's share of ``order``; with ``equal``, cut so every rank has as many."""
    part = order[dist.rank :: dist.world]
    if equal:
        part = part[: order.shape[0] // dist.world]
    return part


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over the ranks (in place, returned)."""
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return t


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag``, on every rank."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    tdist.broadcast(t, src=0)
    return bool(t.item() > 0)


def _store() -> Any:
    try:
        from torch.distributed.distributed_c10d import _get_default_store

        return _get_default_store()
    except Exception:  # no group, or a torch without it: the rank goes unnamed
        return None


def record_failure(dist: Dist, message: str) -> None:
    """Leave this rank's failure where rank 0 can read it."""
    store = _store()
    if store is not None:
        with contextlib.suppress(Exception):
            store.set(_FAILURE_KEY, f"rank {dist.rank}: {message}")


def failure_of_others() -> str | None:
    """What another rank recorded, if it did (checked without waiting)."""
    store = _store()
    if store is None:
        return None
    try:
        if not store.check([_FAILURE_KEY]):
            return None
        return store.get(_FAILURE_KEY).decode("utf-8", "replace")
    except Exception:
        return None


def maybe_inject_failure(dist: Dist, loss_fn: Any) -> Any:
    """Test hook: ``DLTUI_TEST_FAIL_RANK=R:S`` makes rank R fail at its step S, so the
    tests can show a failure on a rank other than 0 (unset, ``loss_fn`` as it is)."""
    spec = os.environ.get("DLTUI_TEST_FAIL_RANK", "")
    rank, _, step = spec.partition(":")
    if not spec or not rank.isdigit() or int(rank) != dist.rank:
        return loss_fn
    calls = {"n": 0}
    at = int(step) if step.isdigit() else 1

    def failing(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] >= at:
            raise RuntimeError(f"injected failure at step {calls['n']}")
        return loss_fn(out, y)

    return failing
