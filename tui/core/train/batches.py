"""Batches for the training loop: index a dataset, slice it, move it to the device.

Tensor-backed data (a ``TensorDataset``, or ``Subset`` views of one, as
``DataBundle.split`` makes) is sliced directly: no per-sample Python and no collate, which
is most of a small model's step time. Any other Dataset is read sample by sample, so an
error names the index that raised.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset, TensorDataset, default_collate

from tui.core.train.data.bundle import DataError, fetch_sample

__all__ = ["Batches", "batch_bounds", "eval_batch_bounds"]


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

    def __init__(self, dataset: Dataset, device: torch.device) -> None:
        self.dataset = dataset
        self.device = device
        self.tensors = _tensor_pair(dataset)
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
            x, y = torch.as_tensor(x), torch.as_tensor(y)
            if x.dtype == torch.float64:
                x = x.float()
        non_blocking = self.device.type == "cuda"
        return x.to(self.device, non_blocking=non_blocking), y.to(
            self.device, non_blocking=non_blocking
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
