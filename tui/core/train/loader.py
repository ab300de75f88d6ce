"""Batches of a Dataset that is not tensor-backed, read by ``torch.utils.data.DataLoader``.

A REPL Dataset or files read lazily cost a Python call per sample: with ``workers > 0``
the samples are read by DataLoader worker processes (persistent across epochs), batched
there and, on CUDA, copied from pinned memory with ``non_blocking``. The trainer keeps
its own shuffling (one permutation per epoch from its seeded generator, so ``--resume``
redraws it and skips the batches done): :class:`EpochBatches` hands the DataLoader that
epoch's index lists.

A sample that raises, or samples that cannot be batched, must still name the index: a
worker's exception reaches the main process re-wrapped by the DataLoader, without its
type's fields. So the worker catches it and returns a :class:`_Failure` in place of the
batch, and the main process raises the engine's own :class:`SampleError` / DataError.

``workers=0`` reads in the training thread (the same loader, no processes), as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from tui.core.train.data.bundle import DataError, SampleError, fetch_sample

__all__ = ["EpochBatches", "SampleLoader", "default_workers"]


def default_workers() -> int:
    """DataLoader workers for a run: the cores beyond two (one for training, one for the
    UI), at most 8; 0 (read in the training thread) on a small machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, min(8, cores - 2))


@dataclass(frozen=True)
class _Failure:
    """What went wrong in a worker, sent back instead of a batch."""

    index: int | None  # the sample that raised, None when batching failed
    kind: str
    message: str


class _Checked(Dataset):
    """The user's Dataset, each sample read as ``(input, target)`` or a failure."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        try:
            return fetch_sample(self.dataset, index)
        except SampleError as exc:
            return _Failure(index, type(exc.original).__name__, str(exc.original))
        except DataError as exc:
            return _Failure(index, "DataError", str(exc))


def _collate(samples: list[Any]) -> Any:
    bad = next((s for s in samples if isinstance(s, _Failure)), None)
    if bad is not None:
        return bad
    try:
        x, y = default_collate(samples)
    except (RuntimeError, TypeError) as exc:
        return _Failure(None, type(exc).__name__, str(exc))
    return torch.as_tensor(x), torch.as_tensor(y)


class EpochBatches(Sampler[list[int]]):
    """The index lists of the current epoch (set before each); iterated by the
    DataLoader in the main process, so persistent workers see each new epoch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class SampleLoader:
    """A DataLoader over ``dataset`` that yields ``(x, y)`` host tensors per batch."""

    def __init__(self, dataset: Dataset, workers: int, pin_memory: bool) -> None:
        self.sampler = EpochBatches()
        self.workers = workers
        self.loader = DataLoader(
            _Checked(dataset),
            batch_sampler=self.sampler,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            # Seeded: the workers' own random states (a Dataset that augments at
            # random) are the same run to run.
            generator=torch.Generator().manual_seed(0),
        )

    def epoch(
        self, batches: Sequence[Sequence[int]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``batches`` (index lists), in order."""
        self.sampler.batches = [list(b) for b in batches]
        try:
            iterator = iter(self.loader)
        except Exception as exc:  # workers that cannot start (a Dataset spawn cannot send)
            raise DataError(
                f"the DataLoader's {self.workers} worker processes could not start "
                f"({type(exc).__name__}: {exc}): train with workers 0"
            ) from None
        for item in iterator:
            if isinstance(item, _Failure):
                if item.index is None:
                    raise DataError(
                        f"samples cannot be batched (do they differ in shape?): {item.message}"
                    )
                # The worker's exception by its own type's name (the object stayed there).
                raised = type(item.kind, (Exception,), {})(item.message)
                raise SampleError(item.index, raised)
            yield item

    def close(self) -> None:
        """Stop the workers (persistent ones outlive an epoch)."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self.loader._iterator = None  # type: ignore[attr-defined]
