"""Batches for the training loop: index a dataset, slice it, move it to the device.

Tensor-backed data (a ``TensorDataset``, or ``Subset`` views of one, as
``DataBundle.split`` makes) is sliced directly: no per-sample Python and no collate, which
is most of a small model's step time. Any other Dataset is read by a DataLoader
(:mod:`tui.core.train.loader`, worker processes when asked for), and an error still names
the index that raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset, Subset, TensorDataset, default_collate

from tui.core.train.data.bundle import DataError, fetch_sample

if TYPE_CHECKING:
    from tui.core.train.loader import SampleLoader

__all__ = ["Batches", "batch_bounds", "eval_batch_bounds", "training_dtypes"]


def training_dtypes(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 inputs and float targets become float32, as the layers' weights are (and
    MPS has no float64 at all); integer ids and labels are kept."""
    if x.dtype == torch.float64:
        x = x.float()
    if y.dtype == torch.float64:
        y = y.float()
    return x, y


def _tensor_pair(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (inputs, targets) tensors behind a TensorDataset or Subsets of one, else None."""
    if isinstance(ds, TensorDataset) and len(ds.tensors) == 2:
        return ds.tensors[0], ds.tensors[1]
    if isinstance(ds, Subset):
        inner = _tensor_pair(ds.dataset)
        if inner is not None:
            idx = torch.as_tensor(list(ds.indices), dtype=torch.int64)
            return inner[0][idx], inner[1][idx]
    return None


class Batches:
    """Batches by index. Tensor-backed data is moved to an accelerator once, when it
    fits comfortably; otherwise each batch is copied as it is used."""

    _DEVICE_COPY_LIMIT = 1 << 30

    def __init__(
        self,
        dataset: Dataset,
        device: torch.device,
        check_batch: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
        workers: int = 0,
    ) -> None:
        self.dataset = dataset
        self.device = device
        self.workers = workers  # DataLoader worker processes for a non-tensor Dataset
        self.loader: SampleLoader | None = None
        # Called on each batch read sample by sample (tensor-backed data is checked whole,
        # once, before the first step: see tui.core.train.ranges).
        self.check_batch = check_batch
        self.tensors = _tensor_pair(dataset)
        if self.tensors is not None:
            self.tensors = training_dtypes(*self.tensors)
        if self.tensors is not None and device.type != "cpu":
            x, y = self.tensors
            if (
                x.numel() * x.element_size() + y.numel() * y.element_size()
                < self._DEVICE_COPY_LIMIT
            ):
                self.tensors = (x.to(device), y.to(device))
        self.n = len(dataset)  # type: ignore[arg-type]
        # Index tensors live where the data does, so slicing needs no copy per batch.
        self.index_device = (
            self.tensors[0].device if self.tensors is not None else torch.device("cpu")
        )

    def epoch(
        self, order: torch.Tensor, bounds: Sequence[tuple[int, int]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches ``order[lo:hi]`` for each of ``bounds``, on the device, in order.
        Tensor data is sliced here; any other Dataset is read by a DataLoader
        (:mod:`tui.core.train.loader`: worker processes when ``workers > 0``)."""
        if self.tensors is not None:
            for lo, hi in bounds:
                yield self.get(order[lo:hi])
            return
        if self.loader is None:
            from tui.core.train.loader import SampleLoader

            self.loader = SampleLoader(
                self.dataset, self.workers, pin_memory=self.device.type == "cuda"
            )
        lists = [order[lo:hi].tolist() for lo, hi in bounds]
        for x, y in self.loader.epoch(lists):
            x, y = training_dtypes(x, y)
            if self.check_batch is not None:
                self.check_batch(x, y)  # on the host, before the device sees them
            yield self._to_device(x, y)

    def close(self) -> None:
        """Stop the DataLoader's worker processes, if any."""
        if self.loader is not None:
            self.loader.close()
            self.loader = None

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tensors is not None:
            x, y = self.tensors
            if x.device != idx.device:
                idx = idx.to(x.device)
            x, y = x[idx], y[idx]
        else:
            samples = [fetch_sample(self.dataset, i) for i in idx.tolist()]
            try:
                x, y = default_collate(samples)
            except (RuntimeError, TypeError) as exc:
                raise DataError(
                    f"samples cannot be batched (do they differ in shape?): {exc}"
                ) from None
            x, y = training_dtypes(torch.as_tensor(x), torch.as_tensor(y))
            if self.check_batch is not None:
                self.check_batch(x, y)  # on the host, before the device sees them
        return self._to_device(x, y)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.device == self.device and y.device == self.device:
            return x, y  # tensor data already there: two calls a step saved (tiny models)
        if self.device.type != "cuda" or x.device.type == "cuda":
            return x.to(self.device), y.to(self.device)
        # Host to GPU: a non_blocking copy overlaps only from pinned memory (from pageable
        # memory it is a synchronous copy that also blocks the host).
        return (
            x.pin_memory().to(self.device, non_blocking=True),
            y.pin_memory().to(self.device, non_blocking=True),
        )


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each training batch."""
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    # A last batch of one sample breaks BatchNorm in training mode ("Expected more than
    # 1 value per channel"); dropping it costs one sample per epoch.
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds.pop()
    return bounds


def eval_batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each validation batch."""
    # Validation keeps every sample (eval mode has no one-sample BatchNorm problem).
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
